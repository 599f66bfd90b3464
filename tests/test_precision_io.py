"""Precision settings and atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vidpred.errors import ConfigError
from vidpred.io import atomic_path, write_json
from vidpred.training.precision import Precision, resolve_device

CPU = torch.device("cpu")


@pytest.mark.parametrize("given, name", [(32, "32"), ("32-true", "32"), ("bf16", "bf16"),
                                         ("bf16-mixed", "bf16"), ("BF16", "bf16")])
def test_precision_aliases(given, name: str) -> None:
    assert Precision.create(given, CPU).name == name


def test_bf16_autocast_on_the_cpu_lowers_matmuls() -> None:
    precision = Precision.create("bf16", CPU)
    a, b = torch.rand(4, 4), torch.rand(4, 4)
    with precision.autocast():
        assert (a @ b).dtype == torch.bfloat16
    with Precision.create(32, CPU).autocast():
        assert (a @ b).dtype == torch.float32
    assert not precision.grad_scaler().is_enabled()


def test_precision_and_device_errors() -> None:
    with pytest.raises(ConfigError, match="choose auto, 32, bf16 or 16"):
        Precision.create("64", CPU)
    with pytest.raises(ConfigError, match="needs a CUDA GPU"):
        Precision.create(16, CPU)
    with pytest.raises(ConfigError, match="unknown trainer.device 'tpu'"):
        resolve_device("tpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    write_json(target, {"status": "completed"})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("{half")
            raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"status": "completed"}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_json_has_no_nan(tmp_path: Path) -> None:
    write_json(tmp_path / "m.json", {"mse": float("nan"), "per_step": [1.0, float("inf")]})
    assert json.loads((tmp_path / "m.json").read_text()) == {"mse": None, "per_step": [1.0, None]}


def test_auto_precision_is_bf16_only_for_video_on_a_gpu() -> None:
    assert Precision.create("auto", CPU, "sequence").name == "32"
    assert Precision.create("auto", CPU, "video").name == "32"  # the CPU trainer stays exact


def test_a_compilation_failure_falls_back_to_eager(caplog) -> None:  # noqa: ANN001
    import logging

    from vidpred.data.base import ArrayDataset, DataSplits
    from vidpred.models import build_model
    from vidpred.training.settings import LoaderConfig, OptimConfig, TrainerConfig
    from vidpred.training.accel import compile_forward, is_compiled
    from vidpred.training.trainer import Trainer

    def failing_backend(graph, example_inputs):  # noqa: ANN001, ANN202 - a compiler that cannot compile
        raise RuntimeError("no compiler here")

    array = ArrayDataset(torch.rand(8, 6, 1, 8, 8).numpy())
    data = DataSplits("x", "video", 3, 3, (1, 8, 8), array, array, array)
    model = build_model("convlstm", "video", (1, 8, 8), {"layers": 1, "hidden": 4})
    trainer = Trainer(model, data, Path("unused"), TrainerConfig(progress="off"), OptimConfig(),
                      LoaderConfig(batch_size=4), Precision.create("32", CPU, "video"), 0)
    compile_forward(model, backend=failing_backend)
    with caplog.at_level(logging.WARNING, logger="vidpred"):
        loss = trainer.train_step(torch.from_numpy(array.array[:4]))
    assert loss > 0 and "torch.compile failed" in caplog.text and "no compiler here" in caplog.text
    assert not is_compiled(model)  # eager from now on
    with pytest.raises(RuntimeError, match="boom"):  # a failure of the model itself is not swallowed
        trainer.model.forward = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom"))
        trainer.train_step(torch.from_numpy(array.array[:4]))


def test_a_compiled_model_trains_and_predicts_as_the_eager_one() -> None:
    """trainer.compile on the CPU, with Dynamo's graph capture and no code generation (the ``eager``
    backend: no C++ compiler involved): the step's loss and the prediction equal the eager model's,
    and the state_dict keys are the module's own."""
    from vidpred.data.base import ArrayDataset, DataSplits
    from vidpred.models import build_model
    from vidpred.training.accel import compile_forward, is_compiled
    from vidpred.training.settings import LoaderConfig, OptimConfig, TrainerConfig
    from vidpred.training.trainer import Trainer

    array = ArrayDataset(torch.rand(8, 6, 1, 8, 8).numpy())
    data = DataSplits("x", "video", 3, 3, (1, 8, 8), array, array, array)
    trainers = []
    for compiled in (False, True):
        torch.manual_seed(0)
        model = build_model("convlstm", "video", (1, 8, 8), {"layers": 1, "hidden": 4})
        if compiled:
            compile_forward(model, backend="eager")
        trainers.append(Trainer(model, data, Path("unused"), TrainerConfig(progress="off"), OptimConfig(),
                                LoaderConfig(batch_size=4), Precision.create("32", CPU, "video"), 0))
    eager, compiled = trainers
    assert is_compiled(compiled.model) and not is_compiled(eager.model)
    assert set(compiled.model.state_dict()) == set(eager.model.state_dict())
    batch = torch.from_numpy(array.array[:4])
    assert compiled.train_step(batch) == eager.train_step(batch)
    assert torch.equal(compiled.predict("test", [0, 1])[2], eager.predict("test", [0, 1])[2])
