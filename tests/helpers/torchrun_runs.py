"""Several tiny experiments in one data-parallel process group, for the tests: torchrun starts the
processes (and imports torch) once for all of them.

    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/helpers/torchrun_runs.py OUT RUNS_JSON

``RUNS_JSON`` maps a run folder name under ``OUT`` to the overrides of its experiment; every process
runs them in order, as ``torchrun -m vidpred.run OVERRIDES hydra.run.dir=OUT/NAME`` would run each.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from vidpred import config
from vidpred.experiment import experiment_config, run_experiment
from vidpred.training import distributed


def main(out: Path, runs: dict[str, list[str]]) -> None:
    world = distributed.from_environment()
    distributed.start(world)
    distributed.quiet_other_ranks(world)
    for name, overrides in runs.items():
        run_experiment(experiment_config(config.to_plain(config.compose(overrides)), overrides), out / name, world=world)
    distributed.finish(together=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), json.loads(sys.argv[2]))
