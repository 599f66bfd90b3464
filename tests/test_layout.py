"""The layout's promises: the report needs no torch, nothing leans on Hydra's internals, importing a
module changes nothing in the process, and every named thing is found through one kind of registry."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import pytest

from helpers.config import REPO

SRC = REPO / "src" / "vidpred"


def module_names() -> list[str]:
    """Every module of the package, by its dotted name (``__main__`` modules run commands: left out)."""
    names = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def imported_elsewhere() -> list[str]:
    """Every module outside vidpred that vidpred imports anywhere (lazily too), by its dotted name."""
    found = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
    return sorted(n for n in found if n.split(".")[0] not in ("vidpred", "__future__"))


def plain_environment() -> dict[str, str]:
    """The few variables a child interpreter needs: none that this process (which has imported vidpred)
    may have set, so that a module setting one is seen setting it."""
    return {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}


def python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_report_imports_neither_torch_nor_the_models() -> None:
    loaded = json.loads(python("import json, sys, vidpred.report, vidpred.report.__main__ as _\n"
                               "print(json.dumps(sorted(sys.modules)))"))
    assert "vidpred.report.build" in loaded  # the report really was imported
    assert "torch" not in loaded and "vidpred.models" not in loaded


def test_no_module_uses_hydras_internals() -> None:
    found = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.relative_to(REPO)}: {n}" for n in names if n.startswith("hydra._internal")]
    assert found == []


# What importing a module may not touch; run in a fresh interpreter, one module after the other. The
# libraries come first: some set warning filters of their own as they load (torch, scipy).
SIDE_EFFECTS = r"""
import importlib, json, logging, os, signal, sys, warnings

for name in json.loads(sys.argv[2]):
    try:
        importlib.import_module(name)
    except ImportError:  # an optional extra that is not installed
        pass

def state():
    handlers = {}
    for sig in signal.valid_signals():
        try:
            handlers[str(sig)] = repr(signal.getsignal(sig))
        except (OSError, ValueError):
            pass
    return {"environ": dict(os.environ), "signals": handlers, "warnings": repr(warnings.filters),
            "pyplot": "matplotlib.pyplot" in sys.modules, "root logging": repr(logging.getLogger().handlers),
            "argv": list(sys.argv)}

changed = {}
for name in json.loads(sys.argv[1]):
    before = state()
    importlib.import_module(name)
    after = state()
    keys = [k for k in before if before[k] != after[k]]
    if keys:
        changed[name] = keys
print(json.dumps(changed))
"""


def test_importing_a_module_changes_nothing_in_the_process() -> None:
    names = module_names()
    assert {"vidpred.run", "vidpred.experiment", "vidpred.search.worker", "vidpred.data.sets.kth"} <= set(names)
    done = subprocess.run([sys.executable, "-c", SIDE_EFFECTS, json.dumps(names), json.dumps(imported_elsewhere())],
                          cwd=REPO, capture_output=True, text=True, timeout=600, env=plain_environment())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {}


@pytest.mark.parametrize("where, registry, kind", [
    ("vidpred.models", "MODELS", "model"),
    ("vidpred.data", "FAMILIES", "data set"),
    ("vidpred.data", "ASSETS", "asset"),
    ("vidpred.training.loggers", "LOGGERS", "logger"),
])
def test_every_kind_of_named_thing_has_one_registry_with_one_line_errors(where: str, registry: str,
                                                                         kind: str) -> None:
    import importlib

    import vidpred.metrics.lpips  # noqa: F401  (registers its weights as an asset)
    from vidpred.errors import ConfigError
    from vidpred.registry import Registry

    found = getattr(importlib.import_module(where), registry)
    assert isinstance(found, Registry) and found.kind == kind and len(found.names()) >= 1
    with pytest.raises(ConfigError) as caught:
        found.get("no-such-thing")
    assert str(caught.value) == f"unknown {kind} 'no-such-thing'; choose one of {', '.join(found.names())}"
