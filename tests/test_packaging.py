"""The wheel carries every package and the config tree."""

from __future__ import annotations

import tomllib

from helpers.config import REPO


def test_every_package_under_src_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO / "src").parts) for p in (REPO / "src").rglob("__init__.py")}
    assert found | {"vidpred.conf"} == listed


def test_config_tree_is_shipped_as_package_data() -> None:
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"]["vidpred.conf"] == "conf"
    assert "**/*.yaml" in setuptools["package-data"]["vidpred.conf"]
    assert (REPO / "conf" / "config.yaml").is_file()
