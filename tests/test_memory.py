"""The memory a run needs, estimated before it builds anything: a setting that cannot fit is refused
in one line with the estimate, the estimate bounds the peak memory a real run reaches, and the
study's own settings fit a laptop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers.config import compose_config
from helpers.data_cli import assert_one_line_error
from helpers.data_fabricate import fabricate_mnist
from helpers.run_cli import run_cli
from vidpred import config
from vidpred.data import split_data_keys
from vidpred.experiment import memory_need, plan_experiment
from vidpred.training import memory
from vidpred.training.losses import LossConfig
from vidpred.training.settings import LoaderConfig

CPU = torch.device("cpu")


def planned(overrides: list[str]) -> memory.Need:
    """The estimate ``python -m vidpred.run OVERRIDES`` checks before it builds its data."""
    plain = config.to_plain(compose_config(overrides))
    data, loader_keys = split_data_keys(plain["data"])
    _, geometry, probe = plan_experiment(plain["data"]["name"], data, plain["model"]["name"],
                                         {k: v for k, v in plain["model"].items() if k != "name"})
    loader = LoaderConfig(**loader_keys)
    need = memory_need(probe, geometry, data, loader, LossConfig(**plain["loss"]))
    assert need is not None
    return need


def test_a_setting_that_cannot_fit_is_refused_before_any_data_is_made(tmp_path: Path, capsys) -> None:
    # 10 million steps per item: terabytes on any machine (the 100000 steps: about 42 GB)
    code, out, err = run_cli(capsys, "data.horizon=10000000", "trainer.progress=off", f"hydra.run.dir={tmp_path / 'run'}")
    assert_one_line_error(code, err, "these settings need about", "GB of memory (items held in memory 1240.0 GB",
                          "one training step", "are available; lower data.batch_size")
    assert "data sins:" not in out + err  # refused before a single item was generated
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["status"] == "failed"


def test_the_limits_compared_are_the_host_the_cgroup_and_the_gpu(tmp_path: Path) -> None:
    need = memory.Need(data=3 << 30, model=1 << 20, step=2 << 30, batches=0, runtime=0)
    memory.check(need, CPU, "hint", host=6 << 30)  # fits
    with pytest.raises(Exception, match=r"need about 5.4 GB of memory .* and 4.3 GB are available; hint"):
        memory.check(need, CPU, "hint", host=4 << 30)
    # on a GPU the step and the model go to its memory, the items stay on the host
    memory.check(need, torch.device("cuda", 0), "hint", host=4 << 30, gpu=3 << 30)
    with pytest.raises(Exception, match=r"need about 2.1 GB of GPU memory .* and 1.1 GB are free on cuda:0"):
        memory.check(need, torch.device("cuda", 0), "hint", host=4 << 30, gpu=1 << 30)
    # cgroup v2: the tightest of the group and its parents; v1: its group, or the root inside a container
    (tmp_path / "v2" / "job" / "step").mkdir(parents=True)
    for folder, limit, used in (("job", 8_000, 1_000), ("job/step", "max", 500)):
        (tmp_path / "v2" / folder / "memory.max").write_text(f"{limit}\n")
        (tmp_path / "v2" / folder / "memory.current").write_text(f"{used}\n")
    (tmp_path / "cgroup").write_text("0::/job/step\n")
    assert memory.cgroup_room(tmp_path / "cgroup", tmp_path / "v2") == 7_000
    (tmp_path / "v1" / "memory").mkdir(parents=True)
    (tmp_path / "v1" / "memory" / "memory.limit_in_bytes").write_text("5000\n")
    (tmp_path / "v1" / "memory" / "memory.usage_in_bytes").write_text("1200\n")
    (tmp_path / "cgroup").write_text("4:memory:/elsewhere\n3:cpu,cpuacct:/elsewhere\n")
    assert memory.cgroup_room(tmp_path / "cgroup", tmp_path / "v1") == 3_800
    (tmp_path / "v1" / "memory" / "memory.limit_in_bytes").write_text(f"{memory.UNLIMITED * 4}\n")
    assert memory.cgroup_room(tmp_path / "cgroup", tmp_path / "v1") is None
    assert 0 < memory.available_host() < 1 << 50  # this machine's, whatever it is


@pytest.mark.parametrize("overrides", [
    ["experiment=table1", "model=lstm", "data=noise", "layers=3"],
    ["experiment=table1", "model=linear", "data=sins"],
    ["experiment=table2", "model=convlstm", "data=mnist", "layers=3"],
    ["experiment=table2", "model=convlstm", "data=bair", "layers=3"],
])
def test_the_studys_settings_fit_a_laptop(overrides: list[str]) -> None:
    need = planned(overrides)
    assert sum(need.on(CPU)) < 4e9  # half of an 8 GB laptop, with room for the rest of the system


#: Runs ARGV as a child and prints its peak resident memory (KiB); exits as the child did.
PEAK_OF_CHILD = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def peak_increase(args: list[str], cwd: Path) -> int:
    """Bytes the peak memory of ``python -m vidpred.run ARGS`` exceeds that of a run that builds and
    trains next to nothing (the interpreter and the libraries)."""
    def peak(extra: list[str]) -> int:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        command = [sys.executable, "-m", "vidpred.run", "trainer.device=cpu", "trainer.progress=off",
                   "trainer.max_steps=3", *extra]
        # Started by a small interpreter, not by this one: a child's ru_maxrss counts the resident
        # memory of the process it was forked from (kept across exec), and a test worker grows.
        done = subprocess.run([sys.executable, "-c", PEAK_OF_CHILD, *command], cwd=cwd, env=env,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return int(done.stdout.split()[-1]) * 1024

    baseline = peak(["model=last", "data.train_size=16", "data.val_size=16", "data.test_size=16",
                     f"hydra.run.dir={cwd / 'baseline'}"])
    return peak([*args, f"hydra.run.dir={cwd / 'run'}"]) - baseline


@pytest.mark.parametrize("overrides", [
    ["data.horizon=1500", "data.train_size=1000", "data.val_size=64", "data.test_size=64", "layers=2"],
    pytest.param(["model=convlstm", "data=mnist", "data.train_digits=test", "data.test_source=generated",
                  "data.train_size=16", "data.val_size=4", "data.test_size=4", "data.num_workers=0",
                  "model.hidden=16", "layers=2", "data.horizon=20"], marks=pytest.mark.slow),
    pytest.param(["model=predrnn", "data=mnist", "data.train_digits=test", "data.test_source=generated",
                  "data.train_size=16", "data.val_size=4", "data.test_size=4", "data.num_workers=0",
                  "model.hidden=32", "model.patch_size=2", "layers=2", "data.horizon=20"], marks=pytest.mark.slow),
    pytest.param(["model=simvp", "data=mnist", "data.train_digits=test", "data.test_source=generated",
                  "data.train_size=16", "data.val_size=4", "data.test_size=4", "data.num_workers=0",
                  "model.spatial_hidden=32", "model.translator_hidden=128", "model.translator_layers=4",
                  "data.horizon=20"], marks=pytest.mark.slow),
])
def test_the_estimate_bounds_the_peak_memory_of_a_real_run(tmp_path: Path, overrides: list[str]) -> None:
    if "data=mnist" in overrides:
        fabricate_mnist(tmp_path / "data", train=0, test=60, test_seq=None)
        overrides = [*overrides, f"paths.data_dir={tmp_path / 'data'}"]
    need = sum(planned(overrides).on(CPU))
    measured = peak_increase(overrides, tmp_path)
    assert measured > 200e6  # the run's own memory dominates, so the comparison means something
    # never below what the run takes; above it by the allowance for the libraries and the upper
    # estimate of a step (the convolutions' own buffers vary with the algorithms chosen)
    assert measured <= need <= 3 * measured, (measured, need)
