"""The LPIPS metric's weights (metrics.lpips=true): the two published files, where they live
(``<data_dir>/lpips``, or ``metrics.lpips_weights``), and ``python -m vidpred.data download|verify
lpips`` to fetch and check them. Declared here, with the data sets, because they are fetched and
checked as data files are; the network that reads them is :mod:`vidpred.metrics.lpips`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vidpred.data.formats.store import sha256_file
from vidpred.data.registry import ASSETS, Asset
from vidpred.errors import DataError

DOWNLOAD_HINT = "run `python -m vidpred.data download lpips`"


@dataclass(frozen=True)
class WeightFile:
    """A published weight file: its name on disk, where it comes from and what it must match."""

    filename: str
    url: str
    sha256_prefix: str  # the check torch.hub itself makes (the hash in torchvision's file names)
    sha256: str | None = None
    size: int | None = None


# torchvision's ImageNet AlexNet (AlexNet_Weights.IMAGENET1K_V1). torch.hub verifies it only against the
# sha256 prefix in its name; the full digest and size are not published by PyTorch itself: they are the
# values recorded by many independent projects that pin this file (they agree with each other and with the
# prefix, and the size equals download.pytorch.org's Content-Length as one of them logged).
ALEXNET = WeightFile(
    filename="alexnet-owt-7be5be79.pth",
    url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    sha256_prefix="7be5be79",
    sha256="7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
    size=244_408_911,
)

# The learned linear layers, lpips/weights/v0.1/alex.pth. Digest and size measured on the copy inside the
# lpips 0.1.4 wheel from PyPI; the file at this URL (master) is byte-identical (same git blob).
LINEAR = WeightFile(
    filename="alex.pth",
    url="https://raw.githubusercontent.com/richzhang/PerceptualSimilarity/master/lpips/weights/v0.1/alex.pth",
    sha256_prefix="df73285e",
    sha256="df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
    size=6009,
)

WEIGHT_FILES = (ALEXNET, LINEAR)


def verify_weights(weights_dir: Path, files: tuple[WeightFile, ...] = WEIGHT_FILES) -> list[str]:
    """One line per file, ``"ok ..."`` or ``"FAILED ..."``: is it there, of the right size and sha256?"""
    lines = []
    for spec in files:
        path = Path(weights_dir) / spec.filename
        if not path.is_file():
            lines.append(f"FAILED {path}: missing; {DOWNLOAD_HINT}")
            continue
        size = path.stat().st_size
        if spec.size is not None and size != spec.size:
            lines.append(f"FAILED {path}: {size} bytes, expected {spec.size}; {DOWNLOAD_HINT}")
            continue
        found = sha256_file(path)
        if not found.startswith(spec.sha256_prefix) or (spec.sha256 is not None and found != spec.sha256):
            expected = spec.sha256 or f"{spec.sha256_prefix}..."
            lines.append(f"FAILED {path}: sha256 {found}, expected {expected}; {DOWNLOAD_HINT}")
            continue
        lines.append(f"ok {path}: sha256 {found}" + ("" if spec.sha256 else " (prefix check only)"))
    return lines


# ---------------------------------------------------------------- getting the weights
FOLDER = "lpips"  # under the data folder: <data_dir>/lpips


def weights_folder(data_dir: str | Path, weights: str | Path | None = None) -> Path:
    """``metrics.lpips_weights`` when given, else ``<data_dir>/lpips``."""
    return Path(weights) if weights else Path(data_dir) / FOLDER


def download(data_dir: str | Path, mirror: str | None = None) -> list[str]:
    """Fetch both weight files into ``<data_dir>/lpips``, each checked (size, sha256) before it is kept."""
    from vidpred.data.formats.download import Remote, fetch

    folder = weights_folder(data_dir)
    for spec in WEIGHT_FILES:
        fetch(Remote(spec.url, spec.filename, spec.size, sha256=spec.sha256).with_mirror(mirror), folder)
    return verify(data_dir)


def verify(data_dir: str | Path) -> list[str]:
    """Check both files of ``<data_dir>/lpips``; the first problem is a one-line DataError."""
    lines = verify_weights(weights_folder(data_dir), WEIGHT_FILES)
    failed = [line for line in lines if line.startswith("FAILED")]
    if failed:
        raise DataError(failed[0].removeprefix("FAILED "))
    return lines


ASSETS.register(Asset("lpips", download=download, verify=verify))
