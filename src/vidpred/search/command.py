"""``python -m vidpred.search OVERRIDES``: one worker of a search, from the command line to an exit code."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from vidpred import runfolder
from vidpred.errors import UserError, debug_enabled, require
from vidpred.run import fail
from vidpred.training import stop

USAGE = """\
    python -m vidpred.search [OVERRIDES]
    python -m vidpred.search model=convlstm data=mnist hparams_search.n_trials=40
    python -m vidpred.report outputs/search/convlstm_mnist_l1

The search space and settings: conf/hparams_search/optuna.yaml (override as hparams_search.KEY=...)."""


def require_optuna() -> None:
    """Optuna comes with the ``search`` extra; without it, say how to get it in one line."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise UserError("the search needs Optuna: pip install -e '.[search]' in the clone (make install does)") from None


def search_command(overrides: Sequence[str]) -> int:
    """``python -m vidpred.search OVERRIDES``; returns the exit code."""
    require_optuna()
    import optuna
    from optuna.trial import TrialState

    from vidpred.search.study import best_trials
    from vidpred.search.worker import describe_values, plan, work

    job = plan(overrides)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # vidpred says what happens, once
    with stop.handled() as request:
        study = work(job, request)
    search = job.search
    trials = study.get_trials(deepcopy=False)
    words = {TrialState.COMPLETE: "completed", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed"}
    counts = {state: sum(t.state == state for t in trials) for state in words}
    tally = ", ".join(f"{n} {words[s]}" for s, n in counts.items() if n)
    best = best_trials(study, search)
    if not best:
        failures = [t for t in trials if t.state == TrialState.FAIL]
        raise UserError(f"none of the {len(trials)} trials of {search.name} completed"
                        + (f"; trial {failures[0].number}: {failures[0].user_attrs.get('reason')}" if failures else "")
                        + f" (all of them: {search.folder / runfolder.SEARCH_SUMMARY})")
    shown = "; ".join(f"trial {t.number}: {describe_values(search, t.values)} | run folder "
                      f"{search.folder / t.user_attrs.get('run_dir', '?')}" for t in best)
    print(f"search {search.name}: {tally} | {'best' if len(best) == 1 else 'Pareto front'} {shown}")
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if {"-h", "--help"} & set(args):
        print(USAGE)
        return
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    try:
        require(not {"-m", "--multirun"} & set(args),
                "python -m vidpred.search runs its trials itself: drop -m (more workers: the same command "
                "again, in another shell or machine)")
        code = search_command(args)
    except KeyboardInterrupt:
        if debug_enabled():
            raise
        print("interrupted: run the same command again to continue the study", file=sys.stderr)
        sys.exit(130)
    except (UserError, OSError) as exc:
        fail(exc)
    sys.exit(code)
