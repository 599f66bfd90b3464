"""Data parallelism on the CPU: two Gloo processes started by torch.distributed.run on a tiny config.
One run folder, the single-process metrics, a stop and a lost process that resume exactly; and the
pieces (batch shares, SLURM's task layout) in-process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.config import compose_config, experiment_config
from vidpred.training import distributed
from vidpred.training.distributed import World
from vidpred.errors import ConfigError
from vidpred.experiment import run_experiment
from vidpred.training.batches import BatchPlan

TINY = ["data.train_size=512", "data.val_size=64", "data.test_size=97", "data.batch_size=32",
        "trainer.max_epochs=2", "trainer.progress=off", "model.hidden=16", "trainer.device=cpu"]
# four epochs: once the first has ended, the stop must land while training goes on, however fast it is
LONGER = ["data.train_size=2048", *(o for o in TINY[1:] if not o.startswith("trainer.max_epochs")),
          "trainer.max_epochs=4"]


def torchrun(args: list[str], cwd: Path, **popen) -> subprocess.CompletedProcess | subprocess.Popen:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "vidpred.run", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if popen:
        return subprocess.Popen(command, cwd=cwd, env=env, text=True, **popen)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def history(run_dir: Path) -> list[str]:
    return [line.rsplit(",", 1)[0] for line in (run_dir / "history.csv").read_text().splitlines()]


def test_two_processes_write_one_run_folder_with_the_single_process_metrics(tmp_path: Path) -> None:
    done = torchrun(TINY, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    folders = list((tmp_path / "outputs" / "runs").glob("*/*"))
    assert len(folders) == 1, folders  # both ranks named the same folder
    two = metrics(folders[0])
    assert two["status"] == "completed" and two["world_size"] == 2
    assert done.stdout.count("| run folder") == 1 and done.stdout.count("data sins:") == 1  # rank 1 printed nothing
    assert (folders[0] / "run.log").read_text().count("test mse") == 1
    torch.set_num_threads(1)
    one = run_experiment(experiment_config(TINY), tmp_path / "one")
    assert two["test"]["sequences"] == one["test"]["sequences"] == 97  # 97 items over 2 ranks, none twice
    np.testing.assert_allclose(two["test"]["mse_per_step"], one["test"]["mse_per_step"], rtol=1e-5)
    np.testing.assert_allclose(two["val"]["mse"], one["val"]["mse"], rtol=1e-5)
    assert two["train"]["steps"] == one["train"]["steps"] == 2 * 16  # the global batch of 32 is kept


def test_every_video_model_trains_on_two_processes_as_on_one(tmp_path: Path) -> None:
    """Each trainable video model of the registry (its small variant) with loss=adversarial, and TAU
    with loss=ddr, data-parallel on two Gloo processes and in one: the same losses of both players
    (the discriminator is data-parallel too), validation and test metrics, weights and buffers.
    SimVP's BatchNorm takes its statistics over the global batch. PredRNN-v2 without sampling coins:
    the coins, like the ConvLSTM's teacher forcing, come from each process's own generator."""
    import json

    from helpers.data_fabricate import fabricate_mnist
    from test_promises_models import VIDEO, tiny
    from vidpred.config import to_plain
    from vidpred.models import build_model

    fabricate_mnist(tmp_path / "data", train=0, test=60, test_seq=None)
    adversarial = ["loss=adversarial", "loss.channels=4", "loss.frame_discriminator=true", "loss.warmup_steps=1"]
    runs = {model: tiny(model, tmp_path / "data", "data.test_size=5", "trainer.max_epochs=1", *adversarial,
                        *(["model.sampling=none"] if model == "predrnn" else []))
            for model in VIDEO}
    runs["simvp_tau_ddr"] = tiny("simvp", tmp_path / "data", "data.test_size=5", "trainer.max_epochs=1",
                                 "model.translator=tau", "loss=ddr")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(Path(__file__).parent / "helpers" / "torchrun_runs.py"), str(tmp_path / "two"), json.dumps(runs)]
    done = subprocess.run(command, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    torch.set_num_threads(1)

    def losses(run_dir: Path) -> np.ndarray:
        rows = [line.split(",") for line in (run_dir / "history.csv").read_text().splitlines()]
        columns = [rows[0].index(c) for c in ("train_loss", "d_loss", "g_adv") if c in rows[0]]
        return np.array([[float(row[c] or "nan") for c in columns] for row in rows[1:] if row[columns[0]]])

    for name, overrides in runs.items():
        one = run_experiment(experiment_config(overrides), tmp_path / "one" / name)
        two = metrics(tmp_path / "two" / name)
        assert two["world_size"] == 2 and two["test"]["sequences"] == one["test"]["sequences"] == 5, name
        np.testing.assert_allclose(two["test"]["mse_per_step"], one["test"]["mse_per_step"], rtol=1e-4, err_msg=name)
        np.testing.assert_allclose(two["val"]["mse"], one["val"]["mse"], rtol=1e-4, err_msg=name)
        mine = losses(tmp_path / "one" / name)
        assert mine.shape == ((4, 3) if name in VIDEO else (4, 1)), name
        if name in VIDEO:  # the first step trains the reconstruction only
            assert np.isnan(mine[0, 1:]).all() and np.isfinite(mine[1:]).all(), name
        np.testing.assert_allclose(losses(tmp_path / "two" / name), mine, rtol=1e-4, err_msg=name)
        states = [torch.load(tmp_path / folder / "checkpoints" / "last.pt", weights_only=True)["model"]
                  for folder in (f"two/{name}", f"one/{name}")]
        settings = to_plain(compose_config(overrides).model)
        parameters = {key for key, _ in build_model(settings.pop("name"), "video", (1, 64, 64), settings).named_parameters()}
        for key, value in states[1].items():
            # buffers (BatchNorm's statistics, the sampling clock) closely; weights to a tenth of one
            # Adam step (lr 1e-2): Adam divides each gradient by its own size, which magnifies the
            # rounding of near-zero ones
            tolerance = dict(rtol=0, atol=1e-3) if key in parameters else dict(rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(states[0][key], value, **tolerance, msg=lambda m: f"{name}: {key}: {m}")


def stop_after_training_started(run_dir: Path, proc: subprocess.Popen, action) -> tuple[str, str]:  # noqa: ANN001
    deadline = time.monotonic() + 120
    while not (run_dir / "history.csv").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    action(proc)  # the first epoch's end wrote history.csv: the second epoch is under way
    return proc.communicate(timeout=120)


def kill_rank_1(proc: subprocess.Popen) -> None:
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    for pid in children:
        if "RANK=1" in Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0"):
            os.kill(int(pid), signal.SIGKILL)
            return
    raise AssertionError(f"no rank 1 among {children}")


@pytest.mark.parametrize("how", ["sigterm", pytest.param("rank_killed", marks=pytest.mark.slow)])
def test_a_stopped_or_broken_run_resumes_to_the_uninterrupted_result(tmp_path: Path, how: str) -> None:
    straight = tmp_path / "straight"
    assert torchrun([*LONGER, f"hydra.run.dir={straight}"], tmp_path).returncode == 0
    run_dir = tmp_path / "run"
    proc = torchrun([*LONGER, f"hydra.run.dir={run_dir}"], tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if how == "sigterm":
        _, err = stop_after_training_started(run_dir, proc, lambda p: p.send_signal(signal.SIGTERM))
        assert "interrupted (SIGTERM: saved " in err and ": run the same command with hydra.run.dir=" in err, err
        assert metrics(run_dir)["error"].startswith("interrupted")
    else:
        _, err = stop_after_training_started(run_dir, proc, kill_rank_1)
        assert "error: rank 1 (pid " in err and "stopped without a word (killed?)" in err, err
        assert metrics(run_dir)["error"].startswith("rank 1 (pid ")
    assert metrics(run_dir)["status"] == "failed" and (run_dir / "checkpoints" / "last.pt").is_file()
    done = torchrun([*LONGER, f"hydra.run.dir={run_dir}"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    resumed, reference = metrics(run_dir), metrics(straight)
    assert resumed["train"]["resumed_from_step"] > 0
    assert resumed["test"]["mse_per_step"] == reference["test"]["mse_per_step"]
    assert history(run_dir) == history(straight)


def test_a_mistake_on_every_rank_is_one_line_once_before_any_data(tmp_path: Path) -> None:
    done = torchrun([*TINY, "data.batch_size=33", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("error")]
    # torchrun then adds its own report of the failed processes; vidpred's part is this one line
    assert errors == ["error: data.batch_size=33 must divide by the 2 processes (it is the global batch, shared "
                      "out among them)"], done.stderr
    assert "data sins:" not in done.stdout  # refused before the data was generated
    assert metrics(tmp_path / "run")["status"] == "failed"


def test_batch_plans_share_out_the_single_process_batches() -> None:
    single = BatchPlan(10, 4, seed=3, epoch=1)
    halves = [BatchPlan(10, 4, seed=3, epoch=1, world=World(rank, 2)) for rank in (0, 1)]
    whole = [indices for indices, _, _ in single.shares()]
    assert [len(b) for b in whole] == [4, 4, 2] and sorted(sum(whole, [])) == list(range(10))
    for k, (a, b) in enumerate(zip(*(plan.shares() for plan in halves))):
        assert a[0] + b[0] == whole[k] and a[1] == b[1] == len(whole[k]) and not a[2] and not b[2]
    # a last batch of one item on two ranks: rank 1 trains on a weight-0 stand-in
    last = [list(BatchPlan(9, 4, seed=3, epoch=0, world=World(rank, 2)).shares())[-1] for rank in (0, 1)]
    assert last[0][1:] == (1, False) and last[1][1:] == (1, True) and last[1][0] == last[0][0]
    # a resume skips whole global batches, whatever the number of processes
    assert [i for i, _, _ in BatchPlan(10, 4, seed=3, epoch=1, skip=1).shares()] == whole[1:]


def test_the_global_batch_must_divide_by_the_processes() -> None:
    from vidpred.data.base import ArrayDataset, DataSplits
    from vidpred.models import build_model
    from vidpred.training.precision import Precision
    from vidpred.training.settings import LoaderConfig, OptimConfig, TrainerConfig
    from vidpred.training.trainer import Trainer

    array = ArrayDataset(np.zeros((8, 4, 1), dtype=np.float32))
    data = DataSplits("x", "sequence", 2, 2, (1,), array, array, array)
    model = build_model("lstm", "sequence", (1,), {"layers": 1, "hidden": 4})
    with pytest.raises(ConfigError, match="data.batch_size=6 must divide by the 4 processes"):
        Trainer(model, data, Path("unused"), TrainerConfig(), OptimConfig(), LoaderConfig(batch_size=6),
                Precision.create("32", torch.device("cpu")), 0, world=World(0, 4))


def test_slurm_tasks_become_the_torchrun_environment() -> None:
    env = {"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_NTASKS_PER_NODE": "4(x2)",
           "SLURM_JOB_NODELIST": "gpu[07-08]", "SLURM_JOB_ID": "123456"}
    before = dict(os.environ)
    world = distributed.from_environment(env)
    translated = distributed.slurm_environment(env)
    # the rendezvous travels with the world, not through this process's environment
    assert world == World(rank=5, size=8, local_rank=1, address=f"gpu07:{translated['MASTER_PORT']}")
    assert dict(os.environ) == before
    assert translated["MASTER_ADDR"] == "gpu07" and translated["LOCAL_WORLD_SIZE"] == "4"
    assert 20000 <= int(translated["MASTER_PORT"]) < 40000
    assert distributed.first_host("node1,node2") == "node1" and distributed.first_host("a[3,5-9]") == "a3"
    assert distributed.from_environment({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"}) == distributed.SINGLE
    torchrun_env = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "SLURM_NTASKS": "8", "SLURM_PROCID": "3"}
    assert distributed.from_environment(torchrun_env) == World(1, 2, 1)  # torchrun inside a SLURM job wins
