"""``python -m vidpred.run``: one experiment, or a Hydra sweep of them, from the command line.

    python -m vidpred.run model=lstm data=sins layers=2
    python -m vidpred.run -m data=sins,noise layers=1,2,3

The command only: Hydra's command line, signals (a stop request), data-parallel start-up under
``torchrun``, and exit codes (2: a user's mistake, in one line; 3: a diverged run; 130: stopped). The
experiment itself is :mod:`vidpred.experiment`, which takes plain data.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn

from vidpred.training import stop

# This process's stop request: Ctrl-C and SIGTERM set it, the run looks at it at every step. One
# during the imports below (a second or two) counts too.
REQUEST = stop.StopRequest()
if __name__ == "__main__":
    stop.install(REQUEST)

import hydra  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from vidpred import config  # noqa: E402
from vidpred.errors import DivergedError, UserError, debug_enabled, one_line, require  # noqa: E402
from vidpred.experiment import experiment_config, run_experiment  # noqa: E402
from vidpred.io import write_error  # noqa: E402
from vidpred.training import distributed  # noqa: E402
from vidpred.training.distributed import World  # noqa: E402

# Run folders are named with this process's start and token; Hydra's launchers may run jobs in other
# processes, which import this module and so know the resolvers too.
config.use_run_stamp(config.RunStamp.new())


@hydra.main(version_base="1.3", config_path=str(config.CONFIG_DIR), config_name=config.CONFIG_NAME)
def hydra_job(cfg: DictConfig) -> float:
    """One job, inside Hydra: returns the validation mse."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    overrides = [str(o) for o in hydra_cfg.overrides.task]
    # A SLURM job with several tasks per sweep job starts here (submitit calls each task's job).
    world = distributed.from_environment()
    opened = distributed.start(world)
    distributed.quiet_other_ranks(world)
    results = None
    try:
        config.check_top_level(cfg)
        experiment = experiment_config(config.to_plain(cfg), overrides)
        # Signals ask the run to stop; this job may run in a launcher's worker process.
        with stop.handled(REQUEST):
            results = run_experiment(experiment, run_dir, world=world, overrides=overrides,
                                     hydra_settings=OmegaConf.to_yaml(HydraConfig.instance().cfg), stop=REQUEST)
    except KeyboardInterrupt as exc:
        if hydra_cfg.mode == RunMode.MULTIRUN:
            raise
        why = f" ({exc})" if str(exc) else ""
        raise KeyboardInterrupt(f"interrupted{why}: run the same command with hydra.run.dir={run_dir} "
                                "to resume") from None
    except (UserError, DivergedError, OSError) as exc:
        if hydra_cfg.mode == RunMode.MULTIRUN:
            raise  # Hydra records the failed job and goes on with the others
        fail(exc)  # here, before Hydra adds its own report of the failed job
    finally:
        if opened:
            distributed.finish(together=results is not None)
    assert results is not None
    if world.main:
        done = "complete already: " if results.get("skipped") else ""
        print(f"{done}test mse {results['test']['mse']:.4g} | run folder {run_dir}")
    return results["val"]["mse"]


@contextlib.contextmanager
def hydra_command_line(argv: Sequence[str] | None) -> Iterator[None]:
    """Hydra reads its command line from ``sys.argv`` and, unless ``HYDRA_FULL_ERROR`` is set, prints
    its own multi-line reports and exits 1; with it set, the exception comes back and :func:`fail`
    says it in one line. Both only for the command's duration."""
    saved_argv, saved_env = sys.argv, os.environ.get("HYDRA_FULL_ERROR")
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        yield
    finally:
        sys.argv = saved_argv
        if saved_env is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = saved_env


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m vidpred.run``: Hydra's command line, with every user error as one line, exit 2.

    Under ``torchrun`` every process comes here: they open the process group first and take rank
    0's start time and token, so that Hydra names the same run folder on every rank.
    """
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    world = distributed.from_environment()
    with hydra_command_line(argv):
        try:
            with stop.handled(REQUEST):
                if REQUEST.requested:  # a signal during the imports: nothing has started
                    raise REQUEST.stopped("before the run began; nothing was written")
                _main(world, list(sys.argv[1:]))
        except KeyboardInterrupt as exc:
            if debug_enabled():
                raise
            why = str(exc)
            hint = why if why.startswith("interrupted") else \
                f"interrupted{f' ({why})' if why else ''}: run the same command again to resume"
            if world.main:
                print(hint, file=sys.stderr)
            sys.exit(stop.EXIT_CODE)
        except (UserError, DivergedError, HydraException, OmegaConfBaseException, OSError) as exc:
            fail(exc)
        finally:
            distributed.finish()


def _main(world: World, args: list[str]) -> None:
    """Open the process group of a data-parallel run, then run Hydra's command line."""
    searched = [a for a in args if a.split("=", 1)[0].lstrip("+~") == "hparams_search"]
    require(not searched, f"{searched[0] if searched else ''} is a search, which has a command of its own: "
                          "python -m vidpred.search OVERRIDES (no -m; hparams_search=optuna is its default)")
    if world.active:
        require(not {"-m", "--multirun"} & set(args),
                "torchrun runs one experiment on several processes; for a sweep of data-parallel jobs use "
                "hydra/launcher=slurm with hydra.launcher.gpus_per_node=N")
        distributed.start(world)
        config.use_run_stamp(distributed.broadcast(config.RunStamp.new()))  # rank 0's: one run folder
    hydra_job()
    distributed.finish(together=True)


def fail(exc: BaseException) -> NoReturn:
    """``error: <one line>`` on stderr; exit 2 for a user's mistake, 3 for a diverged run."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    if debug_enabled():
        raise exc
    world = distributed.from_environment()
    if world.active and world.main:
        distributed.main_rank_failed()
    elif world.active:  # rank 0 says it, once for the run, unless it is gone
        if not distributed.failure_reported():
            distributed.report_failure(one_line(exc))
        if distributed.failure_reported():
            sys.exit(3 if isinstance(exc, DivergedError) else 2)
    if isinstance(exc, (HydraException, OmegaConfBaseException)):
        exc = config.config_error(exc, sys.argv[1:])
    elif isinstance(exc, (FileExistsError, NotADirectoryError)):
        exc = UserError(f"{exc.filename} exists and is not a folder; choose another run folder (hydra.run.dir)")
    elif isinstance(exc, OSError):
        exc = (write_error(exc.filename, exc) if exc.filename else None) or UserError(
            f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
    print(f"error: {one_line(exc)}", file=sys.stderr)
    sys.exit(3 if isinstance(exc, DivergedError) else 2)


if __name__ == "__main__":
    main()
