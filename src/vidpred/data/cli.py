"""``python -m vidpred.data {download,prepare,verify,show,bench} NAME ...``: get, convert, check and
look at data sets.

    python -m vidpred.data download mnist
    python -m vidpred.data prepare kth --src ~/raw/kth
    python -m vidpred.data verify kth
    python -m vidpred.data show mnist --split test --index 3 --out item.png
    python -m vidpred.data bench mnist --workers 2

``show`` and ``bench`` build the data set exactly as a run would, from ``conf/data/NAME.yaml``
plus any ``data.KEY=VALUE`` overrides given after the options.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vidpred.data.store import ROOT_ENV, default_root
from vidpred.errors import ConfigError, DataError, exit_on_user_error

# data set -> module with download(root, ...), prepare(src, root), verify(root)
FAMILIES = {"mnist": "vidpred.data.mnist", "stocks": "vidpred.data.stocks",
            "kth": "vidpred.data.kth", "bair": "vidpred.data.bair"}


def family(name: str) -> Any:
    if name not in FAMILIES:
        raise ConfigError(f"unknown data set {name!r} for this command; choose one of {', '.join(FAMILIES)}")
    return importlib.import_module(FAMILIES[name])


def compose_data(name: str, root: Path | None, overrides: Sequence[str]) -> dict[str, Any]:
    """``conf/data/NAME.yaml`` with overrides, resolved as ``python -m vidpred.run`` would."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from vidpred.run import CONFIG_DIR

    extra = [*([f"data.root={root}"] if root is not None else []), *overrides]
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=[f"data={name}", *extra])
        return OmegaConf.to_container(cfg.data, resolve=True)  # type: ignore[return-value]
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(f"bad override for data={name}: {' '.join(str(exc).split())}") from exc


def build_from_config(name: str, root: Path | None, overrides: Sequence[str]) -> tuple[Any, dict[str, Any]]:
    from vidpred.data import build_data

    params = compose_data(name, root, overrides)
    loader = {k: params.pop(k) for k in ("batch_size", "num_workers")}
    params.pop("name")
    return build_data(name, params), loader


def show(name: str, split: str, index: int, out: Path, root: Path | None, overrides: Sequence[str]) -> str:
    """Write item ``index`` of ``split``: ``.npy`` float32 as the model sees it, ``.png`` a picture."""
    data, _ = build_from_config(name, root, overrides)
    dataset = data.split(split)
    if not 0 <= index < len(dataset):
        raise ConfigError(f"--index {index} is outside the {split} split (0..{len(dataset) - 1})")
    item = dataset[index].numpy()
    if out.suffix == ".npy":
        from vidpred.io import atomic_path

        with atomic_path(out) as tmp, open(tmp, "wb") as fh:
            np.save(fh, item.astype(np.float32))
    elif out.suffix == ".png":
        picture(item, data.context, f"{name} {split} item {index}", out)
    else:
        raise ConfigError(f"--out {out}: use a .npy or .png file name")
    return (f"{out}: {name} {split}[{index}] shape {tuple(item.shape)} float32 "
            f"range [{item.min():.3g}, {item.max():.3g}]")


def picture(item: np.ndarray, context: int, title: str, out: Path) -> None:
    """A frame strip (video ``(T, C, H, W)``) or a line plot (sequence ``(T, D)``)."""
    from vidpred.plots import plt, save_figure

    if item.ndim == 2:
        fig, ax = plt.subplots(figsize=(7, 3))
        steps = np.arange(len(item))
        for d in range(item.shape[1]):
            ax.plot(steps[:context], item[:context, d], color="black")
            ax.plot(steps[context - 1:], item[context - 1:, d], color="tab:green")
        ax.axvline(context - 0.5, color="grey", linewidth=0.5)
        ax.set_xlabel("step (black: context, green: horizon)")
    else:
        frames = item.shape[0]
        fig, axes = plt.subplots(1, frames, figsize=(1.1 * frames, 1.5), squeeze=False)
        for t, ax in enumerate(axes[0]):
            frame = np.clip(item[t].transpose(1, 2, 0), 0, 1)
            ax.imshow(frame[..., 0] if frame.shape[2] == 1 else frame, cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{'c' if t < context else 'h'}{t}", fontsize=7)
            ax.axis("off")
    fig.suptitle(title, fontsize=9)
    save_figure(fig, out)


def bench(name: str, root: Path | None, workers: int, batches: int, batch_size: int | None,
          split: str, overrides: Sequence[str]) -> str:
    """Samples per second of one split through a DataLoader (shuffled, ``workers`` processes)."""
    import torch
    from torch.utils.data import DataLoader

    data, loader_keys = build_from_config(name, root, overrides)
    dataset = data.split(split)
    size = batch_size or loader_keys["batch_size"]
    loader = DataLoader(dataset, batch_size=size, shuffle=True, num_workers=workers,
                        generator=torch.Generator().manual_seed(0), persistent_workers=False)
    iterator = iter(loader)
    next(iterator)  # worker start-up is not loading throughput
    count, tick = 0, time.perf_counter()
    for _ in range(batches):
        try:
            count += len(next(iterator))
        except StopIteration:
            break
    seconds = time.perf_counter() - tick
    # The item alone, without batching or worker processes: the cost of generating or reading it.
    items = min(len(dataset), max(count, 1))
    tick = time.perf_counter()
    for index in range(items):
        dataset[index]
    item_rate = items / max(time.perf_counter() - tick, 1e-9)
    return (f"{name} {split}: {count / max(seconds, 1e-9):.0f} samples/s through a DataLoader "
            f"(batch {size}, {workers} workers, {count} samples in {seconds:.2f} s); "
            f"{item_rate:.0f} items/s fetched one by one in-process; item {tuple(dataset[0].shape)}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vidpred.data",
                                description="Get, convert, check and look at data sets.",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    def add(command: str, help_text: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(command, help=help_text)
        sp.add_argument("name", help=f"data set: {', '.join(FAMILIES)}")
        sp.add_argument("--root", type=Path, default=None,
                        help=f"data root (default: ${ROOT_ENV}, else ./data)")
        return sp

    sp = add("download", "fetch the public files, checked, into the data root")
    sp.add_argument("--mirror", default=None, help="base URL serving the same file names")
    sp.add_argument("--tickers", default=None, help="stocks: comma-separated tickers (default: all eight)")
    sp = add("prepare", "convert raw files you have into the data root (compact uint8 arrays + manifest)")
    sp.add_argument("--src", type=Path, required=True, help="folder of raw files")
    sp = add("verify", "check the data under the root (against the manifest where there is one)")
    sp = add("show", "write one item as the model sees it (.npy) or as a picture (.png)")
    sp.add_argument("--split", default="test", choices=["train", "val", "test"], help="default: test")
    sp.add_argument("--index", type=int, default=0, help="item number within the split (default: 0)")
    sp.add_argument("--out", type=Path, required=True, help="FILE.npy (float32 item) or FILE.png (picture)")
    sp = add("bench", "measure loading throughput in samples per second")
    sp.add_argument("--workers", type=int, default=2)
    sp.add_argument("--batches", type=int, default=50)
    sp.add_argument("--batch-size", type=int, default=None)
    sp.add_argument("--split", default="train", choices=["train", "val", "test"])
    p.epilog = ("examples:\n  python -m vidpred.data download mnist\n"
                "  python -m vidpred.data prepare kth --src ~/raw/kth\n"
                "  python -m vidpred.data verify kth\n"
                "  python -m vidpred.data show mnist --split test --index 3 --out item.png data.generator=standard28\n"
                "  python -m vidpred.data bench mnist --workers 2\n\n"
                "show and bench take config overrides KEY=VALUE after the name, as python -m vidpred.run does")
    return p


def run(args: argparse.Namespace) -> list[str]:
    root = args.root if args.root is not None else default_root()
    if args.command == "download":
        module = family(args.name)
        if args.name == "stocks":
            if args.mirror:
                raise ConfigError("--mirror does not apply to stocks (Alpha Vantage is an API)")
            return module.download(root, args.tickers.split(",") if args.tickers else None)
        return module.download(root, mirror=args.mirror)
    if args.command == "prepare":
        if not args.src.exists():
            raise DataError(f"--src {args.src} does not exist")
        return family(args.name).prepare(args.src, root)
    if args.command == "verify":
        return family(args.name).verify(root)
    if args.command == "show":
        return [show(args.name, args.split, args.index, args.out, args.root, args.overrides)]
    return [bench(args.name, args.root, args.workers, args.batches, args.batch_size, args.split, args.overrides)]


def main(argv: Sequence[str] | None = None) -> None:
    p = parser()
    # Config overrides (KEY=VALUE) may stand anywhere after the data set's name.
    args, extra = p.parse_known_args(argv)
    bad = [a for a in extra if "=" not in a or a.startswith("-")]
    if bad or (extra and args.command not in ("show", "bench")):
        p.error(f"unrecognized arguments: {' '.join(bad or extra)}")
    args.overrides = extra
    with exit_on_user_error():
        for line in run(args):
            print(line)


if __name__ == "__main__":
    main(sys.argv[1:])
