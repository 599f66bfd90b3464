"""The memory a run needs, estimated before it builds anything, against the memory there is.

Without it a setting such as ``data.horizon=100000`` fills the memory while the data is generated
and is killed by the kernel (exit 137, ``metrics.json`` left at ``running``; on a shared machine the
kernel may kill another user's process instead). The estimate adds up:

- the items the splits hold in memory (float32; memory-mapped or generated items cost nothing);
- the model's weights, gradients and the optimizer's two moments;
- what one training step keeps for its backward pass (each model's own upper estimate,
  :meth:`vidpred.models.Forecaster.memory_bytes`; the discriminator of ``loss=adversarial`` as much
  again) and the batches in flight.

On a GPU the model and the step are compared with the GPU's free memory, the items with the host's.
The host's available memory is the least of ``MemAvailable`` and the room left under the cgroup's
limit (a container's or a SLURM job's), else what ``sysconf`` reports.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from vidpred.errors import ConfigError

UNLIMITED = 1 << 60  # cgroup v1 writes a huge number for "no limit"
#: What the libraries allocate once training runs (the first backward pass's and the evaluation's
#: buffers, the loggers), beside the process's memory before the run is built.
RUNTIME = 256 * 1000 ** 2


@dataclass(frozen=True)
class Need:
    """Estimated bytes of one run."""

    data: int      # items held in host memory
    model: int     # weights, gradients, optimizer state
    step: int      # what one training step keeps for the backward pass
    batches: int   # batches in flight (the loader's prefetch included)
    runtime: int = RUNTIME

    def on(self, device: torch.device) -> tuple[int, int]:
        """(bytes in host memory, bytes in the device's memory; 0 on the CPU)."""
        trained = self.model + self.step + self.batches
        return (self.data + self.runtime, trained) if device.type == "cuda" else (self.data + self.runtime + trained, 0)

    def parts(self) -> str:
        named = [("items held in memory", self.data), ("one training step", self.step),
                 ("weights and optimizer state", self.model), ("batches in flight", self.batches),
                 ("libraries", self.runtime)]
        return ", ".join(f"{name} {readable(size)}" for name, size in named if size >= 1 << 20)


def estimate(item_floats: int, held_items: int, parameters: int, trainable: bool, step: int,
             batch_size: int, workers: int, adversarial: bool = False) -> Need:
    """The :class:`Need` of a run whose items hold ``item_floats`` float32 values each."""
    item = 4 * item_floats
    return Need(data=held_items * item,
                model=4 * parameters * (4 if trainable else 1),  # weights, gradients, Adam's two moments
                step=step * (2 if adversarial and trainable else 1),
                batches=item * batch_size * (2 + 2 * workers))  # each worker prefetches two


def readable(size: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def cgroup_room(cgroups: Path = Path("/proc/self/cgroup"), root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Bytes left under this process's cgroup memory limit (v2 or v1), if one is set."""
    try:
        lines = cgroups.read_text().splitlines()
    except OSError:
        return None
    rooms = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2: the limit of this group or of a parent
            folder = root / path.lstrip("/")
            for level in (folder, *folder.parents):
                if not level.is_relative_to(root):
                    break
                limit, used = _read_int(level / "memory.max"), _read_int(level / "memory.current")
                if limit is not None and used is not None:
                    rooms.append(limit - used)
        elif "memory" in controllers.split(","):  # v1; inside a container the group is the root
            for folder in (root / "memory" / path.lstrip("/"), root / "memory"):
                limit = _read_int(folder / "memory.limit_in_bytes")
                used = _read_int(folder / "memory.usage_in_bytes")
                if limit is not None and used is not None:
                    if limit < UNLIMITED:
                        rooms.append(limit - used)
                    break
    return min(rooms) if rooms else None


def available_host() -> int | None:
    """Bytes of host memory this process may still take, as far as the system tells."""
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    room = cgroup_room()
    if room is not None:
        found.append(max(room, 0))
    if not found:
        for pages in ("SC_AVPHYS_PAGES", "SC_PHYS_PAGES"):  # macOS has only the second
            try:
                found.append(os.sysconf(pages) * os.sysconf("SC_PAGE_SIZE"))
                break
            except (ValueError, OSError, AttributeError):
                continue
    return min(found) if found else None


def free_on(device: torch.device) -> int | None:
    """Free bytes of a CUDA device's memory (None on other devices)."""
    if device.type != "cuda":
        return None
    return int(torch.cuda.mem_get_info(device)[0])


def check(need: Need, device: torch.device, hint: str, host: int | None = None, gpu: int | None = None) -> None:
    """Refuse, in one line with the estimate, a run that cannot fit (``host`` / ``gpu``: the bytes
    available, found here when not given)."""
    on_host, on_device = need.on(device)
    host = available_host() if host is None else host
    if host is not None and on_host > host:
        raise ConfigError(f"these settings need about {readable(on_host)} of memory ({need.parts()}) and "
                          f"{readable(host)} are available; {hint}")
    gpu = free_on(device) if gpu is None else gpu
    if gpu is not None and on_device > gpu:
        raise ConfigError(f"these settings need about {readable(on_device)} of GPU memory ({need.parts()}) and "
                          f"{readable(gpu)} are free on {device}; {hint}")


def hint(need: Need) -> str:
    """What to lower, for the largest part of ``need``."""
    largest = max(("data", need.data), ("step", need.step), ("model", need.model), key=lambda p: p[1])[0]
    return {"data": "lower data.train_size, data.val_size, data.test_size or data.context + data.horizon",
            "step": "lower data.batch_size, data.context + data.horizon, or the model's size (model.hidden, layers)",
            "model": "make the model smaller (model.hidden, layers)"}[largest]


def item_floats(length: int, frame_shape: tuple[int, ...]) -> int:
    return length * math.prod(frame_shape)
