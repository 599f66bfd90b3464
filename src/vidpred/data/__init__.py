"""Data sets: one module per family, each declaring itself once (``FAMILY = DataFamily(...)``, see
:mod:`vidpred.data.registry`), all returning :class:`DataSplits`.

The config group ``conf/data/NAME.yaml`` names its family with ``name:`` and passes its other keys
(except the loader keys ``batch_size`` and ``num_workers``) to the family's builder.
"""

from vidpred.data.base import DataSplits
from vidpred.data.registry import DataFamily, build_data, families, family

__all__ = ["DataFamily", "DataSplits", "build_data", "families", "family"]
