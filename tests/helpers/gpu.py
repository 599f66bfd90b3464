"""What every GPU test file shares: its marks (``pytest -m gpu`` selects it; without a CUDA GPU it
skips cleanly) and the device."""

from __future__ import annotations

import pytest
import torch

GPU_ONLY = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible (torch.cuda.is_available() is False)"),
]
CUDA = torch.device("cuda")
