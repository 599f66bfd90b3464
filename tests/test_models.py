"""Models: shapes, fused kernels, baselines' exact values, the linear baseline on sines."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vidpred.data import build_data
from vidpred.errors import ConfigError
from vidpred.models import MODELS, build_model
from vidpred.models.lstm import Seq2SeqLSTM


@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("channels", [1, 3])
def test_lstm_shapes_and_depth(layers: int, channels: int) -> None:
    model = build_model("lstm", "sequence", (channels,), {"layers": layers, "hidden": 16})
    out = model(torch.rand(5, 12, channels), horizon=7)
    assert out.shape == (5, 7, channels)
    # fused multi-layer kernels, not per-gate loops
    assert isinstance(model.encoder, nn.LSTM) and model.encoder.num_layers == layers
    assert isinstance(model.decoder, nn.LSTM) and model.decoder.num_layers == layers


def test_lstm_decoder_feeds_back_its_predictions() -> None:
    torch.manual_seed(0)
    model = Seq2SeqLSTM((1,), layers=1, hidden=8)
    context = torch.rand(2, 5, 1)
    full = model(context, horizon=4)
    # decoding 2 steps gives the first 2 of 4: each step depends only on what came before
    torch.testing.assert_close(model(context, horizon=2), full[:, :2])
    # and the prediction depends on the context
    assert not torch.allclose(model(context.flip(1), horizon=4), full)


def test_teacher_forcing_uses_the_target_only_in_training() -> None:
    torch.manual_seed(0)
    model = Seq2SeqLSTM((1,), layers=1, hidden=8, teacher_forcing=1.0)
    context, target = torch.rand(3, 5, 1), torch.rand(3, 4, 1)
    model.eval()
    torch.testing.assert_close(model(context, 4, target=target), model(context, 4))
    model.train()
    assert not torch.allclose(model(context, 4, target=target), model(context, 4))


def test_last_and_mean_baselines_are_exact() -> None:
    context = torch.arange(24, dtype=torch.float32).view(2, 4, 3)
    last = build_model("last", "sequence", (3,), {"layers": 1})(context, horizon=5)
    mean = build_model("mean", "video", (3,), {"layers": 1})(context, horizon=5)
    torch.testing.assert_close(last, context[:, -1:].repeat(1, 5, 1))
    torch.testing.assert_close(mean, context.mean(dim=1, keepdim=True).repeat(1, 5, 1))


def test_linear_baseline_is_near_exact_on_sines() -> None:
    params = dict(context=20, horizon=20, train_size=4000, val_size=10, test_size=500,
                  seeds={"train": 1, "val": 2, "test": 3})
    data = build_data("sins", params, "unused")
    model = build_model("linear", "sequence", (1,), {"layers": 1})
    model.fit([torch.from_numpy(data.train.array[i:i + 500]) for i in range(0, 4000, 500)], context=20)
    test = torch.from_numpy(data.test.array)
    prediction = model(test[:, :20], horizon=20)
    mse = torch.mean((prediction - test[:, 20:]) ** 2).item()
    last_mse = torch.mean((test[:, 19:20] - test[:, 20:]) ** 2).item()
    assert mse < 1e-3          # the study's LSTM reached 4.95e-4
    assert mse < last_mse / 100


def test_wrong_kind_and_bad_values_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="model=lstm works on sequence data"):
        build_model("lstm", "video", (1, 8, 8), {"layers": 1})
    with pytest.raises(ConfigError, match="layers must be between 1 and 8"):
        build_model("lstm", "sequence", (1,), {"layers": 0})
    with pytest.raises(ConfigError, match="model.hidden"):
        build_model("lstm", "sequence", (1,), {"layers": 1, "hidden": 0})
    with pytest.raises(ConfigError, match="unknown model 'gru'"):
        build_model("gru", "sequence", (1,), {"layers": 1})
    with pytest.raises(ConfigError, match="was not fitted"):
        build_model("linear", "sequence", (1,), {"layers": 1})(torch.rand(1, 3, 1), 2)


def test_every_model_declares_its_kinds() -> None:
    for name, cls in MODELS.items():
        assert set(cls.kinds) <= {"sequence", "video"} and cls.kinds, name


def test_linear_fit_keeps_the_weights_on_the_models_device() -> None:
    model = build_model("linear", "sequence", (1,), {"layers": 1}).to("meta")
    model.fit([torch.rand(64, 10, 1, dtype=torch.float32)], context=6)
    assert model.weight.device.type == "meta" and model.bias.device.type == "meta"
