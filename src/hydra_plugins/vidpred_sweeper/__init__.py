"""vidpred's grid sweeper: Hydra's basic sweeper, less the jobs that would only repeat another.

A model that does not use ``layers`` (the baselines ``last``, ``mean``, ``linear``) gives the
same run at every ``layers`` value, so in a grid such as ``experiment=table1`` it is launched once
per combination of the other settings, at the first ``layers`` value of the grid. Everything else
(the ``params`` of a preset, ``max_batch_size``, the launchers) is the basic sweeper's.

Hydra finds sweepers in the ``hydra_plugins`` namespace; ``python -m vidpred.run`` also registers
this one itself, since an editable install hides the namespace from Hydra's scan.
"""

from __future__ import annotations

import logging

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.types import Override

log = logging.getLogger(__name__)

LAYERS = "layers"


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _value(job: list[str], key: str) -> str | None:
    return next((o.split("=", 1)[1] for o in job if _key(o) == key), None)


def drop_layer_repeats(jobs: list[list[str]], default_model: str) -> tuple[list[list[str]], list[list[str]]]:
    """``jobs`` (each a list of ``key=value`` overrides) split into those to launch and the repeats:
    jobs of a model without layers that differ from a kept job in ``layers`` alone."""
    from vidpred.models import MODELS  # the model registry says which models use layers

    kept, repeats, seen = [], [], set()
    for job in jobs:
        model = MODELS.get(_value(job, "model") or default_model)
        if model is None or model.layered or _value(job, LAYERS) is None:
            kept.append(job)
            continue
        rest = tuple(o for o in job if _key(o) != LAYERS)
        (repeats if rest in seen else kept).append(job)
        seen.add(rest)
    return kept, repeats


class LayerAwareSweeper(BasicSweeper):
    """The basic sweeper's grid without the repeated runs of models that have no layers."""

    def split_arguments(self, overrides: list[Override], max_batch_size: int | None) -> list[list[list[str]]]:  # type: ignore[override]
        jobs = [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]
        default_model = str(self.config.model.name) if self.config is not None and "model" in self.config else ""
        kept, repeats = drop_layer_repeats(jobs, default_model)
        if repeats:
            models = sorted({_value(job, "model") or default_model for job in repeats})
            log.info(f"{len(repeats)} of {len(jobs)} jobs left out: model={','.join(models)} does not use "
                     f"{LAYERS}, so each of its runs is launched once, at its first {LAYERS} value")
        if max_batch_size is None:
            return [kept]
        return list(BasicSweeper.split_overrides_to_chunks(kept, max_batch_size))


__all__ = ["LayerAwareSweeper", "drop_layer_repeats"]
