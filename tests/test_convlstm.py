"""The ConvLSTM Seq2Seq: shapes, structure, feedback, scheduled sampling, bf16 on the CPU, and a
short training on generated moving squares through the real trainer (metrics and samples)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from vidpred.perf.bench import synthetic_splits
from vidpred.errors import ConfigError
from vidpred.models import build_model
from vidpred.models.convlstm import ConvLSTMCell, Seq2SeqConvLSTM
from vidpred.plots import GIF_HEADER, save_samples
from vidpred.training.accel import accelerate, to_channels_last
from vidpred.training.precision import Precision
from vidpred.training.settings import LoaderConfig, OptimConfig, TrainerConfig
from vidpred.training.trainer import Trainer


@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_range_and_depth(layers: int, channels: int) -> None:
    model = build_model("convlstm", "video", (channels, 16, 12), {"layers": layers, "hidden": 8})
    out = model(torch.rand(2, 5, channels, 16, 12), horizon=3)
    assert out.shape == (2, 3, channels, 16, 12)
    assert out.min() > 0 and out.max() < 1  # sigmoid head: frames live in [0, 1]
    assert len(model.encoder) == layers and len(model.decoder) == layers
    # the four gates come from ONE convolution over [input, h]; upper layers take h
    for k, cell in enumerate(model.encoder):
        assert isinstance(cell, ConvLSTMCell)
        convs = [m for m in cell.modules() if isinstance(m, nn.Conv2d)]
        assert len(convs) == 1 and convs[0].out_channels == 4 * 8
        assert convs[0].in_channels == (channels if k == 0 else 8) + 8
    assert isinstance(model.head, nn.Conv3d) and model.head.kernel_size == (3, 3, 3)


@pytest.mark.parametrize("patch_size", [1, 2, 4])
def test_patch_size_folds_pixels_into_channels(patch_size: int) -> None:
    model = Seq2SeqConvLSTM((3, 16, 16), layers=1, hidden=4, patch_size=patch_size)
    assert model.encoder[0].conv.in_channels == 3 * patch_size ** 2 + 4
    context = torch.rand(2, 4, 3, 16, 16)
    assert model(context, 2).shape == (2, 2, 3, 16, 16)
    # folding is lossless: unfold(fold(x)) == x
    torch.testing.assert_close(model._unfold(model._fold(context)), context)


@pytest.mark.parametrize("params, fragment", [
    ({"patch_size": 3}, "patch_size=3 must divide"),
    ({"kernel_size": 4}, "kernel_size must be odd"),
    ({"teacher_forcing": 1.5}, "teacher_forcing must be in [0, 1]"),
    ({"hidden": 0}, "hidden must be at least 1"),
])
def test_bad_settings_are_config_errors(params: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        build_model("convlstm", "video", (1, 16, 16), {"layers": 1, **params})


def test_refuses_sequences_naming_the_models_that_fit() -> None:
    with pytest.raises(ConfigError, match="model=convlstm works on video"):
        build_model("convlstm", "sequence", (1,), {"layers": 1})


def test_decoder_feeds_back_its_predictions_causally() -> None:
    torch.manual_seed(0)
    model = Seq2SeqConvLSTM((1, 12, 12), layers=2, hidden=6)
    context = torch.rand(2, 4, 1, 12, 12)
    full = model(context, horizon=5)
    # the head never looks ahead: decoding 2 steps gives the first 2 of 5
    torch.testing.assert_close(model(context, horizon=2), full[:, :2])
    assert not torch.allclose(model(context.flip(1), horizon=5), full)
    # the first prediction depends on the last context frame (the decoder's first input)
    changed = context.clone()
    changed[:, -1] = 1 - changed[:, -1]
    assert not torch.allclose(model(changed, horizon=1), full[:, :1])


def test_the_head_is_a_causal_3d_convolution_over_the_top_decoder_states() -> None:
    """The head runs as 2-D convolutions with the time slices of its kernel: the same numbers as the
    3-D convolution (kernel 3) over each step's window of the last three top states, zeros first."""
    torch.manual_seed(0)
    model = Seq2SeqConvLSTM((2, 16, 16), layers=2, hidden=6, patch_size=2)
    tops: list[torch.Tensor] = []
    model.decoder[-1].register_forward_hook(lambda module, args, out: tops.append(out[0]))
    with torch.no_grad():
        out = model(torch.rand(3, 4, 2, 16, 16), 5)
        window, expected = [torch.zeros_like(tops[0])] * 2, []
        for state in tops:
            window = [*window[-2:], state]
            expected.append(torch.sigmoid(model.head(torch.stack(window, dim=2)).squeeze(2)))
    assert len(tops) == 5
    torch.testing.assert_close(out, model._unfold(torch.stack(expected, dim=1)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("with_state", [True, False])
def test_the_cpu_cell_update_has_autograds_gradients(with_state: bool) -> None:
    """CellUpdate (the CPU path's written-out backward, candidate rows doubled) against autograd through
    the plain equations, in float64 to finite differences, and the whole model against the textbook
    twin (two convolutions per cell, autograd): predictions and every gradient."""
    from vidpred.models.convlstm import CellUpdate
    from vidpred.perf.reference import TextbookSeq2SeqConvLSTM

    torch.manual_seed(0)
    gates = torch.randn(2, 12, 3, 3, dtype=torch.double, requires_grad=True)
    c = torch.randn(2, 3, 3, 3, dtype=torch.double, requires_grad=True) if with_state else None
    assert torch.autograd.gradcheck(CellUpdate.apply, (gates, c))
    i, f, g, o = gates.chunk(4, dim=1)
    update = torch.sigmoid(i) * torch.tanh(g / 2)
    c_new = update if c is None else torch.sigmoid(f) * c + update
    for got, expected in zip(CellUpdate.apply(gates, c), (torch.sigmoid(o) * torch.tanh(c_new), c_new)):
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)

    shape = dict(frame_shape=(2, 8, 8), layers=2, hidden=3, kernel_size=3, patch_size=2)
    model, textbook = Seq2SeqConvLSTM(**shape), TextbookSeq2SeqConvLSTM(**shape)
    for side in ("encoder", "decoder"):
        for ours, theirs in zip(getattr(model, side), getattr(textbook, side)):
            split = theirs.conv_x.in_channels
            with torch.no_grad():
                theirs.conv_x.weight.copy_(ours.conv.weight[:, :split])
                theirs.conv_h.weight.copy_(ours.conv.weight[:, split:])
                theirs.conv_x.bias.copy_(ours.conv.bias)
    textbook.head.load_state_dict(model.head.state_dict())
    context, target = torch.rand(2, 4, 2, 8, 8), torch.rand(2, 3, 2, 8, 8)
    losses = [((m(context, 3) - target) ** 2).sum() for m in (model, textbook)]
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-5, atol=1e-6)
    ours, theirs = ({name: grad for (name, _), grad in zip(m.named_parameters(), torch.autograd.grad(loss, list(m.parameters())))}
                    for loss, m in zip(losses, (model, textbook)))
    for side in ("encoder", "decoder"):
        for k in range(2):
            torch.testing.assert_close(ours[f"{side}.{k}.conv.weight"],
                                       torch.cat([theirs[f"{side}.{k}.conv_x.weight"], theirs[f"{side}.{k}.conv_h.weight"]],
                                                 dim=1), rtol=1e-4, atol=1e-6)
            torch.testing.assert_close(ours[f"{side}.{k}.conv.bias"], theirs[f"{side}.{k}.conv_x.bias"],
                                       rtol=1e-4, atol=1e-6)
    for name in ("head.weight", "head.bias"):
        torch.testing.assert_close(ours[name], theirs[name], rtol=1e-4, atol=1e-6)


def test_scheduled_sampling_in_training_only_and_decays() -> None:
    torch.manual_seed(0)
    model = Seq2SeqConvLSTM((1, 12, 12), layers=1, hidden=4, teacher_forcing=1.0,
                            teacher_forcing_decay_steps=2)
    context, target = torch.rand(3, 4, 1, 12, 12), torch.rand(3, 3, 1, 12, 12)
    model.eval()
    torch.testing.assert_close(model(context, 3, target=target), model(context, 3))
    assert model.sampling_step.item() == 0
    model.train()
    free = model(context, 3)
    forced = model(context, 3, target=target)  # probability 1 at step 0: truth fed back
    assert not torch.allclose(forced, free)
    torch.testing.assert_close(forced[:, 0], free[:, 0])  # the first step has no truth to use
    model(context, 3, target=target)
    # after 2 training passes the probability has decayed to 0: the model feeds back its own frames
    assert model.sampling_step.item() == 2
    torch.testing.assert_close(model(context, 3, target=target), free)
    assert "sampling_step" in model.state_dict()  # a resumed run continues the schedule


def test_bf16_autocast_on_the_cpu_trains_and_keeps_float32_weights() -> None:
    torch.manual_seed(0)
    data = synthetic_splits("video", (1, 16, 16), context=4, horizon=3, sizes=(8, 4, 4))
    model = Seq2SeqConvLSTM((1, 16, 16), layers=2, hidden=8)
    seen: list[torch.dtype] = []
    conv2d = torch.nn.functional.conv2d

    def watched(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - every gate convolution, seen from outside
        out = conv2d(*args, **kwargs)
        seen.append(out.dtype)
        return out

    trainer = Trainer(model, data, Path("unused"), TrainerConfig(progress="off"), OptimConfig(),
                      LoaderConfig(batch_size=4), Precision.create("bf16", torch.device("cpu")), seed=0)
    before = model.head.weight.detach().clone()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.nn.functional, "conv2d", watched)
        loss = trainer.train_step(torch.stack([data.train[i] for i in range(4)]))
    assert torch.isfinite(torch.tensor(loss)) and loss > 0
    assert seen and all(d == torch.bfloat16 for d in seen)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert not torch.equal(model.head.weight, before)


def test_cpu_path_is_exact_float32_and_untouched_layout() -> None:
    model = Seq2SeqConvLSTM((1, 16, 16), layers=1, hidden=4)
    accelerate(model, torch.device("cpu"), video=True, channels_last=True, compile_model=False)
    assert model.encoder[0].conv.weight.is_contiguous()  # channels-last is for CUDA only
    # the converter itself: 4-D weights NHWC, 5-D weights NDHWC, same values
    reference = model.head.weight.detach().clone()
    to_channels_last(model)
    assert model.encoder[0].conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert model.head.weight.is_contiguous(memory_format=torch.channels_last_3d)
    torch.testing.assert_close(model.head.weight, reference, rtol=0, atol=0)


@pytest.mark.parametrize("key, value", [("compile", "fastest"), ("compile", 1), ("channels_last", "yes")])
def test_bad_trainer_speed_settings_are_config_errors(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"trainer.{key} must be"):
        TrainerConfig(**{key: value})


def test_training_on_moving_squares_reports_video_metrics_and_samples(tmp_path: Path) -> None:
    torch.manual_seed(0)
    data = synthetic_splits("video", (3, 16, 16), context=4, horizon=4, sizes=(64, 8, 12))
    model = Seq2SeqConvLSTM((3, 16, 16), layers=1, hidden=12)
    trainer = Trainer(model, data, tmp_path, TrainerConfig(max_epochs=3, progress="off"),
                      OptimConfig(lr=1e-2), LoaderConfig(batch_size=8),
                      Precision.create("32", torch.device("cpu")), seed=0)
    before = trainer.evaluate("test")
    summary = trainer.fit()
    after = trainer.evaluate("test")
    assert summary.steps == 3 * 8
    assert after["mse"] < 0.5 * before["mse"]
    assert after["psnr"] > before["psnr"] and after["ssim"] > before["ssim"]
    for metrics in (before, after):
        assert metrics["mse_frame"] == pytest.approx(3 * 16 * 16 * metrics["mse"], rel=1e-12)
        for key in ("mse_per_step", "psnr_per_step", "ssim_per_step"):
            assert len(metrics[key]) == 4

    files = save_samples(trainer, data, tmp_path / "samples", title="convlstm, squares")
    pngs = [f for f in files if f.suffix == ".png"]
    gif = tmp_path / "samples" / "predictions.gif"
    assert len(pngs) == 4 and gif in files and all(f.stat().st_size > 0 for f in files)
    with Image.open(gif) as animation:
        assert animation.n_frames == data.length  # context then predicted steps
        # under the header, one row per item (4) and three columns (truth | prediction | difference) of
        # frames with a 2-pixel border, drawn twice their size
        height, width = data.frame_shape[-2:]
        assert animation.size[1] == GIF_HEADER + 4 * (height + 4) * 2
        assert animation.size[0] >= 3 * (width + 4) * 2
    assert not list((tmp_path / "samples").glob(".*tmp"))  # written atomically
