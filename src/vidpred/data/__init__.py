"""Data sets: one module per family under ``sets/`` (file formats under ``formats/``), each declaring
itself once in :data:`FAMILIES` and returning :class:`DataSplits`.

The config group ``conf/data/NAME.yaml`` names its family with ``name:`` and passes its other keys
(except the loader keys ``batch_size`` and ``num_workers``) to the family's builder.
"""

from vidpred.data.base import DataSplits
from vidpred.data.registry import (ASSETS, FAMILIES, LOADER_KEYS, Asset, DataFamily, build_data, family,
                                   split_data_keys)
# each module of vidpred.data.sets registers its family as it is imported, lpips_weights its asset
from vidpred.data import lpips_weights  # noqa: F401
from vidpred.data.sets import bair, kth, mnist, noise, series, sins, stocks, videos  # noqa: F401

__all__ = ["ASSETS", "FAMILIES", "LOADER_KEYS", "Asset", "DataFamily", "DataSplits", "build_data", "family",
           "split_data_keys"]
