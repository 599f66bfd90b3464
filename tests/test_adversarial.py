"""loss=adversarial and metrics.lpips: a short ConvLSTM run on Moving MNIST made from the real test
digits trains with a discriminator, is interrupted, resumes to the uninterrupted result and reports
mse / psnr / ssim / lpips (with fixed random LPIPS weights); the GAN losses; getting the weights."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest
import torch

from helpers.config import InterruptAt, experiment_config
from helpers.data_cli import assert_one_line_error, cli
from helpers.data_http import serve
from helpers.run_cli import run_cli
from test_lpips import random_weights, save_weights
from vidpred.data import lpips_weights as weight_files
from vidpred.experiment import run_experiment
from vidpred.training.losses import Discriminator, discriminator_loss, generator_adversarial


@pytest.fixture(scope="module")
def lpips_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_weights(tmp_path_factory.mktemp("lpips"), *random_weights(1))


def tiny(mnist_root: Path, lpips_weights: Path) -> list[str]:
    return ["model=convlstm", "data=mnist", f"paths.data_dir={mnist_root}", "data.train_digits=test",
            "data.test_source=generated", "data.train_size=24", "data.val_size=4", "data.test_size=4",
            "data.batch_size=4", "data.num_workers=0", "model.hidden=8", "model.patch_size=4",
            "trainer.max_epochs=2", "trainer.log_every_n_steps=2", "trainer.progress=off",
            "loss=adversarial", "loss.warmup_steps=2", "loss.frame_discriminator=true", "loss.channels=4",
            "metrics.lpips=true", f"metrics.lpips_weights={lpips_weights}"]


def history(run_dir: Path) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k != "time"} for row in csv.DictReader(open(run_dir / "history.csv"))]


def test_an_adversarial_run_resumes_exactly_and_reports_lpips(tmp_path: Path, mnist_root: Path,
                                                              lpips_weights: Path) -> None:
    settings = tiny(mnist_root, lpips_weights)
    straight = run_experiment(experiment_config(settings), tmp_path / "straight")
    with pytest.raises(KeyboardInterrupt):
        run_experiment(experiment_config(settings), tmp_path / "resumed", callbacks=[InterruptAt(7)])
    resumed = run_experiment(experiment_config(settings), tmp_path / "resumed")
    assert resumed["train"]["resumed_from_step"] == 7 and resumed["train"]["steps"] == straight["train"]["steps"] == 12
    assert resumed["test"] == straight["test"]
    assert history(tmp_path / "resumed") == history(tmp_path / "straight")
    test = straight["test"]
    assert {"mse", "psnr", "ssim", "lpips"} <= set(test) and len(test["lpips_per_step"]) == 10
    assert 0 < test["lpips"] and straight["choices"]["loss"] == "adversarial"
    rows = history(tmp_path / "straight")
    # the discriminator waits out the 2 warm-up steps, then both players' losses are logged
    assert [r["d_loss"] != "" for r in rows if r["train_loss"]] == [False, True, True, True, True, True]
    assert all(float(r["d_loss"]) > 0 and r["g_adv"] != "" for r in rows if r["d_loss"])
    state = torch.load(tmp_path / "straight" / "checkpoints" / "last.pt", weights_only=True)
    assert set(state["discriminator"]) == {"model", "optimizer", "scaler"}
    assert any(key.endswith("parametrizations.weight.original") for key in state["discriminator"]["model"])


def test_the_discriminator_trains_only_after_the_warm_up(tmp_path: Path, mnist_root: Path,
                                                          lpips_weights: Path) -> None:
    weights = []

    class Watch:
        def on_train_batch_end(self, trainer, step: int, loss: float) -> None:  # noqa: ANN001
            weights.append(trainer.discriminator.clip.score.parametrizations.weight.original.detach().clone())

    settings = [*tiny(mnist_root, lpips_weights), "loss.warmup_steps=3", "metrics.lpips=false",
                "trainer.max_epochs=1"]
    run_experiment(experiment_config(settings), tmp_path / "run", callbacks=[Watch()])
    changed = [not torch.equal(a, b) for a, b in zip(weights, weights[1:])]
    assert changed == [False, False, True, True, True]  # steps 1-3 reconstruction only


def test_gan_losses_and_discriminator_shapes() -> None:
    real, fake = torch.tensor([1.0, 0.5]), torch.tensor([0.0, 0.5])
    torch.testing.assert_close(discriminator_loss("lsgan", real, fake), torch.tensor([0.0, 0.5]))
    torch.testing.assert_close(discriminator_loss("hinge", real, fake), torch.tensor([1.0, 2.0]))
    torch.testing.assert_close(generator_adversarial("lsgan", fake), torch.tensor([1.0, 0.25]))
    torch.testing.assert_close(generator_adversarial("hinge", fake), torch.tensor([-0.0, -0.5]))
    judge = Discriminator((3, 32, 32), width=4, frames=True)
    scores = judge(torch.rand(2, 5, 3, 32, 32), torch.rand(2, 4, 3, 32, 32))
    assert [s.shape for s in scores] == [torch.Size([2]), torch.Size([2])]


@pytest.mark.parametrize("args, message", [
    (["loss=adversarial"], "loss=adversarial judges video frames; data=sins holds sequences"),
    (["loss=adversarial", "loss.gan=wasserstein"], "loss.gan must be one of lsgan, hinge"),
    (["metrics.lpips=true"], "metrics.lpips=true scores video frames; data=sins holds sequences"),
])
def test_mistakes_are_one_line(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    code, _, err = run_cli(capsys, "data.train_size=32", "data.val_size=8", "data.test_size=8", *args,
                           f"hydra.run.dir={tmp_path / 'run'}")
    assert_one_line_error(code, err, message)


def test_missing_lpips_weights_name_the_download(tmp_path: Path, mnist_root: Path, lpips_weights: Path) -> None:
    settings = [*tiny(mnist_root, lpips_weights), f"metrics.lpips_weights={tmp_path / 'none'}"]
    with pytest.raises(Exception, match="python -m vidpred.data download lpips"):
        run_experiment(experiment_config(settings), tmp_path / "run")


def test_download_lpips_checks_each_file(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """The published files cannot be fetched here: a local server serves stand-ins, checked against
    their own digests; against the published digests they are refused and deleted."""
    folder = save_weights(tmp_path / "made", *random_weights(2))
    bodies = {spec.filename: (folder / spec.filename).read_bytes() for spec in weight_files.WEIGHT_FILES}
    with serve() as server:
        for name, body in bodies.items():
            server.files[f"/{name}"] = body
        code, _, err = cli(capsys, "download", "lpips", "--data-dir", tmp_path / "published", "--mirror", server.url)
        assert_one_line_error(code, err, "alexnet-owt-7be5be79.pth: size", "expected 244408911",
                              "the download was deleted")
        assert not list((tmp_path / "published").rglob("*.pth"))
        stand_ins = tuple(weight_files.WeightFile(spec.filename, spec.url, hashlib.sha256(bodies[spec.filename]).hexdigest()[:8],
                                           hashlib.sha256(bodies[spec.filename]).hexdigest(), len(bodies[spec.filename]))
                          for spec in weight_files.WEIGHT_FILES)
        monkeypatch.setattr(weight_files, "WEIGHT_FILES", stand_ins)
        code, out, err = cli(capsys, "download", "lpips", "--data-dir", tmp_path / "data", "--mirror", server.url)
    assert code == 0 and out.count("ok ") == 2, err
    code, out, err = cli(capsys, "verify", "lpips", "--data-dir", tmp_path / "data")
    assert code == 0, err
    (tmp_path / "data" / "lpips" / weight_files.LINEAR.filename).write_bytes(b"changed")
    code, _, err = cli(capsys, "verify", "lpips", "--data-dir", tmp_path / "data")
    assert_one_line_error(code, err, "alex.pth", "python -m vidpred.data download lpips")


def test_the_report_shows_the_same_item_for_both_losses(tmp_path: Path, mnist_root: Path, lpips_weights: Path) -> None:
    from vidpred.report import build_report

    settings = [s for s in tiny(mnist_root, lpips_weights) if not s.startswith(("loss", "metrics"))]
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    for loss in ("mse", "adversarial"):
        run_experiment(experiment_config([*settings, f"loss={loss}", "trainer.max_epochs=1"]), sweep / loss)
    report = build_report([sweep], tmp_path / "report")
    compare = [f for f in report.figures if f.name.startswith("losses_")]
    assert [f.name for f in compare] == ["losses_mnist_convlstm_l1_sweep.png"]
    markdown = report.markdown.read_text()
    assert "The same test item, trained with different losses" in markdown
    runs_csv = (tmp_path / "report" / "runs.csv").read_text().splitlines()[0]
    assert "loss" in runs_csv.split(",")
    # each loss has its own Table 2 row and pivot row: an adversarial run never averages into mse's
    table2 = (tmp_path / "report" / "table2.md").read_text()
    # (tiny runs: rows of their own that say how they differ from the study's settings)
    assert "| ConvLSTM, 1 layer [data.test_size=" in table2 and "| ConvLSTM (loss=adversarial), 1 layer [data." in table2
    assert "(n=2)" not in table2 and "(n=1)" in table2
    pivot = (tmp_path / "report" / "pivot.md").read_text()
    assert "| convlstm, adversarial, 1 |" in pivot and "| convlstm, mse, 1 |" in pivot
