"""``python -m vidpred.data {download,prepare,verify,show,bench} NAME ...``: get, convert, check and
look at data sets.

    python -m vidpred.data download mnist
    python -m vidpred.data prepare kth --src ~/raw/kth
    python -m vidpred.data prepare videos --src ~/clips --name lab data.size=96 data.channels=3
    python -m vidpred.data verify kth
    python -m vidpred.data show mnist --split test --index 3 --out item.png
    python -m vidpred.data bench mnist --workers 2

Every command reads the family's declaration (:mod:`vidpred.data.registry`). ``prepare``, ``show``
and ``bench`` compose ``conf/data/NAME.yaml`` with the ``data.KEY=VALUE`` overrides given after the
options, exactly as ``python -m vidpred.run`` would; ``prepare`` takes the keys its family converts
with (a video set's size, channels and frame step, ...).
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vidpred import config
from vidpred.data import ASSETS, FAMILIES, DataFamily, build_data, family, split_data_keys
from vidpred.data.folders import DATA_DIR_ENV, default_root
from vidpred.data.registry import with_prepared
from vidpred.errors import ConfigError, DataError, exit_on_user_error


def compose_data(name: str, data_dir: Path, set_name: str | None, overrides: Sequence[str],
                 prepared: bool = True) -> dict[str, Any]:
    """``conf/data/NAME.yaml`` with overrides, resolved as ``python -m vidpred.run`` would: a prepared
    set's settings are the defaults of the keys ``overrides`` leave out (``prepared=False``: not)."""
    extra = [f"paths.data_dir={data_dir}", *([f"data.set={set_name}"] if set_name else []), *overrides]
    cfg = config.compose([f"data={name}", *extra])
    params = config.to_plain(cfg.data)
    return with_prepared(name, params, data_dir, config.data_keys_given(params, overrides)) if prepared else params


def given_settings(params: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """The data keys given to ``prepare`` (not the set's name): they become the set's defaults."""
    return {k: params[k] for k in params if k in config.data_keys_given(params, overrides) and k not in ("name", "set")}


def build_from_config(name: str, data_dir: Path, set_name: str | None,
                      overrides: Sequence[str]) -> tuple[Any, dict[str, Any]]:
    params, loader = split_data_keys(compose_data(name, data_dir, set_name, overrides))
    return build_data(name, params, data_dir), loader


def call_with_options(name: str, action: Callable[..., list[str]], fixed: dict[str, Any],
                      options: dict[str, Any], given: dict[str, Any]) -> list[str]:
    """Call a family's ``download``/``prepare``/``verify`` with the config keys it takes; an option given
    on the command line that it does not take is an error."""
    accepted = inspect.signature(action).parameters
    for flag, value in given.items():
        if value is not None and flag not in accepted:
            raise ConfigError(f"--{flag.replace('_', '-')} does not apply to {name}")
    chosen = {k: v for k, v in {**options, **given}.items() if k in accepted and v is not None}
    return action(**fixed, **chosen)


def show(data: Any, name: str, split: str, index: int, out: Path) -> str:
    """Write item ``index`` of ``split``: ``.npy`` float32 as the model sees it, ``.png`` a picture."""
    dataset = data.split(split)
    if not 0 <= index < len(dataset):
        raise ConfigError(f"--index {index} is outside the {split} split (0..{len(dataset) - 1})")
    item = dataset[index].numpy()
    source = dataset.source(index) if hasattr(dataset, "source") else None
    if out.suffix == ".npy":
        from vidpred.io import atomic_path

        with atomic_path(out) as tmp, open(tmp, "wb") as fh:
            np.save(fh, item.astype(np.float32))
    elif out.suffix == ".png":
        picture(item, data.context, f"{name} {split} item {index}" + (f": {source}" if source else ""), out,
                data.meta.get("columns"))
    else:
        raise ConfigError(f"--out {out}: use a .npy or .png file name")
    return (f"{out}: {name} {split}[{index}] shape {tuple(item.shape)} float32 "
            f"range [{item.min():.3g}, {item.max():.3g}]" + (f", from {source}" if source else ""))


def picture(item: np.ndarray, context: int, title: str, out: Path, columns: list[str] | None = None) -> None:
    """A frame strip (video ``(T, C, H, W)``) or one panel per column (sequence ``(T, D)``)."""
    from vidpred.plots import item_figure, save_figure

    save_figure(item_figure(item, context, title, columns), out)


def bench(data: Any, loader_keys: dict[str, Any], name: str, workers: int, batches: int,
          batch_size: int | None, split: str) -> str:
    """Samples per second of one split through a DataLoader (shuffled, ``workers`` processes)."""
    import torch
    from torch.utils.data import DataLoader

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
    names = ", ".join([*FAMILIES.names(), *ASSETS.names()])

    def add(command: str, help_text: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(command, help=help_text)
        sp.add_argument("name", help=f"data set: {names}")
        sp.add_argument("--data-dir", dest="data_dir", type=Path, default=None,
                        help=f"the data folder, paths.data_dir of a run (default: ${DATA_DIR_ENV}, else ./data)")
        sp.add_argument("--name", dest="set_name", default=None,
                        help="videos, series: which prepared set under the data folder (data.set; default: "
                             "the family's name)")
        return sp

    sp = add("download", "fetch the public files, checked, into the data folder (also: lpips, the LPIPS weights)")
    sp.add_argument("--mirror", default=None, help="base URL serving the same file names")
    sp.add_argument("--tickers", default=None, help="stocks: comma-separated tickers (default: all eight)")
    sp = add("prepare", "convert files you have into the data folder (compact arrays + manifest)")
    sp.add_argument("--src", type=Path, required=True, help="a folder of raw files (or one file)")
    add("verify", "check the data in the data folder (against the manifest where there is one)")
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
                "  python -m vidpred.data prepare videos --src ~/clips --name lab data.size=96 data.channels=3\n"
                "  python -m vidpred.data prepare series --src measurements.csv data.columns=[temp,load]\n"
                "  python -m vidpred.data verify kth\n"
                "  python -m vidpred.data show mnist --split test --index 3 --out item.png data.generator=standard28\n"
                "  python -m vidpred.data bench mnist --workers 2\n\n"
                "prepare, show and bench take config overrides data.KEY=VALUE after the name, as "
                "python -m vidpred.run does")
    return p


def _needs(chosen: DataFamily, command: str) -> Callable[..., list[str]]:
    action = getattr(chosen, command)
    if action is None:
        can = [c for c in ("download", "prepare", "verify") if getattr(chosen, c) is not None]
        raise ConfigError(f"data set {chosen.name} has nothing to {command}"
                          + (f"; it can: {', '.join(can)}" if can else " (it is generated when a run starts)"))
    return action


def run(args: argparse.Namespace) -> list[str]:
    data_dir = args.data_dir if args.data_dir is not None else default_root()
    if args.name in ASSETS:
        if args.command not in ("download", "verify"):
            raise ConfigError(f"{args.name} holds weights, not a data set: it can download and verify")
        asset = ASSETS.get(args.name)
        return asset.download(data_dir, args.mirror) if args.command == "download" else asset.verify(data_dir)
    chosen = family(args.name)
    if args.command in ("show", "bench"):
        data, loader_keys = build_from_config(args.name, data_dir, args.set_name, args.overrides)
        if args.command == "show":
            return [show(data, args.name, args.split, args.index, args.out)]
        return [bench(data, loader_keys, args.name, args.workers, args.batches, args.batch_size, args.split)]
    action = _needs(chosen, args.command)
    options = compose_data(args.name, data_dir, args.set_name, args.overrides, prepared=args.command != "prepare")
    if args.command == "download":
        given = {"mirror": args.mirror, "tickers": args.tickers.split(",") if args.tickers else None}
        return call_with_options(args.name, action, {"data_dir": data_dir}, options, given)
    if args.command == "prepare":
        if not args.src.exists():
            raise DataError(f"--src {args.src} does not exist")
        fixed = {"src": args.src, "data_dir": data_dir}
        if "settings" in inspect.signature(action).parameters:
            fixed["settings"] = given_settings(options, args.overrides)
        return call_with_options(args.name, action, fixed, options, {})
    return call_with_options(args.name, action, {"data_dir": data_dir}, options, {})


def main(argv: Sequence[str] | None = None) -> None:
    p = parser()
    # Config overrides (KEY=VALUE) may stand anywhere after the data set's name.
    args, extra = p.parse_known_args(argv)
    bad = [a for a in extra if "=" not in a or a.startswith("-")]
    if bad:
        p.error(f"unrecognized arguments: {' '.join(bad)}")
    args.overrides = extra
    with exit_on_user_error():
        for line in run(args):
            print(line)


if __name__ == "__main__":
    main(sys.argv[1:])
