"""The harness's promises for every model, read from the registry: a model added to
``vidpred.models`` and ``conf/model`` joins these tests by itself.

- an interrupted run resumes to the uninterrupted one bit for bit (weights, buffers such as the
  sampling schedules' clocks and BatchNorm's statistics, history, metrics);
- ``python -m vidpred.predict`` on a test item gives the evaluation's numbers, and predicts
  horizons longer than the trained one;
- an impossible setting is one line; a model is refused on data of a kind it does not declare
  before any data is read;
- ``loss=adversarial`` trains every video model.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.config import compose_config, experiment_config, small_model_overrides
from helpers.data_cli import assert_one_line_error, cli
from helpers.data_fabricate import fabricate_mnist
from helpers.run_cli import run_cli
from vidpred import load_run
from vidpred.config import to_plain
from vidpred.data import build_data, FAMILIES
from vidpred.errors import ConfigError
from vidpred.models import MODELS
from vidpred.predict import main as predict_main
from vidpred.data import split_data_keys
from vidpred.experiment import run_experiment

pytestmark = pytest.mark.usefixtures("one_thread_no_figures")

TRAINABLE = sorted(name for name, cls in MODELS.items() if cls.trainable)
VIDEO = [name for name in TRAINABLE if "video" in MODELS[name].kinds]
#: settings that make a short run exercise what a model keeps between steps (a sampling schedule
#: that moves within 8 steps, teacher forcing that draws coins)
MOVING = {"lstm": ["model.teacher_forcing=0.5"],
          "convlstm": ["model.teacher_forcing=0.5", "model.teacher_forcing_decay_steps=6"],
          "predrnn": ["model.sampling_start=2", "model.sampling_end=6", "model.sampling_alpha=2"]}


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("digits")
    fabricate_mnist(root, train=0, test=60, test_seq=None)
    return root


MNIST = ["data=mnist", "data.train_digits=test", "data.test_source=generated", "data.train_size=16",
         "data.val_size=4", "data.test_size=6", "data.context=3", "data.horizon=3"]


def tiny(model: str, digits: Path, *extra: str) -> list[str]:
    """A two-epoch run of four steps each of ``model``'s small variant (video: Moving MNIST from
    fabricated digits, 3 -> 3 frames; sequences: sines)."""
    data = ([*MNIST, f"paths.data_dir={digits}", "data.num_workers=0"] if "video" in MODELS[model].kinds
            else ["data=sins", "data.train_size=64", "data.val_size=16", "data.test_size=16", "data.context=5",
                  "data.horizon=4"])
    return [f"model={model}", *data, "data.batch_size=4" if "video" in MODELS[model].kinds else "data.batch_size=16",
            "trainer.max_epochs=2", "trainer.log_every_n_steps=1", "trainer.progress=off", "trainer.device=cpu",
            "optim.lr=1e-2", *small_model_overrides(model), *extra]


class FinalState:
    """Records the model's weights and buffers when training ends."""

    def __init__(self, stop: int | None = None) -> None:
        self.stop, self.state = stop, None

    def on_train_batch_end(self, trainer, step: int, loss: float) -> None:  # noqa: ANN001
        if step == self.stop:
            raise KeyboardInterrupt

    def on_fit_end(self, trainer) -> None:  # noqa: ANN001
        self.state = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def history(run_dir: Path) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k != "time"} for row in csv.DictReader(open(run_dir / "history.csv"))]


@pytest.mark.parametrize("model", TRAINABLE)
def test_an_interrupted_run_resumes_bit_for_bit(model: str, digits: Path, tmp_path: Path) -> None:
    settings = tiny(model, digits, *MOVING.get(model, []))
    if model == "simvp":
        settings += ["model.translator=tau", "loss=ddr"]
    straight, resumed = FinalState(), FinalState()
    expected = run_experiment(experiment_config(settings), tmp_path / "straight", [straight])
    with pytest.raises(KeyboardInterrupt):
        run_experiment(experiment_config(settings), tmp_path / "resumed", [FinalState(stop=3)])
    results = run_experiment(experiment_config(settings), tmp_path / "resumed", [resumed])
    assert results["train"]["resumed_from_step"] == 3 and results["train"]["steps"] == expected["train"]["steps"]
    assert straight.state.keys() == resumed.state.keys()
    for key, value in straight.state.items():
        assert torch.equal(value, resumed.state[key]), key
    if "sampling_step" in straight.state:
        assert int(straight.state["sampling_step"]) == expected["train"]["steps"]
    assert history(tmp_path / "resumed") == history(tmp_path / "straight")
    assert results["test"] == expected["test"] and results["val"] == expected["val"]


@pytest.mark.parametrize("model", VIDEO)
def test_predict_on_a_test_item_equals_the_evaluation(model: str, digits: Path, tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    settings = tiny(model, digits, "trainer.max_epochs=1")
    results = run_experiment(experiment_config(settings), run_dir)
    data_settings = [s for s in settings if s.startswith("data.") and "batch_size" not in s and "workers" not in s]
    code, _, err = cli(capsys, "show", "mnist", "--data-dir", digits, "--split", "test", "--index", "2",
                       "--out", tmp_path / "item.npy", *data_settings)
    assert code == 0, err
    item = np.load(tmp_path / "item.npy")
    cfg = compose_config(settings)
    data = build_data("mnist", split_data_keys(to_plain(cfg.data))[0], digits)
    test = torch.stack([data.test[i] for i in range(len(data.test))])
    assert np.array_equal(test[2].numpy(), item)
    run = load_run(run_dir)
    with torch.no_grad():  # the evaluation's forward pass: the test split in batches of 4
        evaluated = torch.cat([run.model(chunk[:, :3], 3) for chunk in test.split(4)]).numpy()
    predict_main([str(run_dir), "--input", str(tmp_path / "item.npy"), "--out", str(tmp_path / "p"), "--at", "3"])
    mine = np.load(tmp_path / "p" / "item.npy")
    np.testing.assert_allclose(mine, evaluated[2], rtol=1e-5, atol=1e-6)
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    np.testing.assert_allclose(summary["predictions"][0]["scores"]["mse"],
                               float(((evaluated[2] - item[3:]) ** 2).mean()), rtol=1e-5)
    assert results["test"]["sequences"] == 6
    # a longer horizon than trained: its first steps are the trained horizon's
    predict_main([str(run_dir), "--input", str(tmp_path / "item.npy"), "--out", str(tmp_path / "long"),
                  "--at", "3", "--horizon", "8"])
    longer = np.load(tmp_path / "long" / "item.npy")
    assert longer.shape == (8, 1, 64, 64) and np.isfinite(longer).all()
    np.testing.assert_allclose(longer[:3], mine, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_an_unknown_model_key_is_one_line(model: str, digits: Path, tmp_path: Path, capsys) -> None:
    data = ([*MNIST, f"paths.data_dir={digits}"] if "video" in MODELS[model].kinds
            else ["data=sins", "data.train_size=16", "data.val_size=4", "data.test_size=4"])
    code, _, err = run_cli(capsys, f"model={model}", *data, "+model.colour=3", f"hydra.run.dir={tmp_path / 'run'}")
    assert_one_line_error(code, err, "model: got an unexpected keyword argument 'colour'; accepted keys: model.")


@pytest.mark.parametrize("overrides, message", [
    (["model=predrnn", "model.sampling=sometimes"], "model.sampling must be one of reverse, linear, none"),
    (["model=predrnn", "model.patch_size=3"], "model.patch_size=3 must divide the frame size 64x64"),
    (["model=predrnn", "model.decouple_beta=-1"], "model.decouple_beta must be 0 (off) or positive"),
    (["model=predrnn", "model.sampling_start=9", "model.sampling_end=5"], "must satisfy 0 <= start <= end"),
    (["model=predrnn", "model.hidden=abc"], "model.hidden must be a whole number, got 'abc'"),
    (["model=simvp", "model.translator=convlstm"], "model.translator must be one of gsta, tau, got 'convlstm'"),
    (["model=simvp", "model.spatial_hidden=5"], "model.spatial_hidden must be even"),
    (["model=simvp", "model.spatial_layers=16"], "its size 64x64 must divide by 256"),
    (["model=simvp", "model.translator_layers=1"], "model.translator_layers must be at least 2"),
])
def test_impossible_settings_of_the_new_models_are_one_line(overrides: list[str], message: str, digits: Path,
                                                            tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, *overrides, *MNIST, f"paths.data_dir={digits}", "trainer.progress=off",
                           f"hydra.run.dir={tmp_path / 'run'}")
    assert_one_line_error(code, err, message)


def refusals() -> list[tuple[str, str]]:
    """Per model and kind of data it does not declare: (model, the first data set of that kind read
    from files)."""
    first = {}
    for data, family in FAMILIES.items():
        if family.reads_files:
            first.setdefault(family.kind, data)
    return [(model, data) for model in sorted(MODELS) for kind, data in sorted(first.items())
            if kind not in MODELS[model].kinds]


@pytest.mark.parametrize("model, data", refusals())
def test_a_model_refuses_data_of_another_kind_before_reading_any(model: str, data: str, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()  # no data at all: reading any would be a missing-file error instead
    with pytest.raises(ConfigError, match=f"model={model} works on .* and data={data} is "):
        run_experiment(experiment_config([f"model={model}", f"data={data}", f"paths.data_dir={tmp_path / 'empty'}"]),
                       tmp_path / "run")
    assert list((tmp_path / "empty").iterdir()) == []


@pytest.mark.parametrize("model", VIDEO)
def test_loss_adversarial_trains_every_video_model(model: str, digits: Path, tmp_path: Path) -> None:
    settings = tiny(model, digits, "trainer.max_epochs=1", "loss=adversarial", "loss.channels=4", "loss.warmup_steps=1")
    discriminators = []

    class Watch:
        def on_train_batch_end(self, trainer, step: int, loss: float) -> None:  # noqa: ANN001
            discriminators.append(trainer.discriminator.clip.score.parametrizations.weight.original.detach().clone())

    results = run_experiment(experiment_config(settings), tmp_path / "run", [Watch()])
    assert results["status"] == "completed" and results["choices"]["loss"] == "adversarial"
    rows = history(tmp_path / "run")
    assert [r["d_loss"] != "" for r in rows if r["train_loss"]] == [False, True, True, True]
    assert all(not torch.equal(a, b) for a, b in zip(discriminators, discriminators[1:]))  # it trains every step
