"""The throughput benchmark: synthetic data, the CLI, its JSON output and its errors; FLOP counts,
peaks and the textbook reference models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers.config import REPO
from vidpred.perf import bench
from vidpred.errors import ConfigError
from vidpred.models import MODELS
from vidpred.models.convlstm import Seq2SeqConvLSTM
from vidpred.models.lstm import Seq2SeqLSTM
from vidpred.perf.reference import GATES, TextbookSeq2SeqConvLSTM, TextbookSeq2SeqLSTM, build_textbook
from vidpred.training.precision import Precision
from vidpred.training.settings import OptimConfig

TINY = ["model=convlstm", "model.hidden=4", "model.patch_size=4", "data=mnist", "data.context=3",
        "data.horizon=2"]


def test_moving_squares_bounce_inside_the_frame() -> None:
    videos = bench.moving_squares(6, 30, (3, 16, 12), seed=1)
    assert videos.shape == (6, 30, 3, 16, 12) and videos.dtype == np.float32
    assert videos.min() == 0.0 and 0.5 <= videos.max() <= 1.0
    side = 12 // 4
    lit = (videos.max(axis=2) > 0).sum(axis=(2, 3))
    assert (lit == side * side).all()  # one whole square in every frame: it never leaves
    assert not np.array_equal(videos[:, 0], videos[:, -1])  # and it moves
    np.testing.assert_array_equal(videos, bench.moving_squares(6, 30, (3, 16, 12), seed=1))


def test_bench_cli_reports_every_combination(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    results = bench.main([*TINY, "--synthetic", "--frame-shape", "1,16,16", "--device", "cpu",
                          "--precision", "32,bf16", "--batch-size", "2,4", "--warmup", "1",
                          "--steps", "4", "--windows", "2", "--out", str(out)])
    assert [(r.batch_size, r.precision) for r in results] == [(2, "32"), (2, "bf16"), (4, "32"), (4, "bf16")]
    for r in results:
        assert 0 < r.slowest <= r.samples_per_second <= r.fastest
        assert r.steps == 4 and r.device == "cpu" and r.peak_memory_mib is None and not r.compile
    stored = json.loads(out.read_text())
    assert stored["item_shape"] == [5, 1, 16, 16] and stored["data"] == "synthetic"
    assert [r["samples_per_second"] for r in stored["results"]] == [r.samples_per_second for r in results]
    printed = capsys.readouterr().out
    assert printed.count("samples/s") == 4 and "model=convlstm" in printed


def test_missing_data_falls_back_to_synthetic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = bench.main([*TINY, f"paths.data_dir={tmp_path}", "--frame-shape", "1,8,8", "--device", "cpu",
                          "--precision", "32", "--warmup", "0", "--steps", "1", "--windows", "1",
                          "--batch-size", "2"])
    assert len(results) == 1
    captured = capsys.readouterr()
    assert "using synthetic data" in captured.err and "data=synthetic" in captured.out


def test_untrainable_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="nothing to train"):
        bench.main(["model=last", "data=mnist", "--synthetic", "--frame-shape", "1,8,8",
                    "--device", "cpu", "--precision", "32", "--steps", "1", "--windows", "1"])


def test_cli_error_is_one_line_and_exit_code_2() -> None:
    done = subprocess.run([sys.executable, "-m", "vidpred.perf.bench", "--compile", "maybe", "--synthetic"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("error: --compile takes on, off or a mode (auto, default, reduce-overhead")


# ---------------------------------------------------------------- FLOPs, peaks and the textbook references
LSTM_TINY = ["model=lstm", "model.hidden=4", "data=sins", "data.context=3", "data.horizon=2"]


def seq2seq_lstm_flops(batch: int, channels: int, hidden: int, context: int, horizon: int,
                       folded: bool = False) -> int:
    """A 1-layer Seq2Seq LSTM training step counted by hand, the way FlopCounterMode counts: 2 m n k
    per GEMM forward; backward, one GEMM for the weight gradient and one for the input gradient
    when the input needs one. ``folded``: vidpred's decoder after its first step, with the head
    folded into the recurrent weights (a width-1 zero input, no input gradients)."""
    x_gemm = 2 * batch * channels * 4 * hidden  # the four gates of the input
    h_gemm = 2 * batch * hidden * 4 * hidden    # the four gates of h
    head = 2 * batch * hidden * channels
    if not folded:
        forward = (context + horizon) * (x_gemm + h_gemm) + horizon * head
        weight_gradients = forward
        input_gradients = ((context + horizon - 1) * h_gemm  # not of the encoder's initial h: a constant zero
                           + (horizon - 1) * x_gemm          # the decoder's inputs, but not the context's last value
                           + horizon * head)                 # and never the context's values
        return forward + weight_gradients + input_gradients
    zero_input = 2 * batch * 1 * 4 * hidden  # the folded steps' width-1 zero input
    fold = 2 * 4 * hidden * channels * hidden  # W_ih @ W_head: once per step, whatever the batch
    forward = (context + 1) * (x_gemm + h_gemm) + (horizon - 1) * (zero_input + h_gemm) + horizon * head + fold
    weight_gradients = ((context + 1) * (x_gemm + h_gemm) + (horizon - 1) * h_gemm + horizon * head
                        + 2 * fold)  # the zero input's weight is a constant; the fold's two factors are not
    input_gradients = (context + horizon - 1) * h_gemm + horizon * head
    return forward + weight_gradients + input_gradients


def stacked_lstm_flops(batch: int, channels: int, hidden: int, layers: int, context: int, horizon: int,
                       written: bool) -> int:
    """A stacked Seq2Seq LSTM training step counted by hand, as :func:`seq2seq_lstm_flops` counts.
    ``written``: vidpred's several-layer decoder on the CPU, whose backward also forms the gradient
    of the context's last value (autograd skips it: the context needs none)."""
    x_gemm = 2 * batch * channels * 4 * hidden  # layer 0's input
    h_gemm = 2 * batch * hidden * 4 * hidden    # h, and the input of the layers above
    head = 2 * batch * hidden * channels
    forward = (context + horizon) * (x_gemm + (2 * layers - 1) * h_gemm) + horizon * head
    weight_gradients = forward
    input_gradients = (layers * (context - 1) * h_gemm + (layers - 1) * context * h_gemm  # the encoder
                       + horizon * ((2 * layers - 1) * h_gemm + head)                    # the decoder
                       + (horizon if written else horizon - 1) * x_gemm)                 # its fed-back inputs
    return forward + weight_gradients + input_gradients


def copy_into_lstm(textbook: TextbookSeq2SeqLSTM, model: Seq2SeqLSTM) -> None:
    """The textbook's per-gate Linear weights into nn.LSTM's stacked [i; f; g; o] layout."""
    state = {"head.weight": textbook.head.weight, "head.bias": textbook.head.bias}
    for side in ("encoder", "decoder"):
        for k, cell in enumerate(getattr(textbook, side)):
            state[f"{side}.weight_ih_l{k}"] = torch.cat([cell.x[g].weight for g in GATES])
            state[f"{side}.weight_hh_l{k}"] = torch.cat([cell.h[g].weight for g in GATES])
            state[f"{side}.bias_ih_l{k}"] = torch.cat([cell.x[g].bias for g in GATES])
            state[f"{side}.bias_hh_l{k}"] = torch.zeros_like(state[f"{side}.bias_ih_l{k}"])
    model.load_state_dict(state)


def copy_into_convlstm(textbook: TextbookSeq2SeqConvLSTM, model: Seq2SeqConvLSTM) -> None:
    """The two convolutions of each textbook cell into vidpred's one convolution over [x, h]."""
    state = {"head.weight": textbook.head.weight, "head.bias": textbook.head.bias,
             "sampling_step": textbook.sampling_step}
    for side in ("encoder", "decoder"):
        for k, cell in enumerate(getattr(textbook, side)):
            state[f"{side}.{k}.conv.weight"] = torch.cat([cell.conv_x.weight, cell.conv_h.weight], dim=1)
            state[f"{side}.{k}.conv.bias"] = cell.conv_x.bias
    model.load_state_dict(state)


@pytest.mark.parametrize("which", ["textbook", "vidpred"])
def test_flop_count_of_a_train_step_matches_a_hand_count(which: str) -> None:
    data = bench.synthetic_splits("sequence", (1,), context=3, horizon=2, sizes=(4, 2, 2))
    build = TextbookSeq2SeqLSTM if which == "textbook" else Seq2SeqLSTM
    folded = which == "vidpred"
    for batch, expected in ((2, 4640 if folded else 4384), (4, None)):
        flops = bench.train_step_flops(build((1,), layers=1, hidden=4), data, batch_size=batch)
        hand = seq2seq_lstm_flops(batch=batch, channels=1, hidden=4, context=3, horizon=2, folded=folded)
        assert flops == hand and expected in (None, hand)
    # per sample at any batch, from the counts at batch 1 and 2
    contender = bench.Contender(which, lambda: build((1,), layers=1, hidden=4))
    bench.count_flops([contender], data, OptimConfig())
    assert contender.flops_per_sample(4) == flops / 4 and contender.flops_fixed == (384 if folded else 0)


@pytest.mark.parametrize("layers", [2, 3])
@pytest.mark.parametrize("which", ["textbook", "vidpred"])
def test_flop_count_of_a_stacked_train_step_matches_a_hand_count(which: str, layers: int) -> None:
    data = bench.synthetic_splits("sequence", (1,), context=3, horizon=2, sizes=(4, 2, 2))
    build = TextbookSeq2SeqLSTM if which == "textbook" else Seq2SeqLSTM
    flops = bench.train_step_flops(build((1,), layers=layers, hidden=4), data, batch_size=2)
    hand = stacked_lstm_flops(batch=2, channels=1, hidden=4, layers=layers, context=3, horizon=2,
                              written=which == "vidpred")
    assert flops == hand == {(2, False): 11808, (2, True): 11872, (3, False): 19232, (3, True): 19296}[
        layers, which == "vidpred"]


def test_gate_convolution_flops_are_forward_and_both_gradients() -> None:
    precision = Precision.create("32", torch.device("cpu"))
    conv = bench.GateConvolution((2, 8, 8), layers=2, hidden=3, kernel_size=3, patch_size=2, batch_size=2,
                                 precision=precision)
    grid = 4 * 4
    forward = sum(2 * 2 * 12 * grid * cin * 9 for cin in (2 * 4 + 3, 3 + 3))  # 2 B Cout HW Cin k^2 per layer
    assert conv.flops == 3 * forward
    assert "2x11x4x4 + 2x6x4x4 -> 12 ch, k3" in conv.description
    assert conv.window(2) > 0


def test_textbook_lstm_shapes_and_feedback() -> None:
    model = TextbookSeq2SeqLSTM((2,), layers=2, hidden=5)
    inputs: list[torch.Tensor] = []
    model.decoder[0].register_forward_pre_hook(lambda module, args: inputs.append(args[0].detach().clone()))
    context = torch.rand(3, 6, 2)
    out = model(context, 4)
    assert out.shape == (3, 4, 2) and len(inputs) == 4
    torch.testing.assert_close(inputs[0], context[:, -1])  # the decoder starts from the last context value
    for t in range(1, 4):
        torch.testing.assert_close(inputs[t], out[:, t - 1].detach())  # then is fed its own prediction


def test_textbook_convlstm_shapes_and_feedback() -> None:
    model = TextbookSeq2SeqConvLSTM((2, 8, 8), layers=2, hidden=3, patch_size=2)
    inputs: list[torch.Tensor] = []
    model.decoder[0].register_forward_pre_hook(lambda module, args: inputs.append(args[0].detach().clone()))
    context = torch.rand(2, 4, 2, 8, 8)
    out = model(context, 3)
    assert out.shape == (2, 3, 2, 8, 8) and len(inputs) == 3 and 0 < out.min() and out.max() < 1
    torch.testing.assert_close(inputs[0], F.pixel_unshuffle(context[:, -1], 2))  # folded last context frame
    for t in range(1, 3):
        torch.testing.assert_close(inputs[t], F.pixel_unshuffle(out[:, t - 1].detach(), 2))


def test_textbook_lstm_computes_vidpreds_function() -> None:
    torch.manual_seed(0)
    textbook, model = TextbookSeq2SeqLSTM((2,), layers=2, hidden=5), Seq2SeqLSTM((2,), layers=2, hidden=5)
    copy_into_lstm(textbook, model)
    context = torch.rand(3, 6, 2)
    torch.testing.assert_close(model(context, 4), textbook(context, 4), atol=1e-5, rtol=1e-5)


def test_textbook_convlstm_computes_vidpreds_function() -> None:
    torch.manual_seed(0)
    shape = dict(frame_shape=(2, 8, 8), layers=2, hidden=3, kernel_size=3, patch_size=2)
    textbook, model = TextbookSeq2SeqConvLSTM(**shape), Seq2SeqConvLSTM(**shape)
    copy_into_convlstm(textbook, model)
    context = torch.rand(2, 4, 2, 8, 8)
    torch.testing.assert_close(model(context, 3), textbook(context, 3), atol=1e-5, rtol=1e-5)


def test_textbook_models_are_not_registered() -> None:
    assert not {TextbookSeq2SeqLSTM, TextbookSeq2SeqConvLSTM} & set(MODELS.values())
    with pytest.raises(ConfigError, match="textbook model for model=lstm and model=convlstm only"):
        build_textbook("linear", (1,), {})


def test_reference_cli_prints_the_ratio_and_flop_columns(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    threads = torch.get_num_threads()
    results = bench.main([*LSTM_TINY, "--synthetic", "--device", "cpu", "--precision", "32", "--batch-size", "4",
                          "--warmup", "1", "--steps", "4", "--windows", "2", "--reference", "--threads", "1",
                          "--out", str(out)])
    assert torch.get_num_threads() == threads  # --threads lasts for the run only
    assert [r.model for r in results] == ["vidpred", "textbook"]
    for r, folded in zip(results, (True, False)):
        per_sample = seq2seq_lstm_flops(batch=4, channels=1, hidden=4, context=3, horizon=2, folded=folded) / 4
        assert r.flops_per_sample == per_sample and len(r.window_rates) == 2
        assert r.gflops_per_second == pytest.approx(per_sample * r.samples_per_second / 1e9)
        assert 0 < r.percent_of_peak < 100 and "measured GEMM peak" in r.peak_source
    printed = capsys.readouterr().out
    assert "ratio vidpred / textbook:" in printed and "on cpu (threads=1)" in printed
    assert "measured GEMM peak" in printed and "threads=1, median of" in printed
    lines = [line for line in printed.splitlines() if line.split()[0] in ("vidpred", "textbook")]
    assert len(lines) == 2 and all("GFLOP/s" in line and "% of peak" in line for line in lines)
    assert "2.22 kFLOP/sample" in lines[0] and "2.19 kFLOP/sample" in lines[1]
    stored = json.loads(out.read_text())
    assert [r["model"] for r in stored["results"]] == ["vidpred", "textbook"]
    assert {"flops_per_sample", "gflops_per_second", "percent_of_peak", "peak_source"} <= set(stored["results"][0])
    (comparison,) = stored["comparisons"]
    rates = [r.window_rates for r in results]
    assert comparison["ratio"] == pytest.approx(np.median([a / b for a, b in zip(*rates)]))
    assert comparison["rounds"] == 2 and "FlopCounterMode" in stored["flops_note"]


def test_reference_cli_reports_conv_efficiency(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    results = bench.main([*TINY, "--synthetic", "--frame-shape", "1,16,16", "--device", "cpu", "--precision", "32",
                          "--batch-size", "2", "--warmup", "1", "--steps", "2", "--windows", "2", "--reference",
                          "--out", str(out)])
    assert [r.model for r in results] == ["vidpred", "textbook"]
    assert all(r.conv_efficiency > 0 and r.conv_gflops_per_second > 0 for r in results)
    printed = capsys.readouterr().out
    assert "conv efficiency (step FLOP/s / gate conv2d FLOP/s): vidpred" in printed and "textbook" in printed
    (conv,) = json.loads(out.read_text())["conv"]
    assert conv["gflops_per_second"] > 0 and "gate conv2d alone" in conv["description"]


def test_reference_of_a_model_without_a_textbook_twin_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="textbook model"):
        bench.main(["model=linear", "data=sins", "--synthetic", "--device", "cpu", "--precision", "32",
                    "--steps", "1", "--windows", "1", "--reference"])


@pytest.mark.parametrize(("name", "math", "tflops"), [
    ("NVIDIA H100 80GB HBM3", "bf16", 989.5),
    ("NVIDIA H100 PCIe", "tf32", 378.0),
    ("NVIDIA H100 NVL", "fp16", 835.5),
    ("NVIDIA H200", "fp32", 67.0),
    ("NVIDIA A100-SXM4-80GB", "tf32", 156.0),
    ("NVIDIA A10", "bf16", 125.0),
    ("NVIDIA L4", "bf16", 121.0),
    ("NVIDIA L40S", "tf32", 183.0),
    ("Tesla V100-SXM2-16GB", "tf32", 15.7),  # no TF32 units: fp32 runs as fp32
    ("NVIDIA GeForce RTX 4090", "bf16", 165.2),
    ("NVIDIA GeForce RTX 3090", "fp32", 35.6),
])
def test_datasheet_peak_of_known_gpus(name: str, math: str, tflops: float) -> None:
    peak = bench.gpu_peak(name, math)
    assert peak.flops_per_second == pytest.approx(tflops * 1e12)
    assert f"datasheet peak {tflops:g} TFLOP/s" in peak.source


@pytest.mark.parametrize("name", ["NVIDIA GeForce GTX 1080", "NVIDIA A10G", "NVIDIA GeForce RTX 3090 Ti",
                                  "NVIDIA GH200 480GB"])
def test_unknown_gpu_has_no_peak(name: str) -> None:
    peak = bench.gpu_peak(name, "bf16")
    assert peak.flops_per_second is None and peak.source.startswith("peak unknown")
    assert bench.gpu_peak("Tesla V100-PCIE-32GB", "bf16").flops_per_second is None  # no bf16 units


def test_cpu_peak_is_a_measured_gemm() -> None:
    peak = bench.peak_for(torch.device("cpu"), Precision.create("32", torch.device("cpu")), torch.nn.Linear(1, 1))
    assert peak.flops_per_second > 1e8 and peak.source.startswith("measured GEMM peak")


def test_overrides_may_follow_the_options() -> None:
    args = bench.parse_args(["model=convlstm", "--windows", "3", "model.hidden=64", "--reference", "layers=2"])
    assert args.overrides == ["model=convlstm", "model.hidden=64", "layers=2"] and args.reference


@pytest.mark.parametrize("groups", [1, 4, 16])
def test_a_grouped_convolutions_backward_is_counted_per_group(groups: int) -> None:
    """torch's formula counts a grouped convolution's weight gradient as if every input channel met
    every output channel; the benchmark's counter counts what is computed: a depth-wise
    convolution's backward pass is twice its forward pass, as a dense one's."""
    conv = torch.nn.Conv2d(16, 32, 5, padding=2, groups=groups)
    x = torch.rand(3, 16, 12, 12, requires_grad=True)
    with bench.flop_counter() as counter:
        conv(x).sum().backward()
    forward = 2 * 3 * 12 * 12 * 32 * (16 // groups) * 25  # a multiply-add per weight, output position and item
    counts = {str(op): flops for op, flops in counter.get_flop_counts()["Global"].items()}
    assert counts == {"aten.convolution": forward, "aten.convolution_backward": 2 * forward}
