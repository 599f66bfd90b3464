"""The CUDA path of the trainer with every trainable video model of the registry (their small
variants): bf16 autocast, float32 against the CPU, torch.compile (checkpoint keys, eager-equal
predictions, no fallback) and a whole ``trainer=gpu`` run.

Run with ``pytest -m gpu``; every test skips cleanly where no CUDA GPU is visible.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers.config import compose_config, run_tiny, small_model_overrides
from helpers.data_fabricate import fabricate_mnist
from helpers.gpu import CUDA, GPU_ONLY
from vidpred.perf.bench import synthetic_splits
from vidpred.config import to_plain
from vidpred.models import MODELS, Forecaster, build_model
from vidpred.training.precision import Precision
from vidpred.training.settings import LoaderConfig, OptimConfig, TrainerConfig
from vidpred.training.accel import is_compiled
from vidpred.training.trainer import Trainer

pytestmark = GPU_ONLY
VIDEO = sorted(name for name, cls in MODELS.items() if cls.trainable and "video" in cls.kinds)
FRAME = (1, 32, 32)


def small(name: str) -> Forecaster:
    """Model ``name``'s small variant for 4 -> 4 frames of 32 x 32, as the config builds it."""
    torch.manual_seed(0)
    params = to_plain(compose_config([f"model={name}", "data=mnist", "data.context=4", "data.horizon=4",
                                      "layers=2", *small_model_overrides(name)]).model)
    params.pop("name")
    return build_model(name, "video", FRAME, params)


def make_trainer(name: str, tmp_path: Path, precision: str, **config: object) -> tuple[Trainer, torch.Tensor]:
    data = synthetic_splits("video", FRAME, context=4, horizon=4, sizes=(16, 8, 8))
    trainer = Trainer(small(name), data, tmp_path, TrainerConfig(progress="off", **config), OptimConfig(),
                      LoaderConfig(batch_size=4), Precision.create(precision, CUDA, "video"), seed=0)
    return trainer, torch.stack([data.train[i] for i in range(4)])


@pytest.mark.parametrize("name", VIDEO)
def test_bf16_training_step(name: str, tmp_path: Path) -> None:
    trainer, batch = make_trainer(name, tmp_path, "bf16")
    outputs: list[torch.Tensor] = []
    conv2d = torch.nn.functional.conv2d

    def watched(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - every 2-D convolution, seen from outside
        outputs.append(conv2d(*args, **kwargs))
        return outputs[-1]

    before = [p.detach().clone() for p in trainer.model.parameters()]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.nn.functional, "conv2d", watched)
        loss = trainer.train_step(batch.pin_memory())
    assert torch.isfinite(torch.tensor(loss)) and loss > 0
    assert outputs and all(o.dtype == torch.bfloat16 and o.is_cuda for o in outputs)
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))


@pytest.mark.parametrize("name", VIDEO)
def test_cuda_matches_cpu_in_float32(name: str) -> None:
    cpu_model = small(name).eval()
    context = torch.rand(2, 4, *FRAME)
    with torch.no_grad():
        expected = cpu_model(context, 6)
        gpu_model = small(name).to(CUDA).eval()
        gpu_model.load_state_dict(cpu_model.state_dict())
        # cuDNN may use TF32 for float32 convolutions: agree to about 1e-3, not bit for bit
        torch.testing.assert_close(gpu_model(context.to(CUDA), 6).cpu(), expected, atol=5e-3, rtol=0)


@pytest.mark.parametrize("name", VIDEO)
@pytest.mark.parametrize("mode", [True, "reduce-overhead"])
def test_compile_trains_and_predicts_as_eager(name: str, mode: bool | str, tmp_path: Path) -> None:
    trainer, batch = make_trainer(name, tmp_path, "32", compile=mode)
    keys = set(small(name).state_dict())
    losses = [trainer.train_step(batch) for _ in range(3)]
    assert all(torch.isfinite(torch.tensor(v)) for v in losses)
    assert set(trainer.model.state_dict()) == keys  # checkpoints load without torch.compile
    assert is_compiled(trainer.model)  # compiled, not fallen back
    eager = small(name).to(CUDA).eval()
    eager.load_state_dict(trainer.model.state_dict())
    context = batch[:, :4].to(CUDA)
    with torch.no_grad():
        compiled_out = trainer.model.eval()(context, 4)
        eager_out = eager(context, 4)
    torch.testing.assert_close(compiled_out, eager_out, atol=2e-3, rtol=1e-3)  # kernel choice, TF32


@pytest.mark.parametrize("name", VIDEO)
def test_trainer_gpu_run(name: str, tmp_path: Path) -> None:
    fabricate_mnist(tmp_path / "data")
    results = run_tiny([f"model={name}", "data=mnist", "trainer=gpu", "layers=2", f"paths.data_dir={tmp_path / 'data'}",
                        "data.num_workers=0"], tmp_path / "run")
    assert results["status"] == "completed"
    assert results["device"].startswith("cuda") and results["precision"] == "bf16"
    assert 0 < results["test"]["ssim"] <= 1 and len(results["test"]["psnr_per_step"]) == 10
