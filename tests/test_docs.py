"""The README and docs/ as a reader uses them: every command they show composes or parses, every
module, file and test they name exists, every Python example imports what it says, and every
relative link and #anchor resolves.

Commands are checked without running them, in this process (Hydra's compose API, the commands'
own argument parsers), so data and run folders need not exist:

- ``python -m vidpred.run ...``: composed as the command would compose it; a ``-m`` sweep is
  expanded as Hydra's basic sweeper expands it (a preset's ``hydra.sweeper.params`` first, the
  command line over them), every combination of the swept config groups (``model``, ``data``, ...)
  composed, and each value of a swept plain key (``seed``, ``layers``, ``optim.lr``) in at least one
  of them. Each job then passes the checks a run makes before it reads any data: the model of the
  data's kind, built with its keys on PyTorch's meta device.
- ``torchrun ... -m vidpred.run ...``: the ``vidpred.run`` part, as above.
- ``python -m vidpred.search ...`` (also ``make search SEARCH=...``): the search's own plan, which
  composes and checks the search without running a trial.
- ``python -m vidpred.perf.bench ...``: its argument parser, then its overrides composed.
- ``python -m vidpred.data SUBCOMMAND NAME ...``: its argument parser, the data set's ability to do
  the subcommand, and the ``data.KEY=VALUE`` overrides composed with that data set.
- ``python -m vidpred.predict|report ...``: ``--help`` works and names every option the command uses.
- ``make TARGET VAR=...``: the target and the variables are the Makefile's.
- ``scripts/...``: the script exists and is executable. ``sbatch --wrap "..."``: the wrapped command.
- ``wandb``, ``pip``, ``source``, ``optuna-dashboard``: other tools, named in EXTERNAL; anything else
  in a ``bash`` block fails the test.

Placeholders the text uses for a reader's own values (PLACEHOLDERS) are replaced by temporary paths
or plain values before a command is checked.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib
import importlib.util
import io
import itertools
import os
import re
import shlex
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from helpers.config import REPO
from vidpred import config

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README_MAX_LINES = 300

#: Programs of other tools a command block may show; they are not vidpred's to check.
EXTERNAL = {"wandb", "pip", "source", "optuna-dashboard"}
#: Words that stand for the reader's own values, and what each becomes when a command is checked
#: ({tmp}: a temporary folder of the test).
PLACEHOLDERS = {"PATH": "{tmp}/path", "RUN": "{tmp}/run", "DIR": "{tmp}/dir", "N": "2", "HOST": "localhost",
                "$HOME": "{tmp}/home", "$PWD": "{tmp}/pwd"}
#: Files the examples of docs/extending.md add (their folders must exist).
EXAMPLE_FILES = {"src/vidpred/data/sets/ramps.py", "conf/data/ramps.yaml", "src/vidpred/models/drift.py",
                 "conf/model/drift.yaml"}
#: Text that has no place in a user's instructions: this project's development machines.
DEVELOPMENT_PATHS = ("../shared", "/work/", "/opt/wheels")


# ---------------------------------------------------------------- reading the Markdown
@dataclass(frozen=True)
class Block:
    doc: Path
    line: int  # the line of its opening fence, 1-based
    language: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(REPO)}:{self.line}"


def blocks(doc: Path) -> list[Block]:
    """The fenced code blocks of ``doc`` (also inside list items, indented)."""
    found, lines = [], doc.read_text().splitlines()
    i = 0
    while i < len(lines):
        opening = re.match(r"^(\s*)```(\w*)\s*$", lines[i])
        if not opening:
            i += 1
            continue
        indent, language, body = len(opening.group(1)), opening.group(2), []
        i += 1
        while not re.match(r"^\s*```\s*$", lines[i]):
            body.append(re.sub(rf"^ {{0,{indent}}}", "", lines[i]))
            i += 1
        found.append(Block(doc, i - len(body), language, "\n".join(body)))
        i += 1
    return found


def prose(doc: Path) -> str:
    """``doc`` without its fenced code blocks."""
    return re.sub(r"^\s*```\w*\s*\n.*?^\s*```\s*$", "", doc.read_text(), flags=re.S | re.M)


def headings(doc: Path) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^#{1,6}\s+(.+)$", prose(doc), flags=re.M)]


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: the rendered text in lower case, punctuation dropped
    (letters, digits, ``_``, ``-`` and spaces kept), spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(doc: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for heading in headings(doc):
        slug = github_slug(heading)
        out.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return out


def links(doc: Path) -> list[str]:
    """Targets of the Markdown links outside code (inline code spans dropped too)."""
    text = re.sub(r"`[^`\n]*`", "", prose(doc))
    return re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", text)


COMMAND_STARTS = ("python -m ", ".venv/bin/python -m ", "make ", "torchrun ")


def commands(block: Block) -> Iterator[list[str]]:
    """The commands of a block as argument lists: continuation lines joined, comments dropped. In a
    ``bash``/``sh`` block every line is a command; in a block without a language (an output, a
    layout) only the lines that start as vidpred's or make's commands do."""
    for line in block.text.replace("\\\n", " ").splitlines():
        if not block.language and not line.lstrip().startswith(COMMAND_STARTS):
            continue
        argv = shlex.split(line, comments=True)
        if argv:
            yield argv


def command_blocks() -> list[Block]:
    """``bash``/``sh`` blocks, and blocks without a language (outputs, layouts: only their lines that
    are vidpred or make commands are commands)."""
    return [b for doc in DOCS for b in blocks(doc) if b.language in ("bash", "sh", "")]


# ---------------------------------------------------------------- checking commands
def substitute(argv: list[str], tmp: Path) -> list[str]:
    def one(word: str) -> str:
        if "=" in word:  # KEY=VALUE: only the value stands for the reader's own
            key, value = word.split("=", 1)
            return f"{key}={one(value)}"
        for name, value in PLACEHOLDERS.items():
            pattern = re.escape(name) if name.startswith("$") else rf"(?<![\w.]){re.escape(name)}(?![\w])"
            word = re.sub(pattern, value.format(tmp=tmp), word)
        return word

    return [one(w) for w in argv]


def strip_environment(argv: list[str]) -> list[str]:
    """The command without leading ``NAME=value`` assignments."""
    while argv and re.match(r"^[A-Za-z_]\w*=", argv[0]):
        argv = argv[1:]
    return argv


def is_group(key: str) -> bool:
    """Whether ``key`` chooses an option of a config group (its value changes the config's keys)."""
    key = key.lstrip("+~")
    return (config.CONFIG_DIR / key).is_dir() or key.startswith("hydra/")


def sweep_jobs(arguments: list[str]) -> list[list[str]]:
    """The jobs of ``python -m vidpred.run -m ARGUMENTS``, as Hydra's basic sweeper builds them; every
    combination of swept groups, and each value of a swept plain key at least once."""
    parser = OverridesParser.create()
    plain = [a for a in arguments if not parser.parse_override(a).is_sweep_override()]
    preset = config.compose(plain, return_hydra_config=True).hydra.sweeper.params or {}
    swept: OrderedDict[str, list[str]] = OrderedDict()
    for override in parser.parse_overrides([f"{k}={v}" for k, v in preset.items()] + list(arguments)):
        key = override.get_key_element()
        if override.is_sweep_override():
            swept[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            swept[key] = [f"{key}={override.get_value_element_as_str()}"]
    groups = [values for key, values in swept.items() if is_group(key)]
    others = [values for key, values in swept.items() if not is_group(key)]
    combos = list(itertools.product(*groups))
    rounds = max([len(combos), *map(len, others)])
    return [[*combos[i % len(combos)], *(values[i % len(values)] for values in others)] for i in range(rounds)]


def check_experiment(overrides: list[str]) -> None:
    """What ``python -m vidpred.run OVERRIDES`` checks before it reads any data."""
    _check_experiment(tuple(overrides))


@functools.lru_cache(maxsize=None)  # the docs repeat jobs (a preset's grid under several launchers)
def _check_experiment(overrides: tuple[str, ...]) -> None:
    from vidpred.data import family
    from vidpred.data.registry import split_data_keys
    from vidpred.experiment import experiment_config, plan_experiment
    from vidpred.models import check_model

    composed = config.compose(overrides, return_hydra_config=True)  # hydra.* and hydra/... overrides too
    job = OmegaConf.masked_copy(composed, [k for k in composed if k != "hydra"])  # what the job sees
    config.check_top_level(job)
    plain = experiment_config(config.to_plain(job), list(overrides))
    model, data = plain["model"]["name"], plain["data"]["name"]
    check_model(model, family(data).kind, f"data={data}")
    builder, _ = split_data_keys(plain["data"])
    plan_experiment(data, builder, model, {k: v for k, v in plain["model"].items() if k != "name"})


def check_run(args: list[str]) -> None:
    hydra_flags = {"-m", "--multirun", "--cfg", "job", "--resolve"}
    unknown = [a for a in args if a.startswith("-") and a not in hydra_flags]
    assert not unknown, f"flags vidpred.run does not take here: {unknown}"
    overrides = [a for a in args if a not in hydra_flags]
    jobs = sweep_jobs(overrides) if {"-m", "--multirun"} & set(args) else [overrides]
    for job in jobs:
        check_experiment(job)


def check_search(args: list[str]) -> None:
    from vidpred.search.worker import plan

    plan(args)


def check_bench(args: list[str]) -> None:
    from vidpred.perf.bench import parse_args

    check_experiment(parse_args(args).overrides)


def check_data(args: list[str], tmp: Path) -> None:
    from vidpred.data import ASSETS, family
    from vidpred.data.cli import compose_data, parser

    parsed, extra = parser().parse_known_args(args)
    assert all(re.match(r"^data\.\w+=", e) for e in extra), f"not data.KEY=VALUE overrides: {extra}"
    if parsed.name in ASSETS:
        assert parsed.command in ("download", "verify")
        return
    if parsed.command in ("download", "prepare", "verify"):
        assert getattr(family(parsed.name), parsed.command) is not None, f"{parsed.name} cannot {parsed.command}"
    compose_data(parsed.name, tmp / "data", parsed.set_name, extra, prepared=False)


def check_options(module: str, args: list[str]) -> None:
    """``--help`` of ``module`` works and lists every option ``args`` uses."""
    main = importlib.import_module(module).main
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code in (0, None)
    for option in (a.split("=", 1)[0] for a in args if a.startswith("--")):
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", out.getvalue()), f"{module} has no {option}"


def makefile() -> tuple[set[str], set[str]]:
    text = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*):", text, flags=re.M))
    variables = set(re.findall(r"^([A-Z_]+)\s*[?:]?=", text, flags=re.M))
    return targets, variables


def check_make(args: list[str]) -> None:
    targets, variables = makefile()
    for arg in args:
        if "=" in arg:
            name, value = arg.split("=", 1)
            assert name in variables, f"the Makefile has no variable {name}"
            if name == "SEARCH":
                check_search(shlex.split(value))
        else:
            assert arg in targets, f"the Makefile has no target {arg}"


def check_command(argv: list[str], tmp: Path) -> str:
    """Check one command; returns what it was, for the census."""
    argv = strip_environment(substitute(argv, tmp))
    program, args = argv[0], argv[1:]
    if program in ("python", ".venv/bin/python"):
        assert args[:1] == ["-m"], f"a python command other than python -m: {argv}"
        module, args = args[1], args[2:]
        assert importlib.util.find_spec(module) is not None, f"no module {module}"
        if module == "vidpred.run":
            check_run(args)
        elif module == "vidpred.search":
            check_search(args)
        elif module == "vidpred.perf.bench":
            check_bench(args)
        elif module == "vidpred.data":
            check_data(args, tmp)
        elif module in ("vidpred.predict", "vidpred.report"):
            check_options(module if module != "vidpred.report" else "vidpred.report.__main__", args)
        else:
            raise AssertionError(f"no check for python -m {module}: add one to tests/test_docs.py")
        return module
    if program == "torchrun":
        assert "-m" in args and args[args.index("-m") + 1] == "vidpred.run", argv
        check_run(args[args.index("-m") + 2:])
        return "torchrun"
    if program == "make":
        check_make(args)
        return "make"
    if program.startswith("scripts/"):
        assert os.access(REPO / program, os.X_OK), f"{program} is not an executable script"
        return "script"
    if program == "sbatch":
        wrapped = args[args.index("--wrap") + 1]
        return check_command(shlex.split(wrapped), tmp)
    assert program in EXTERNAL, f"unknown program {program!r}: check it here or name it in EXTERNAL"
    return "external"


def all_commands() -> list[tuple[Block, list[str]]]:
    return [(b, argv) for b in command_blocks() for argv in commands(b)]


def test_every_command_in_the_readme_and_docs_composes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a reader's folder: no data, no run folders
    monkeypatch.delenv("VIDPRED_DATA_DIR", raising=False)
    kinds = []
    for block, argv in all_commands():
        try:
            kinds.append(check_command(argv, tmp_path))
        except Exception as exc:  # noqa: BLE001 - say which command, then fail
            raise AssertionError(f"{block.where}: {shlex.join(argv)}\n  {type(exc).__name__}: {exc}") from exc
    # every kind of command the docs show was checked, not skipped
    assert {"vidpred.run", "vidpred.data", "vidpred.predict", "vidpred.report", "vidpred.search",
            "vidpred.perf.bench", "torchrun", "make", "script"} <= set(kinds)


@pytest.mark.parametrize("arguments, jobs", [
    (["model=lstm", "data=sins,noise", "layers=1,2,3"], 3),          # 2 data sets, 3 layer counts: each value once
    (["experiment=table1"], 12),                                      # the preset's grid: 4 models x 3 data sets
    (["experiment=table1", "data=sins", "layers=2"], 4),             # the command line narrows the preset
    (["data=sins", "seed=0,1,2,3,4"], 5),                             # a plain key: each value once
])
def test_a_sweep_is_expanded_as_hydra_expands_it(arguments: list[str], jobs: int) -> None:
    expanded = sweep_jobs(arguments)
    assert len(expanded) == jobs
    values = lambda key: {o.split("=", 1)[1] for job in expanded for o in job if o.startswith(f"{key}=")}  # noqa: E731
    if arguments[0] == "experiment=table1":
        assert values("model") == {"lstm", "last", "mean", "linear"}
        assert values("data") == ({"sins"} if "data=sins" in arguments else {"noise", "sins", "stocks"})
        assert values("layers") == ({"2"} if "layers=2" in arguments else {"1", "2", "3"})
    if "seed=0,1,2,3,4" in arguments:
        assert values("seed") == {"0", "1", "2", "3", "4"}


@pytest.mark.parametrize("command, problem", [
    ("python -m vidpred.run model=lstm data=sins optim.lrr=1e-3", "optim.lrr"),
    ("python -m vidpred.run -m data=sins,mnist model=lstm", "model=lstm works on sequence"),
    ("python -m vidpred.run -m data=kth,bair model.patch_size=4", "patch_size"),
    ("python -m vidpred.data prepare sins --src PATH", "sins cannot prepare"),
    ("python -m vidpred.data show mnist --out x.png data.generatr=svg32", "generatr"),
    ("python -m vidpred.predict RUN --input a.csv --out out --horizn 3", "no --horizn"),
    ("python -m vidpred.search model=lstm 'hparams_search.params.optim.lr=\"interval(1e-3)\"'", "interval"),
    ("make tests", "no target tests"),
    ("make report RUN=outputs", "no variable RUN"),
    ("python -m vidpred.bench model=lstm", "no module vidpred.bench"),
    ("scripts/gpu_chek.sh", "gpu_chek.sh"),
    ("curl https://example.com", "unknown program"),
])
def test_a_command_that_does_not_compose_fails_the_check(command: str, problem: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Exception) as caught:  # noqa: PT011 - each check fails in its own way
        check_command(shlex.split(command), tmp_path)
    assert problem in str(caught.value)


def test_placeholders_become_the_test_s_own_values(tmp_path: Path) -> None:
    argv = substitute(shlex.split("python -m vidpred.run resume=RUN hydra.run.dir=$HOME/x "
                                  "hydra.launcher.gpus_per_node=N data.set=NRUN"), tmp_path)
    assert argv[3:] == [f"resume={tmp_path}/run", f"hydra.run.dir={tmp_path}/home/x",
                        "hydra.launcher.gpus_per_node=2", "data.set=NRUN"]


# ---------------------------------------------------------------- names, examples and links
def inline_code(doc: Path) -> list[str]:
    return re.findall(r"`([^`\n]+)`", prose(doc))


def resolves(dotted: str) -> bool:
    """Whether ``dotted`` is an importable module, or an attribute path inside one."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        name = ".".join(parts[:cut])
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            thing = importlib.import_module(name)
            for attribute in parts[cut:]:
                if not hasattr(thing, attribute):
                    return False
                thing = getattr(thing, attribute)
            return True
    return False


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_every_module_file_and_test_named_exists(doc: Path) -> None:
    text = prose(doc) + "\n".join(b.text for b in blocks(doc) if b.language in ("bash", "sh"))
    missing = [m for m in set(re.findall(r"\bvidpred(?:\.[A-Za-z_]\w*)+", text)) if not resolves(m)]
    for code in inline_code(doc):
        for path in re.findall(r"(?:^|\s)((?:src|conf|tests|scripts|docs|\.ci|vidpred)/[\w./*-]*)", code):
            path = path.rstrip(".")
            if path.startswith("vidpred/"):
                path = "src/" + path
            concrete = re.split(r"/[^/]*(?:NAME|<|\{)", path)[0].rstrip("/")  # up to a placeholder part
            if path in EXAMPLE_FILES and (REPO / path).parent.is_dir():
                continue
            if not list(REPO.glob(concrete)):
                missing.append(path)
    for file, test in re.findall(r"\b(test_\w+\.py)(?:::(\w+))?", prose(doc)):
        source = REPO / "tests" / file
        if not source.is_file() or (test and not re.search(rf"^def {test}\(", source.read_text(), flags=re.M)):
            missing.append(f"{file}::{test}" if test else file)
    assert not missing, f"{doc.name} names what does not exist: {sorted(missing)}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_every_python_example_imports_what_it_says(doc: Path) -> None:
    for block in (b for b in blocks(doc) if b.language == "python"):
        tree = ast.parse(block.text, filename=block.where)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    assert resolves(f"{node.module}.{alias.name}"), f"{block.where}: from {node.module} import {alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert importlib.util.find_spec(alias.name) is not None, f"{block.where}: import {alias.name}"


def test_the_extending_examples_register_build_and_predict(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    import torch

    from vidpred.data import FAMILIES, build_data
    from vidpred.models import MODELS, build_model

    for registry in (FAMILIES, MODELS):  # the examples register into copies: other tests see no trace
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
    examples = [b for b in blocks(REPO / "docs" / "extending.md") if b.language == "python"]
    assert [b.text.splitlines()[0] for b in examples] == ["# src/vidpred/data/sets/ramps.py",
                                                          "# src/vidpred/models/drift.py"]
    for block in examples:
        exec(compile(block.text, block.where, "exec"), {})  # noqa: S102
    seeds = {"train": 1, "val": 2, "test": 3}
    data = build_data("ramps", {"context": 6, "horizon": 4, "train_size": 8, "val_size": 2, "test_size": 2,
                                "seeds": seeds}, "unused")
    item = torch.as_tensor(data.test[0])
    assert data.kind == "sequence" and item.shape == (10, 1)
    np.testing.assert_allclose(np.diff(item[:, 0].numpy()), np.diff(item[:, 0].numpy())[0], rtol=1e-4)  # a ramp
    model = build_model("drift", "sequence", (1,), {"layers": 1})
    # the drift continues a ramp exactly: its steps are equal
    torch.testing.assert_close(model(item[None, :6], 4)[0], item[6:], rtol=1e-4, atol=1e-6)
    assert model(torch.rand(2, 3, 1, 8, 8), 5).shape == (2, 5, 1, 8, 8)  # and any video
    assert MODELS["drift"].declaration() == {"label": "baseline: drift", "layered": False, "trainable": False,
                                             "kinds": ["sequence", "video"]}


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_every_relative_link_and_anchor_resolves(doc: Path) -> None:
    broken = [target for target in links(doc) if not link_resolves(doc, target)]
    assert not broken, f"{doc.name}: broken links {broken}"


def link_resolves(doc: Path, target: str) -> bool:
    if re.match(r"^[a-z]+://|^mailto:", target):
        return True  # the web: not checked here
    path, _, anchor = target.partition("#")
    file = (doc.parent / path).resolve() if path else doc
    if not file.exists() or REPO not in file.parents:
        return False
    return not anchor or (file.suffix == ".md" and anchor in anchors(file))


def test_the_link_check_fails_on_a_broken_link_or_anchor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(globals(), "REPO", tmp_path)
    (tmp_path / "docs").mkdir()
    doc = tmp_path / "README.md"
    doc.write_text("# Title\n\n## Clips: `data=videos`\n\n```bash\n# Not a heading\n```\n")
    (tmp_path / "docs" / "x.md").write_text("# X\n\n## Sweeps, reports and search\n\n## Sweeps, reports and search\n")
    assert anchors(doc) == {"title", "clips-datavideos"}
    assert anchors(tmp_path / "docs" / "x.md") == {"x", "sweeps-reports-and-search", "sweeps-reports-and-search-1"}
    assert link_resolves(doc, "#clips-datavideos") and link_resolves(doc, "docs/x.md#sweeps-reports-and-search-1")
    assert not link_resolves(doc, "#not-a-heading")
    assert not link_resolves(doc, "docs/y.md")
    assert not link_resolves(doc, "docs/x.md#clips-datavideos")


def test_the_layout_map_lists_every_module_of_the_package() -> None:
    text = (REPO / "docs" / "development.md").read_text()
    listed = set(re.findall(r"^(\S+\.py)\s{2,}\S", text, flags=re.M))
    package = REPO / "src" / "vidpred"
    assert listed == {str(p.relative_to(package)) for p in package.rglob("*.py")}


def test_the_readme_is_a_short_manual_and_the_docs_name_no_development_machine() -> None:
    assert len((REPO / "README.md").read_text().splitlines()) <= README_MAX_LINES
    for doc in DOCS:
        text = doc.read_text()
        assert not [p for p in DEVELOPMENT_PATHS if p in text], doc.name
    assert {d.name for d in DOCS[1:]} == {f"{m.group(1)}" for m in
                                          re.finditer(r"\(docs/([\w-]+\.md)\)", (REPO / "README.md").read_text())}
