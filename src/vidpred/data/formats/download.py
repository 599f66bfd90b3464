"""Downloads that never leave a half file under the final name, and archive extraction that never
writes outside its target folder.

A download streams into ``<name>.part``; an interrupted one is resumed with an HTTP range request
the next time (or restarted when the server ignores ranges). Only a file of the expected size
and checksum is renamed to its final name.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import stat
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from vidpred.data.folders import write_folder

from vidpred.data.formats.store import atomic_dir, sha256_file
from vidpred.errors import DataError

CHUNK = 1 << 16
USER_AGENT = "vidpred-data/1"


@dataclass(frozen=True)
class Remote:
    """A file to fetch: where from, its name on disk and what it must match (when known)."""

    url: str
    filename: str
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None

    def with_mirror(self, mirror: str | None) -> Remote:
        """The same file from ``mirror`` (a base URL that replaces everything before the file name)."""
        if not mirror:
            return self
        return Remote(mirror.rstrip("/") + "/" + self.url.rsplit("/", 1)[-1], self.filename, self.size, self.md5,
                      self.sha256)


class Progress:
    """A one-line bar on a terminal; a line per 10 % otherwise (logs stay readable)."""

    def __init__(self, label: str, total: int | None, start: int = 0) -> None:
        self.label = label
        self.total = total
        self.done = start
        self.start = start
        self.began = time.perf_counter()
        self.tty = sys.stderr.isatty()
        self.next_report = 0.1

    def update(self, amount: int) -> None:
        self.done += amount
        rate = (self.done - self.start) / max(time.perf_counter() - self.began, 1e-6) / 1e6
        if self.total:
            fraction = self.done / self.total
            if self.tty:
                bar = "#" * int(30 * fraction)
                print(f"\r{self.label} [{bar:<30}] {fraction:5.1%} {self.done / 1e6:.1f} MB {rate:.1f} MB/s",
                      end="", file=sys.stderr, flush=True)
            elif fraction >= self.next_report:
                print(f"{self.label}: {fraction:.0%} of {self.total / 1e6:.1f} MB", file=sys.stderr, flush=True)
                self.next_report += 0.1
        elif self.tty:
            print(f"\r{self.label} {self.done / 1e6:.1f} MB {rate:.1f} MB/s", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty:
            print(file=sys.stderr, flush=True)


def md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the .part is already complete (or longer than the file)
            raise
        raise DataError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(f"{url}: cannot connect ({reason}); check the network or use --mirror URL") from exc


def fetch(remote: Remote, folder: Path, timeout: float = 60.0, quiet: bool = False) -> Path:
    """Download ``remote`` into ``folder``; returns the final path. An existing final file is kept."""
    final = folder / remote.filename
    if final.is_file() and (remote.size is None or final.stat().st_size == remote.size):
        return final
    write_folder(folder)
    part = final.with_name(final.name + ".part")
    if part.is_symlink():  # appending would write into whatever it points to
        raise DataError(f"{part} is a symbolic link; vidpred never writes through a link: remove it and run "
                        "the command again")
    offset = part.stat().st_size if part.is_file() else 0
    try:
        response = _open(remote.url, offset, timeout)
    except urllib.error.HTTPError:  # 416: start again from zero
        part.unlink()
        offset = 0
        response = _open(remote.url, 0, timeout)
    with response:
        if offset and response.status != 206:
            offset = 0  # the server ignored the range: restart
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else remote.size
        progress = Progress(remote.filename, total, offset) if not quiet else None
        received = offset
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_APPEND if offset else os.O_TRUNC)
            with os.fdopen(os.open(part, flags, 0o666), "ab" if offset else "wb") as out:
                while block := response.read(CHUNK):
                    out.write(block)
                    received += len(block)
                    if progress:
                        progress.update(len(block))
        except (http.client.IncompleteRead, ConnectionError, TimeoutError, OSError) as exc:
            raise DataError(f"{remote.url}: connection lost after {received} of {total or '?'} bytes "
                            f"({type(exc).__name__}); run the same command again to resume") from exc
        finally:
            if progress:
                progress.close()
    if total is not None and received < total:
        raise DataError(f"{remote.url}: connection lost after {received} of {total} bytes; "
                        "run the same command again to resume")
    _check(remote, part)
    os.replace(part, final)
    return final


def _check(remote: Remote, part: Path) -> None:
    """Size and checksum of a finished download; a bad file is deleted, never renamed."""
    size = part.stat().st_size
    problem = None
    if remote.size is not None and size != remote.size:
        problem = f"size {size} bytes, expected {remote.size}"
    elif remote.md5 is not None and (found := md5_file(part)) != remote.md5:
        problem = f"checksum mismatch (md5 {found}, expected {remote.md5})"
    elif remote.sha256 is not None and (found := sha256_file(part)) != remote.sha256:
        problem = f"checksum mismatch (sha256 {found}, expected {remote.sha256})"
    if problem:
        part.unlink()
        raise DataError(f"{remote.url}: {problem}; the download was deleted; try again or use --mirror URL")


def _safe_member(name: str, target: Path) -> Path:
    """Where archive member ``name`` goes; refuses absolute paths and ``..`` escapes."""
    dest = (target / name).resolve()
    if not dest.is_relative_to(target.resolve()):
        raise DataError(f"archive member {name!r} would be written outside {target}; refusing to extract")
    return dest


def extract(archive: Path, target: Path) -> Path:
    """Unpack a zip or tar ``archive`` into ``target`` atomically; members may not escape it."""
    with atomic_dir(target) as tmp:
        try:
            _unpack(archive, tmp)
        except OSError as exc:  # e.g. a member whose path is also a file: the archive is malformed
            raise DataError(f"{archive}: cannot extract it ({exc.strerror or exc}: {exc.filename})") from exc
    return target


def _unpack(archive: Path, tmp: Path) -> None:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                dest = _safe_member(info.filename, tmp)
                if stat.S_ISLNK(info.external_attr >> 16):  # data archives hold no links; followed,
                    # one could point anywhere
                    raise DataError(f"{archive}: member {info.filename!r} is a symbolic link; refusing to extract")
                if info.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            for member in tf:
                dest = _safe_member(member.name, tmp)
                if member.isdir():
                    dest.mkdir(parents=True, exist_ok=True)
                elif member.isfile():
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with tf.extractfile(member) as src, open(dest, "wb") as out:  # type: ignore[union-attr]
                        shutil.copyfileobj(src, out, CHUNK)
                else:
                    raise DataError(f"{archive}: member {member.name!r} is a link or device; refusing to extract")
    else:
        raise DataError(f"{archive}: neither a zip nor a tar archive")
