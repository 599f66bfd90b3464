"""Torch data sets over prepared, memory-mapped frame arrays: windows of a clip store, and the array
handle that DataLoader workers reopen instead of receiving a copy."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset


def unit_frames(frames: np.ndarray) -> torch.Tensor:
    """Stored uint8 frames as the float32 [0, 1] tensor every video model sees."""
    return torch.from_numpy(np.asarray(frames, dtype=np.float32) / 255.0)


class Mapped:
    """A memory-mapped ``.npy`` that pickles as its path: DataLoader workers started by ``spawn``
    (macOS, Windows) reopen the file instead of receiving a copy of the whole array."""

    def __init__(self, array: np.memmap) -> None:
        self.path = str(array.filename)
        self._array: np.ndarray | None = array

    @property
    def array(self) -> np.ndarray:
        if self._array is None:
            self._array = np.load(self.path, mmap_mode="r")
        return self._array

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "_array": None}


class ClipWindows(Dataset):
    """Windows of ``length`` stored frames starting at ``starts``, as float32 tensors in [0, 1]
    (``(T, C, S, S)`` for frames stored with their channels). ``clips`` (first frame and length of
    each clip) and their file ``names`` tell where a window comes from (:meth:`source`)."""

    def __init__(self, frames: np.ndarray, starts: np.ndarray, length: int, clips: np.ndarray | None = None,
                 names: list[str] | None = None) -> None:
        self.frames = Mapped(frames)
        self.starts = starts
        self.length = length
        self.clips = clips
        self.names = names

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> torch.Tensor:
        start = int(self.starts[index])
        return unit_frames(self.frames.array[start: start + self.length])

    def source(self, index: int) -> str | None:
        """The clip a window comes from and its frames there (1-based, as stored)."""
        if self.clips is None or self.names is None:
            return None
        start = int(self.starts[index])
        clip = int(np.searchsorted(self.clips[:, 0], start, side="right")) - 1
        first = start - int(self.clips[clip, 0])
        return f"{self.names[clip]}, frames {first + 1}..{first + self.length} of {int(self.clips[clip, 1])}"
