"""The model default follows the data's kind: the study's LSTM for sequences, its ConvLSTM for video,
so ``python -m vidpred.run -m data=kth,bair layers=1,2,3`` trains the ConvLSTM as written; a model
named on the command line wins, and one of the wrong kind is refused before any data is touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.config import compose_config, config_groups
from helpers.data_cli import assert_one_line_error
from helpers.data_fabricate import fabricate_bair, fabricate_kth
from helpers.run_cli import run_cli
from test_sweep import compose_with_hydra
from vidpred.data import family
from vidpred.models import MODELS

STUDY_MODEL = {"sequence": "lstm", "video": "convlstm"}


@pytest.mark.parametrize("data", config_groups("data"))
def test_each_data_set_composes_with_the_study_model_of_its_kind(data: str) -> None:
    kind = family(data).kind
    assert compose_config([f"data={data}"]).model.name == STUDY_MODEL[kind]
    # a model named on the command line wins over the data's default, in either order
    assert compose_config([f"data={data}", "model=last"]).model.name == "last"
    assert compose_config(["model=mean", f"data={data}"]).model.name == "mean"


def test_presets_and_the_search_keep_their_own_model_choices() -> None:
    # the search picks the model of the data set it is given, and searches that model's keys
    search = compose_config(["hparams_search=optuna", "data=mnist"])
    assert search.model.name == "convlstm" and "hidden" in search.hparams_search.params.model
    # a preset's sweep grid names the models: each of its jobs composes with that model
    grid = compose_with_hydra(["experiment=table2"]).hydra.sweeper.params
    for model in grid["model"].split(","):
        assert compose_config(["experiment=table2", "data=kth", f"model={model}"]).model.name == model


def test_the_headline_sweep_trains_the_convlstm_on_kth_and_bair(tmp_path: Path, capsys,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vidpred.experiment.save_samples", lambda *args, **kwargs: [])  # figures: tested elsewhere
    data_dir = tmp_path / "data"
    fabricate_kth(data_dir)
    fabricate_bair(data_dir)
    sweep = tmp_path / "sweep"
    # the README's command, made tiny (model.hidden is a key of both models)
    code, out, err = run_cli(capsys, "-m", "data=kth,bair", "layers=1,2,3", f"paths.data_dir={data_dir}",
                             "model.hidden=4", "trainer.max_steps=1",
                             "trainer.limit_val_batches=1", "trainer.limit_test_batches=1", "data.num_workers=0",
                             "trainer.progress=off", f"hydra.sweep.dir={sweep}")
    assert code == 0, err
    runs = {p.parent.name: json.loads(p.read_text()) for p in sweep.glob("*/metrics.json")}
    assert sorted(runs) == [f"{k}_convlstm_{d}_l{n}_s0" for k, (d, n) in
                            enumerate((d, n) for d in ("kth", "bair") for n in (1, 2, 3))]
    assert {r["status"] for r in runs.values()} == {"completed"}
    assert {r["choices"]["model"] for r in runs.values()} == {"convlstm"}


@pytest.mark.parametrize("model, data", [("lstm", "kth"), ("lstm", "mnist"), ("linear", "bair"),
                                         ("convlstm", "stocks"), ("convlstm", "series")])
def test_a_model_of_the_wrong_kind_is_refused_before_any_data_is_read(tmp_path: Path, capsys, model: str,
                                                                     data: str) -> None:
    empty = tmp_path / "no_data"  # nothing there: reading, downloading or generating would fail otherwise
    code, _, err = run_cli(capsys, f"model={model}", f"data={data}", f"paths.data_dir={empty}",
                           f"hydra.run.dir={tmp_path / 'run'}")
    kind = family(data).kind
    fits = ",".join(sorted(m for m, cls in MODELS.items() if kind in cls.kinds))
    assert_one_line_error(code, err, f"model={model} works on", f"data={data} is {kind}", f"model={fits}",
                          "leave model= out")
    assert not empty.exists()
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["status"] == "failed"
