"""Registry-driven: every model x every data set in conf/ composes and runs a training step.

New config options join this matrix by themselves. Pairs of the wrong kind (a sequence model on
video) must fail with the one-line config error that names the models that fit.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

from helpers.config import REPO, compose_config, config_groups, run_tiny
from vidpred.errors import ConfigError
from vidpred.data import FAMILIES, family
from vidpred.models import MODELS

MODELS_IN_CONF = config_groups("model")
DATA_IN_CONF = config_groups("data")


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny fabricated files for the data sets that read from disk (see data_fabricate.py)."""
    root = tmp_path_factory.mktemp("data_root")
    fabricate = REPO / "tests" / "helpers" / "data_fabricate.py"
    if fabricate.exists():
        spec = importlib.util.spec_from_file_location("data_fabricate", fabricate)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.fabricate_all(root)
    return root


def test_every_config_option_is_registered() -> None:
    assert set(MODELS_IN_CONF) == set(MODELS)
    assert set(DATA_IN_CONF) == set(FAMILIES.names())
    for name in DATA_IN_CONF:
        assert compose_config([f"data={name}"]).data.name == name


@pytest.mark.parametrize("data", DATA_IN_CONF)
@pytest.mark.parametrize("model", MODELS_IN_CONF)
def test_model_x_data_runs_a_training_step(model: str, data: str, data_root: Path, tmp_path: Path) -> None:
    overrides = [f"model={model}", f"data={data}", "layers=2"]
    if family(data).reads_files:
        overrides.append(f"paths.data_dir={data_root}")
    if family(data).kind not in MODELS[model].kinds:  # exactly the pairs of a kind the model does not declare
        with pytest.raises(ConfigError, match=f"model={model} works on"):
            run_tiny(overrides, tmp_path)
        return
    with pytest.MonkeyPatch.context() as patch:  # the sample figures have tests of their own
        patch.setattr("vidpred.experiment.save_samples", lambda *args, **kwargs: [])
        results = run_tiny(overrides, tmp_path)
    assert results["status"] == "completed"
    assert math.isfinite(results["test"]["mse"]) and results["test"]["mse"] >= 0
    assert results["choices"] == {**results["choices"], "model": model, "data": data, "layers": 2}
    if MODELS[model].trainable:
        assert results["train"]["steps"] == 2
    assert (tmp_path / "metrics.json").is_file() and (tmp_path / "checkpoints" / "last.pt").is_file()


@pytest.mark.parametrize("data", DATA_IN_CONF)
def test_every_data_set_declares_what_its_settings_ask_for(data: str, data_root: Path) -> None:
    """The geometry a run checks before it reads or generates anything is the data it then builds."""
    from vidpred.config import to_plain
    from vidpred.data import build_data
    from vidpred.data.base import ArrayDataset

    cfg = compose_config([f"data={data}", f"paths.data_dir={data_root}"])
    cfg = compose_config([f"data={data}", f"paths.data_dir={data_root}",
                          *(f"data.{k}={n}" for k, n in (("train_size", 16), ("val_size", 8), ("test_size", 8))
                            if k in cfg.data)])
    params = {k: v for k, v in to_plain(cfg.data).items() if k not in ("name", "batch_size", "num_workers")}
    geometry = family(data).plan(params)
    built = build_data(data, params, data_root)
    assert geometry.frame_shape in (None, built.frame_shape)
    assert geometry.frame_shape is not None or built.kind == "sequence"  # video models need it beforehand
    held = sum(len(s) for s in (built.train, built.val, built.test) if isinstance(s, ArrayDataset))
    assert geometry.held_items in (None, held)
    assert geometry.train_items in (None, len(built.train))
