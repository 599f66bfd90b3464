"""A filesystem of a test's own for a child process: a tmpfs of a few kilobytes mounted in a private
mount namespace (``unshare --mount``, inside a user namespace when not root), filled or made
read-only. A full disk and a read-only folder are then real, also for root, whom permission bits do
not stop, and nothing outside the child's namespace sees the mount."""

from __future__ import annotations

import functools
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers.config import REPO


@functools.lru_cache(maxsize=1)
def namespace_command() -> tuple[str, ...] | None:
    """The ``unshare`` command that lets a child mount a tmpfs here, or None."""
    probe = "d=$(mktemp -d) && mount -t tmpfs -o size=16k tmpfs \"$d\" && umount \"$d\" && rmdir \"$d\""
    for command in (("unshare", "--mount"), ("unshare", "--user", "--map-root-user", "--mount")):
        try:
            done = subprocess.run([*command, "sh", "-c", probe], capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return command
    return None


def require_namespace() -> tuple[str, ...]:
    command = namespace_command()
    if command is None:
        pytest.skip("this machine lets no process mount a tmpfs of its own (unshare --mount, with or without a "
                    "user namespace, is refused): a full or read-only disk cannot be made here")
    return command


@dataclass
class Result:
    code: int
    out: str
    err: str
    after: Path  # a copy of the small filesystem's files as the command left them


def on_small_fs(mount: Path, size_kb: int, command: list[str], setup: str = "", read_only: bool = False,
                cwd: Path = REPO) -> Result:
    """Run ``command`` with a tmpfs of ``size_kb`` KiB at ``mount`` (created), after the shell lines
    ``setup`` have run there and, with ``read_only``, the tmpfs was remounted read-only."""
    namespace = require_namespace()
    mount.mkdir(parents=True, exist_ok=True)
    after = mount.with_name(mount.name + "_after")
    after.mkdir()
    out, err = mount.with_name(mount.name + ".out"), mount.with_name(mount.name + ".err")
    m = shlex.quote(str(mount))
    script = "\n".join([
        "set -e",
        f"mount -t tmpfs -o size={size_kb}k,mode=0777 tmpfs {m}",
        setup,
        f"mount -o remount,ro {m}" if read_only else "",
        "set +e",
        f"{shlex.join(command)} > {shlex.quote(str(out))} 2> {shlex.quote(str(err))}",
        "code=$?",
        f"cp -a {m}/. {shlex.quote(str(after))}/",
        "exit $code",
    ])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("VIDPRED_DEBUG", None)
    done = subprocess.run([*namespace, "bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    assert out.exists(), done.stderr  # the mount itself worked
    return Result(done.returncode, out.read_text(), err.read_text(), after)


def python(module: str, *args: object) -> list[str]:
    return [sys.executable, "-m", module, *map(str, args)]
