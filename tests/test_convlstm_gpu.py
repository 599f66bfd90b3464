"""The CUDA path of the trainer with the ConvLSTM: bf16 autocast, channels-last, cuDNN autotuning,
pinned memory, float16 with gradient scaling, torch.compile and a whole ``trainer=gpu`` run.

Run with ``pytest -m gpu``; every test skips cleanly where no CUDA GPU is visible.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from helpers.config import run_tiny
from helpers.data_fabricate import fabricate_mnist
from helpers.gpu import CUDA, GPU_ONLY
from vidpred.perf.bench import synthetic_splits
from vidpred.models.convlstm import Seq2SeqConvLSTM
from vidpred.training.precision import Precision
from vidpred.training.settings import LoaderConfig, OptimConfig, TrainerConfig
from vidpred.training.accel import is_compiled
from vidpred.training.trainer import Trainer

pytestmark = GPU_ONLY


def make_trainer(tmp_path: Path, precision: str, **config: object) -> tuple[Trainer, torch.Tensor]:
    torch.manual_seed(0)
    data = synthetic_splits("video", (1, 32, 32), context=5, horizon=4, sizes=(16, 8, 8))
    model = Seq2SeqConvLSTM((1, 32, 32), layers=2, hidden=16)
    trainer = Trainer(model, data, tmp_path, TrainerConfig(progress="off", **config), OptimConfig(),
                      LoaderConfig(batch_size=4), Precision.create(precision, CUDA, "video"), seed=0)
    return trainer, torch.stack([data.train[i] for i in range(4)])


def test_bf16_channels_last_training_step(tmp_path: Path) -> None:
    trainer, batch = make_trainer(tmp_path, "bf16")
    model = trainer.model
    assert torch.backends.cudnn.benchmark
    assert model.encoder[0].conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert model.head.weight.is_contiguous(memory_format=torch.channels_last_3d)
    outputs: list[torch.Tensor] = []
    model.decoder[1].conv.register_forward_hook(lambda m, i, o: outputs.append(o))
    before = model.head.weight.detach().clone()
    loss = trainer.train_step(batch.pin_memory())
    assert torch.isfinite(torch.tensor(loss)) and loss > 0
    assert outputs and all(o.dtype == torch.bfloat16 and o.is_cuda for o in outputs)
    assert all(o.is_contiguous(memory_format=torch.channels_last) for o in outputs)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert not torch.equal(model.head.weight, before)


def test_cuda_matches_cpu_in_float32() -> None:
    torch.manual_seed(0)
    cpu_model = Seq2SeqConvLSTM((1, 16, 16), layers=2, hidden=8)
    context = torch.rand(2, 4, 1, 16, 16)
    expected = cpu_model(context, 3)
    gpu_model = Seq2SeqConvLSTM((1, 16, 16), layers=2, hidden=8)
    gpu_model.load_state_dict(cpu_model.state_dict())
    gpu_model = gpu_model.to(CUDA)
    # cuDNN may use TF32 for float32 convolutions: agree to about 1e-3, not bit for bit
    torch.testing.assert_close(gpu_model(context.to(CUDA), 3).cpu(), expected, atol=5e-3, rtol=0)


def test_float16_uses_the_gradient_scaler_and_tracks_float32(tmp_path: Path) -> None:
    trainer, batch = make_trainer(tmp_path / "16", "16")
    reference, _ = make_trainer(tmp_path / "32", "32")
    assert trainer.scaler.is_enabled() and not reference.scaler.is_enabled()
    outputs: list[torch.Tensor] = []
    trainer.model.decoder[0].conv.register_forward_hook(lambda m, i, o: outputs.append(o))
    half = [trainer.train_step(batch) for _ in range(3)]
    full = [reference.train_step(batch) for _ in range(3)]
    assert outputs and all(o.dtype == torch.float16 for o in outputs)
    assert all(p.dtype == torch.float32 and p.grad is not None and p.grad.dtype == torch.float32
               for p in trainer.model.parameters())
    scale = trainer.scaler.get_scale()
    assert scale >= 1 and float(scale).is_integer() and (int(scale) & (int(scale) - 1)) == 0  # a power of 2
    # the same seed and batch: float16 follows float32 closely, without being it
    assert half != full
    assert half == pytest.approx(full, rel=2e-2)


@pytest.mark.parametrize("mode", [True, "reduce-overhead"])
def test_compile_keeps_state_dict_keys_trains_and_predicts_as_eager(tmp_path: Path, mode: bool | str) -> None:
    trainer, batch = make_trainer(tmp_path, "32", compile=mode)
    keys = set(Seq2SeqConvLSTM((1, 32, 32), layers=2, hidden=16).state_dict())
    losses = [trainer.train_step(batch) for _ in range(3)]
    assert all(torch.isfinite(torch.tensor(v)) for v in losses)
    assert set(trainer.model.state_dict()) == keys  # checkpoints load without torch.compile
    assert is_compiled(trainer.model)  # compiled, not fallen back
    eager = Seq2SeqConvLSTM((1, 32, 32), layers=2, hidden=16).to(CUDA).eval()
    eager.load_state_dict(trainer.model.state_dict())
    context = batch[:, :5].to(CUDA)
    with torch.no_grad():
        compiled_out = trainer.model.eval()(context, 4)
        eager_out = eager(context, 4)
    torch.testing.assert_close(compiled_out, eager_out, atol=2e-3, rtol=1e-3)  # kernel choice, TF32


def test_trainer_gpu_chooses_per_kind(tmp_path: Path) -> None:
    """trainer=gpu: video in bf16 and compiled (CUDA graphs), the sequence LSTM in exact float32 eager."""
    sequence = run_tiny(["model=lstm", "data=sins", "trainer=gpu"], tmp_path / "lstm")
    assert sequence["status"] == "completed" and sequence["precision"] == "32"


def test_trainer_gpu_run_writes_video_metrics(tmp_path: Path) -> None:
    fabricate_mnist(tmp_path / "data")
    results = run_tiny(["model=convlstm", "data=mnist", "trainer=gpu", "layers=2", "model.hidden=16",
                        f"paths.data_dir={tmp_path / 'data'}", "data.num_workers=0"], tmp_path / "run")
    assert results["status"] == "completed"
    assert results["device"].startswith("cuda") and results["precision"] == "bf16"
    stored = json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]
    assert stored["mse_frame"] == pytest.approx(4096 * stored["mse"], rel=1e-9)
    assert 0 < stored["ssim"] <= 1 and len(stored["psnr_per_step"]) == 10


@pytest.mark.parametrize("precision", ["auto", "16"])
def test_adversarial_training_on_the_gpu(tmp_path: Path, precision: str) -> None:
    """loss=adversarial under trainer=gpu (bf16, compiled generator) and under float16, where the
    discriminator keeps its own gradient scaler in last.pt."""
    fabricate_mnist(tmp_path / "data")
    results = run_tiny(["model=convlstm", "data=mnist", "trainer=gpu", f"trainer.precision={precision}",
                        "layers=2", "model.hidden=16", "loss=adversarial", "loss.channels=8",
                        "loss.frame_discriminator=true", f"paths.data_dir={tmp_path / 'data'}",
                        "data.num_workers=0", "trainer.log_every_n_steps=1"], tmp_path / "run")
    assert results["status"] == "completed" and results["choices"]["loss"] == "adversarial"
    assert results["precision"] == ("bf16" if precision == "auto" else "16")
    rows = [line.split(",") for line in (tmp_path / "run" / "history.csv").read_text().splitlines()]
    d_loss = [row[rows[0].index("d_loss")] for row in rows[1:]]
    assert any(d_loss) and all(torch.isfinite(torch.tensor(float(v))) for v in d_loss if v)
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    if precision == "16":
        assert state["discriminator"]["scaler"]["scale"] > 0 and state["scaler"]
    assert 0 < results["test"]["ssim"] <= 1
