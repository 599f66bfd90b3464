"""The comparison set: PredRNN-v2 and SimVP (gSTA, TAU) against their published sizes, their
mechanisms (zigzag memory, memory decoupling, reverse scheduled sampling, block roll-outs, the skip
connection), TAU's differential divergence loss, and that they learn moving shapes on the CPU."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from helpers.config import compose_config
from vidpred.config import to_plain
from vidpred.data.base import ArrayDataset, DataSplits
from vidpred.errors import ConfigError
from vidpred.models import MODELS, build_model
from vidpred.models.base import count_parameters
from vidpred.models.predrnn import PredRNNv2, SpatioTemporalLSTMCell
from vidpred.models.simvp import SimVP, TemporalAttention, GatedAttention
from vidpred.training.losses import LossConfig, differential_divergence
from vidpred.training.precision import Precision
from vidpred.training.settings import LoaderConfig, OptimConfig, TrainerConfig
from vidpred.training.trainer import Trainer

MMNIST = (1, 64, 64)


def configured(overrides: list[str]) -> tuple[str, dict]:
    """The model name and parameters ``python -m vidpred.run OVERRIDES`` would build."""
    params = to_plain(compose_config(overrides).model)
    return params.pop("name"), params


# ---------------------------------------------------------------- the published architectures
# OpenSTL's Moving MNIST model zoo, 10 -> 10 frames of 1 x 64 x 64: parameters and GMACs per item
PUBLISHED = {
    "predrnn": (["model=predrnn", "layers=4"], 23.9e6, 116.6e9),
    "simvp-gsta": (["model=simvp"], 46.8e6, 16.5e9),
    "simvp-tau": (["model=simvp", "model.translator=tau"], 44.7e6, 16.0e9),
}


@pytest.mark.parametrize("case", sorted(PUBLISHED))
def test_the_config_defaults_are_the_published_models(case: str) -> None:
    overrides, params, macs = PUBLISHED[case]
    name, settings = configured(["data=mnist", *overrides])
    with torch.device("meta"):  # sizes and counts only: no weights drawn
        model = build_model(name, "video", MMNIST, settings)
    assert count_parameters(model) == pytest.approx(params, rel=0.01)
    assert model.macs_per_sample(MMNIST, 10, 10) == pytest.approx(macs, rel=0.05)


def test_macs_count_a_multiply_add_once() -> None:
    """One 3 x 3 convolution of 2 -> 5 channels on 8 x 8 and a linear map 7 -> 3: multiply-adds by
    hand, half of torch's FLOP count of the same pass."""

    class Tiny(MODELS["last"]):
        def __init__(self) -> None:
            super().__init__((2, 8, 8), 1)
            self.conv = torch.nn.Conv2d(2, 5, 3, padding=1)
            self.linear = torch.nn.Linear(7, 3)

        def forward(self, context, horizon, target=None):  # noqa: ANN001, ANN201
            return self.conv(context[:, -1])[:, None] + self.linear(torch.zeros(1, 7, device=context.device)).sum()

    by_hand = 8 * 8 * 5 * 2 * 9 + 7 * 3
    assert Tiny().macs_per_sample((2, 8, 8), 4, 1) == by_hand
    with FlopCounterMode(display=False) as counter:
        Tiny()(torch.rand(1, 4, 2, 8, 8), 1)
    assert counter.get_total_flops() == 2 * by_hand
    assert MODELS["last"]((1, 8, 8), 1).macs_per_sample((1, 8, 8), 3, 2) == 0


def test_the_studys_seq2seq_convlstm_at_convlstm_s_settings() -> None:
    """OpenSTL's ConvLSTM-S (15.0M, 56.8 GMACs) is one stack of 4 x 128 cells (kernel 5, patch 4) run
    over 19 steps, and its cells also hold two convolutions the forward pass never uses (3.4M). The
    study's Seq2Seq model at the same settings has an encoder and a decoder stack with weights of
    their own (twice the used weights) and a 3-D head, and runs 20 steps (10 read, 10 predicted)
    with the first step's recurrent convolution skipped (a zero state)."""
    with torch.device("meta"):
        model = build_model("convlstm", "video", MMNIST, {"layers": 4, "hidden": 128, "kernel_size": 5, "patch_size": 4})
    hidden, folded, grid = 128, 16, 16 * 16
    gate = lambda c_in: (c_in + hidden) * 4 * hidden * 25 + 4 * hidden  # noqa: E731 - one cell's convolution
    stack = gate(folded) + 3 * gate(hidden)
    assert count_parameters(model) == 2 * stack + hidden * folded * 27 + folded == 23_406_608
    x_conv = lambda c_in: c_in * 4 * hidden * 25 * grid  # noqa: E731
    h_conv = hidden * 4 * hidden * 25 * grid
    step = x_conv(folded) + 3 * x_conv(hidden) + 4 * h_conv
    head = hidden * folded * 9 * grid * (3 * 8 + 2 + 1)  # each step's state x its kernel slices still needed
    macs = 20 * step - 4 * h_conv + head
    assert model.macs_per_sample(MMNIST, 10, 10) == macs
    assert macs / 56.8e9 == pytest.approx(1.03, abs=0.01)


# ---------------------------------------------------------------- PredRNN-v2
def small_predrnn(**settings: object) -> PredRNNv2:
    torch.manual_seed(0)
    defaults = {"layers": 3, "hidden": 6, "kernel_size": 3, "patch_size": 2, "sampling": "none"}
    return PredRNNv2((1, 8, 8), **{**defaults, **settings})


def cell_calls(model: PredRNNv2) -> list[tuple[int, tuple, tuple]]:
    """Every cell call during the next passes: (layer, its inputs, its outputs)."""
    calls: list[tuple[int, tuple, tuple]] = []
    for k, cell in enumerate(model.cells):
        cell.register_forward_hook(lambda module, args, out, k=k: calls.append((k, args, out)))
    return calls


def test_predrnn_memory_zigzags_up_the_stack_and_on_to_the_next_step() -> None:
    model = small_predrnn().eval()
    calls = cell_calls(model)
    context = torch.rand(2, 4, 1, 8, 8)
    with torch.no_grad():
        model(context, 3)
    layers = len(model.cells)
    assert [k for k, _, _ in calls] == list(range(layers)) * 6  # 4 + 3 - 1 steps
    assert calls[0][1][3] is None  # the first cell starts from a zero memory
    for (k, _, out), (k_next, args, _) in zip(calls, calls[1:]):
        assert args[3] is out[2], (k, k_next)  # M goes up, and from the top cell to the bottom one
    for n, (k, args, _) in enumerate(calls):  # h and C stay in their layer
        if n >= layers:
            assert args[1] is calls[n - layers][2][0] and args[2] is calls[n - layers][2][1]


def test_predrnn_cell_skips_the_zero_state_exactly() -> None:
    torch.manual_seed(1)
    cell = SpatioTemporalLSTMCell(3, 4, 3)
    x = torch.rand(2, 3, 5, 5)
    zeros = torch.zeros(2, 4, 5, 5)
    for a, b in zip(cell(x, None, None, None), cell(x, zeros, zeros, zeros)):
        assert torch.equal(a, b)


def test_predrnn_feeds_context_then_its_predictions_and_never_reads_the_target_in_eval() -> None:
    model = small_predrnn(layers=1).eval()
    inputs: list[torch.Tensor] = []
    heads: list[torch.Tensor] = []
    model.cells[0].register_forward_pre_hook(lambda module, args: inputs.append(args[0]))
    model.head.register_forward_hook(lambda module, args, out: heads.append(out))
    context, target = torch.rand(2, 4, 1, 8, 8), torch.rand(2, 3, 1, 8, 8)
    with torch.no_grad():
        out = model(context, 3, target=target)
        assert torch.equal(out, model(context, 3))
    folded = F.pixel_unshuffle(context.flatten(0, 1), 2).unflatten(0, (2, 4))
    for t in range(4):
        assert torch.equal(inputs[t], folded[:, t])
    assert torch.equal(inputs[4], heads[0]) and torch.equal(inputs[5], heads[1])


@pytest.mark.parametrize("p_context, p_future", [(0.0, 1.0), (1.0, 0.0)])
def test_predrnn_sampling_feeds_truth_or_predictions_as_the_coins_say(p_context: float, p_future: float,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    model = small_predrnn(layers=1, sampling="reverse").train()
    monkeypatch.setattr(model, "truth_probabilities", lambda step: (p_context, p_future))
    inputs, heads = [], []
    model.cells[0].register_forward_pre_hook(lambda module, args: inputs.append(args[0]))
    model.head.register_forward_hook(lambda module, args, out: heads.append(out))
    context, target = torch.rand(2, 4, 1, 8, 8), torch.rand(2, 3, 1, 8, 8)
    model(context, 3, target=target)
    fold = lambda v: F.pixel_unshuffle(v.flatten(0, 1), 2).unflatten(0, v.shape[:2])  # noqa: E731
    assert len(heads) == 6  # in training every step predicts: the context frames' predictions train too
    assert torch.equal(inputs[0], fold(context)[:, 0])
    for t in range(1, 6):
        if t < 4:
            expected = heads[t - 1] if p_context == 0 else fold(context)[:, t]
        else:
            expected = fold(target)[:, t - 4] if p_future == 1 else heads[t - 1]
        assert torch.equal(inputs[t], expected), t
    assert int(model.sampling_step) == 1 and "sampling_step" in model.state_dict()


def test_predrnn_reverse_schedule() -> None:
    model = small_predrnn(sampling="reverse", sampling_start=100, sampling_end=300, sampling_alpha=50.0)
    assert model.truth_probabilities(0) == model.truth_probabilities(99) == (0.5, 0.5)
    r, e = model.truth_probabilities(150)
    assert r == pytest.approx(1 - 0.5 * math.exp(-1)) and e == pytest.approx(0.375)
    assert model.truth_probabilities(300) == model.truth_probabilities(10**6) == (1.0, 0.0)
    rs = [model.truth_probabilities(k)[0] for k in range(0, 400, 10)]
    es = [model.truth_probabilities(k)[1] for k in range(0, 400, 10)]
    assert rs == sorted(rs) and es == sorted(es, reverse=True)  # the context weans on, the future off
    linear = small_predrnn(sampling="linear", sampling_start=0, sampling_end=200)
    assert [linear.truth_probabilities(k) for k in (0, 50, 200, 500)] == [(1, 1), (1, 0.75), (1, 0), (1, 0)]
    assert small_predrnn(sampling="none").truth_probabilities(0) == (1.0, 0.0)


def test_predrnn_auxiliary_loss_is_the_context_error_plus_the_decoupling() -> None:
    """Per item: the squared error of the next-frame predictions of the context (the same numbers
    as predicting from the first frames alone) and beta x |cos| of the adapted memory increments,
    both over the horizon, as the module docstring says."""
    model = small_predrnn(decouple_beta=0.3).train()
    calls = cell_calls(model)
    context, target = torch.rand(2, 4, 1, 8, 8), torch.rand(2, 3, 1, 8, 8)
    model(context, 3, target=target)
    training_calls = list(calls)
    auxiliary = model.auxiliary_loss()
    assert auxiliary.shape == (2,) and model.auxiliary_loss() is None  # read once

    model.eval()
    with torch.no_grad():
        context_error = sum(((model(context[:, :j + 1], 1)[:, 0] - context[:, j + 1]) ** 2).flatten(1).sum(1) / 64
                            for j in range(3))
        cosines = []
        for _, _, (_, _, _, delta_c, delta_m) in training_calls:
            a, b = model.adapter(delta_c).flatten(2), model.adapter(delta_m).flatten(2)
            cosines.append(((a * b).sum(2) / (a.norm(dim=2) * b.norm(dim=2))).abs().mean(dim=1))
    assert len(cosines) == 3 * 6
    predicted = 3 + 3
    expected = (context_error + 0.3 * predicted * torch.stack(cosines).mean(dim=0)) / 3
    torch.testing.assert_close(auxiliary.detach(), expected, rtol=1e-5, atol=1e-7)


def test_predrnn_without_decoupling_has_no_adapter() -> None:
    model = small_predrnn(decouple_beta=0.0)
    assert model.adapter is None
    assert count_parameters(small_predrnn()) - count_parameters(model) == 6 * 6


def test_the_trainer_minimises_mse_plus_the_models_auxiliary_loss() -> None:
    """One trainer step of PredRNN-v2 gives the weights of a hand-written step on the horizon's
    mean squared error plus the mean auxiliary loss."""
    data = synthetic(context=3, horizon=2, frame=8, count=8)
    batch = torch.from_numpy(data.train.array[:4])
    hand = small_predrnn(decouple_beta=0.5)
    trained = small_predrnn(decouple_beta=0.5)
    trainer = Trainer(trained, data, Path("unused"), TrainerConfig(progress="off"), OptimConfig(lr=1e-2),
                      LoaderConfig(batch_size=4), Precision.create("32", torch.device("cpu")), seed=0)
    trainer.train_step(batch)
    hand.train()
    optimizer = torch.optim.Adam(hand.parameters(), lr=1e-2)
    prediction = hand(batch[:, :3], 2, target=batch[:, 3:])
    loss = ((prediction - batch[:, 3:]) ** 2).mean() + hand.auxiliary_loss().mean()
    loss.backward()
    optimizer.step()
    assert hand.adapter.weight.grad.abs().sum() > 0  # decoupling trains the adapter
    for a, b in zip(hand.parameters(), trained.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- SimVP
def small_simvp(translator: str = "gsta", context: int = 4) -> SimVP:
    torch.manual_seed(0)
    return SimVP((1, 16, 16), 1, context=context, translator=translator, **SimVP.small).eval()


@pytest.mark.parametrize("translator", ["gsta", "tau"])
def test_simvp_rolls_out_any_horizon_in_blocks_of_the_context(translator: str) -> None:
    model = small_simvp(translator)
    context = torch.rand(2, 4, 1, 16, 16)
    with torch.no_grad():
        first = model.translate(context)
        second = model.translate(first)
        third = model.translate(second)
        assert first.shape == (2, 4, 1, 16, 16)
        torch.testing.assert_close(model(context, 4), first, rtol=0, atol=0)
        torch.testing.assert_close(model(context, 2), first[:, :2], rtol=0, atol=0)
        torch.testing.assert_close(model(context, 9), torch.cat([first, second, third[:, :1]], dim=1), rtol=0, atol=0)
    with pytest.raises(ConfigError, match="built for a context of 4 frames"):
        model(context[:, :3], 4)


def test_simvp_decoder_adds_the_first_encoder_features_before_its_last_layer() -> None:
    model = small_simvp()
    seen = {}
    model.encoder[0].register_forward_hook(lambda m, args, out: seen.setdefault("skip", out))
    model.decoder[-2].register_forward_hook(lambda m, args, out: seen.setdefault("below", out))
    model.decoder[-1].register_forward_pre_hook(lambda m, args: seen.setdefault("last_in", args[0]))
    with torch.no_grad():
        model(torch.rand(2, 4, 1, 16, 16), 4)
    assert seen["skip"].shape == (8, 8, 16, 16)  # full resolution, one map per frame
    torch.testing.assert_close(seen["last_in"], seen["below"] + seen["skip"], rtol=0, atol=0)


def test_simvp_translator_blocks_and_the_attention_kinds() -> None:
    gsta, tau = small_simvp("gsta"), small_simvp("tau")
    assert all(isinstance(b.attention, GatedAttention) for b in gsta.translator.blocks if hasattr(b, "attention"))
    assert all(isinstance(b.attention, TemporalAttention) for b in tau.translator.blocks if hasattr(b, "attention"))
    widths = [(b.in_channels, b.out_channels) for b in small_simvp(context=6).translator.blocks
              if isinstance(b, torch.nn.Conv2d)]
    assert widths == [(6 * 8, 32), (32, 6 * 8)]  # narrowed after the first block, widened after the last
    assert not [b for b in gsta.translator.blocks if isinstance(b, torch.nn.Conv2d)]  # 4 x 8 = 32: no need
    # TAU's dynamic attention: a per-channel factor from the whole map, so adding a constant elsewhere in
    # the map changes the output at an untouched pixel
    attention = TemporalAttention(16, 9).eval()
    x = torch.rand(1, 16, 12, 12)
    shifted = x.clone()
    shifted[..., 8:, 8:] += 1.0
    with torch.no_grad():
        assert not torch.allclose(attention(x)[..., 0, 0], attention(shifted)[..., 0, 0])


# ---------------------------------------------------------------- loss=ddr
def kl_by_hand(p_frames: np.ndarray, q_frames: np.ndarray, temperature: float) -> float:
    total, pairs = 0.0, 0
    for t in range(len(p_frames) - 1):
        dp = (p_frames[t + 1] - p_frames[t]).ravel() / temperature
        dq = (q_frames[t + 1] - q_frames[t]).ravel() / temperature
        p = np.exp(dp - dp.max()) / np.exp(dp - dp.max()).sum()
        q = np.exp(dq - dq.max()) / np.exp(dq - dq.max()).sum()
        total += (p * np.log(p / q)).mean()
        pairs += 1
    return total / pairs


def test_differential_divergence_by_hand() -> None:
    rng = np.random.default_rng(0)
    prediction, target = rng.uniform(size=(3, 4, 1, 5, 5)), rng.uniform(size=(3, 4, 1, 5, 5))
    got = differential_divergence(torch.from_numpy(prediction), torch.from_numpy(target), 0.1)
    expected = [kl_by_hand(prediction[b], target[b], 0.1) for b in range(3)]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4)
    assert (got > 0).all()
    same = differential_divergence(torch.from_numpy(target), torch.from_numpy(target), 0.1)
    assert same.abs().max() < 1e-6
    # a constant offset of every predicted frame keeps their differences: no divergence
    assert differential_divergence(torch.from_numpy(target) + 0.2, torch.from_numpy(target), 0.1).abs().max() < 1e-5


def test_loss_ddr_adds_alpha_times_the_divergence() -> None:
    data = synthetic(context=4, horizon=4, frame=16, count=8)
    batch = torch.from_numpy(data.train.array[:4])
    hand, trained = small_simvp(), small_simvp()
    trainer = Trainer(trained, data, Path("unused"), TrainerConfig(progress="off"), OptimConfig(lr=1e-2),
                      LoaderConfig(batch_size=4), Precision.create("32", torch.device("cpu")), seed=0,
                      loss=LossConfig(name="ddr", alpha=5.0, temperature=0.2))
    trainer.train_step(batch)
    hand.train()
    optimizer = torch.optim.Adam(hand.parameters(), lr=1e-2)
    prediction = hand(batch[:, :4], 4)
    loss = ((prediction - batch[:, 4:]) ** 2).mean() + 5.0 * differential_divergence(prediction, batch[:, 4:], 0.2).mean()
    loss.backward()
    optimizer.step()
    for a, b in zip(hand.parameters(), trained.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    for buffer_a, buffer_b in zip(hand.buffers(), trained.buffers()):  # BatchNorm's running statistics
        torch.testing.assert_close(buffer_a, buffer_b)


@pytest.mark.parametrize("case, message", [
    (["data=sins"], "loss=ddr compares frame differences; data=sins holds sequences"),
    (["data=mnist", "data.horizon=1"], "data.horizon must be at least 2, got 1"),
    (["data=mnist", "loss.temperature=0"], "loss.temperature must be positive"),
])
def test_loss_ddr_mistakes_are_config_errors(case: list[str], message: str, tmp_path: Path) -> None:
    from helpers.config import run_tiny

    model = "lstm" if "data=sins" in case else "simvp"
    fabricate = ["data.train_digits=test", "data.test_source=generated", f"paths.data_dir={mnist_dir(tmp_path)}"]
    with pytest.raises(ConfigError, match=message):
        run_tiny([f"model={model}", "loss=ddr", *case, *(fabricate if "data=mnist" in case else [])],
                 tmp_path / "run")


def mnist_dir(tmp_path: Path) -> Path:
    from helpers.data_fabricate import fabricate_mnist

    fabricate_mnist(tmp_path / "data", train=0, test=60, test_seq=None)
    return tmp_path / "data"


# ---------------------------------------------------------------- they learn
def moving_shapes(count: int, length: int, size: int, seed: int, shapes: int = 2,
                  radii: tuple[int, int] = (2, 4), speeds: tuple[int, int] = (1, 4)) -> np.ndarray:
    """``count`` clips ``(length, 1, size, size)`` of ``shapes`` squares or discs (drawn at random),
    each moving at its own constant whole-pixel velocity (``speeds``: pixels a frame per axis, the
    upper bound excluded) and bouncing off the walls: the future is a function of the context."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = np.zeros((count, length, 1, size, size), dtype=np.float32)
    for item in range(count):
        moving = []
        for kind in rng.choice(["square", "disc"], shapes):
            radius = int(rng.integers(*radii))
            position = rng.integers(radius, size - radius, 2)
            velocity = rng.choice([-1, 1], 2) * rng.integers(*speeds, 2)
            moving.append((kind, radius, position, velocity))
        for t in range(length):
            frame = np.zeros((size, size), dtype=np.float32)
            for kind, radius, position, velocity in moving:
                y, x = position
                if kind == "square":
                    mask = (np.abs(yy - y) <= radius) & (np.abs(xx - x) <= radius)
                else:
                    mask = (yy - y) ** 2 + (xx - x) ** 2 <= radius ** 2
                frame = np.maximum(frame, mask.astype(np.float32))
                position += velocity
                for axis in range(2):  # bounce: reflect the position and the velocity at a wall
                    low, high = radius, size - 1 - radius
                    if position[axis] < low or position[axis] > high:
                        velocity[axis] = -velocity[axis]
                        position[axis] = 2 * (low if position[axis] < low else high) - position[axis]
            out[item, t, 0] = frame
    return out


def synthetic(context: int, horizon: int, frame: int, count: int, evaluated: int = 8, **shapes: object) -> DataSplits:
    """``count`` training clips of moving shapes, ``evaluated`` for validation and as many for test."""
    arrays = [moving_shapes(n, context + horizon, frame, seed, **shapes)
              for n, seed in ((count, 1), (evaluated, 2), (evaluated, 3))]
    return DataSplits("shapes", "video", context, horizon, (1, frame, frame), *(ArrayDataset(a) for a in arrays))


def test_moving_shapes_move_at_constant_speed_and_bounce() -> None:
    clips = moving_shapes(30, 16, 16, seed=0, shapes=1, radii=(2, 3), speeds=(1, 3))
    assert clips.shape == (30, 16, 1, 16, 16) and set(np.unique(clips).tolist()) == {0.0, 1.0}
    lit = clips[:, :, 0] > 0
    rows = np.array([[np.flatnonzero(f.any(axis=1)).mean() for f in clip] for clip in lit])  # the shape's centre
    assert (lit.sum(axis=(2, 3)) == lit[:, :1].sum(axis=(2, 3))).all()  # whole in every frame: it never leaves
    steps = np.diff(rows, axis=1)
    assert set(np.abs(steps).ravel().tolist()) <= {0.0, 1.0, 2.0}  # whole pixels, at most 2 a frame
    bounces = (np.sign(steps[:, 1:]) * np.sign(steps[:, :-1]) < 0).sum()
    assert bounces >= 10 and np.abs(steps).sum() > 0


STEPS = 250
LEARNERS = {  # name: (model, settings): the small variants (the predrnn's schedule fitted to the run)
    "predrnn": ("predrnn", {"layers": 1, **PredRNNv2.small, "hidden": 16, "sampling": "linear", "sampling_start": 0,
                            "sampling_end": 100}),
    "simvp-gsta": ("simvp", {"layers": 1, "context": 4, **SimVP.small}),
    "simvp-tau": ("simvp", {"layers": 1, "context": 4, **SimVP.small, "translator": "tau"}),
}


@pytest.mark.parametrize("case", sorted(LEARNERS))
def test_the_new_models_learn_moving_shapes_on_the_cpu(case: str, tmp_path: Path) -> None:
    """250 steps of batch 8 on 4 -> 4 frames of 16 x 16 with one bouncing square or disc. Measured
    test mse over the last frame's: predrnn 0.26, simvp-gsta 0.21, simvp-tau 0.22."""
    name, settings = LEARNERS[case]
    torch.manual_seed(0)
    data = synthetic(context=4, horizon=4, frame=16, count=512, evaluated=32, shapes=1, radii=(2, 3), speeds=(1, 3))
    model = build_model(name, "video", (1, 16, 16), settings)
    trainer = Trainer(model, data, tmp_path, TrainerConfig(max_steps=STEPS, max_epochs=10, limit_val_batches=1,
                                                           progress="off"),
                      OptimConfig(lr=1e-2), LoaderConfig(batch_size=8), Precision.create("32", torch.device("cpu")),
                      seed=0)
    trainer.fit()
    learned = trainer.evaluate("test")["mse"]
    last = np.mean((data.test.array[:, 4:] - data.test.array[:, 3:4]) ** 2)
    assert learned < last / 3, (learned, last)


def test_simvp_is_counted_once_over_layers_but_is_no_baseline_of_the_studys_tables(tmp_path: Path) -> None:
    """A run records its model's declaration; the report reads it (without importing the models): SimVP
    is one experiment over layer counts, but trained, so no baseline row under the study's ConvLSTM."""
    from vidpred.report.collect import RunRecord, dedupe_baselines

    assert not MODELS["simvp"].layered and MODELS["predrnn"].layered
    runs = []
    for model, layers in (("simvp", 1), ("simvp", 2), ("last", 1), ("last", 3), ("predrnn", 1), ("predrnn", 2)):
        choices = {"model": model, "data": "mnist", "layers": layers, "seed": 0}
        runs.append(RunRecord(tmp_path / f"{model}_{layers}", "completed", None, choices,
                              metrics={"declaration": MODELS[model].declaration()}))
    kept = dedupe_baselines(runs)
    assert sorted((r.choices["model"], r.choices["layers"]) for r in kept) == [
        ("last", 1), ("predrnn", 1), ("predrnn", 2), ("simvp", 1)]
    assert [r.choices["model"] for r in runs if not r.trainable] == ["last", "last"]
