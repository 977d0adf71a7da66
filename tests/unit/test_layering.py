"""Layering rules of CONVENTIONS.md, via tools/check_kernels.py (and its CLI)."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not (ROOT / "kernels").is_dir() or not (ROOT / "tools").is_dir(),
                                reason="source tree not available (installed-wheel run)")


def _load_checker():
    spec = importlib.util.spec_from_file_location("bittrue_tools_check_kernels", ROOT / "tools" / "check_kernels.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


if (ROOT / "tools" / "check_kernels.py").exists():
    check = _load_checker()


def test_repo_has_no_bare_kernels_or_datasets_imports():
    errors = []
    for p in check.python_files(ROOT):
        errors += check.check_bare_imports(p)
    assert errors == []


def test_kernels_do_not_import_bittrue():
    errors = []
    for p in sorted((ROOT / "kernels").rglob("*.py")):
        errors += check.check_kernel_imports(p)
    assert errors == []


def test_every_kernel_jit_is_cached_without_fastmath():
    errors = []
    files = sorted((ROOT / "kernels").rglob("*.py"))
    assert files
    for p in files:
        errors += check.check_jit_decorators(p)
    assert errors == []


def test_cli_ok_on_repo():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "check_kernels.py"), str(ROOT)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("src,needle", [
    ("from numba import njit\n@njit\ndef f(x):\n    return x\n", "cache=True"),
    ("import numba\n@numba.njit(cache=False)\ndef f(x):\n    return x\n", "cache=True"),
    ("from numba import njit\n@njit(cache=True, fastmath=True)\ndef f(x):\n    return x\n", "fastmath"),
    ("from numba import jit\n@jit(cache=True, forceobj=True)\ndef f(x):\n    return x\n", "object mode"),
    ("import bittrue\n", "must not import bittrue"),
    ("from bittrue.config import HardwareConfig\n", "must not import bittrue"),
    ("from kernels._intops import mask_u\n", "kernels/datasets"),
    ("import datasets\n", "kernels/datasets"),
])
def test_cli_flags_violations(tmp_path, src, needle):
    (tmp_path / "kernels").mkdir()
    (tmp_path / "kernels" / "bad.py").write_text(src)
    (tmp_path / "kernels" / "good.py").write_text(
        "from numba import njit\nfrom ._intops import mask_u\n@njit(cache=True)\ndef g(x):\n    return x\n")
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "check_kernels.py"), str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert needle in r.stdout
    assert "good.py" not in r.stdout


def test_bare_import_outside_kernels_flagged(tmp_path):
    (tmp_path / "bittrue").mkdir()
    (tmp_path / "bittrue" / "x.py").write_text("x = 1\nimport kernels.lfsr as k\n")
    (tmp_path / "venv").mkdir()
    (tmp_path / "venv" / "y.py").write_text("import datasets\n")  # skipped directory
    errors = check.run_checks(tmp_path)
    assert len(errors) == 1 and "x.py:2" in errors[0]


# ----------------------------------------------------------------------------- the map of the house
# docs/architecture.md, "Map of the house": cli -> core -> kernels; core -> datasets; tools -> core.
def _package_of(path: Path, root: Path = ROOT) -> list[str]:
    """Package of a source file as installed (kernels/ -> bittrue.kernels, datasets/ -> bittrue.datasets)."""
    parts = list(path.relative_to(root).parts[:-1])
    if parts and parts[0] in ("kernels", "datasets"):
        parts = ["bittrue", *parts]
    return parts


def _imports(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """Every module a file imports, resolved to its absolute dotted name (function-local imports included;
    ``from . import x`` yields both the package and ``package.x``)."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    pkg = _package_of(path, root)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            up = node.level - 1 if node.level else 0
            base = (pkg[: len(pkg) - up] if up < len(pkg) else ["<above-root>"]) if node.level else []
            mod = ".".join([*base, *(node.module.split(".") if node.module else [])])
            out.append((node.lineno, mod))
            out += [(node.lineno, f"{mod}.{a.name}") for a in node.names]
    return out


def _cli_layer(path: Path) -> bool:
    rel = path.relative_to(ROOT / "bittrue").parts
    return rel[0] in ("cli.py", "cli", "__main__.py")


def _is_cli(mod: str) -> bool:
    return mod == "bittrue.cli" or mod.startswith("bittrue.cli.")


def test_core_modules_do_not_import_the_cli():
    """The CLI sits on top of the core: no module of ``bittrue/`` outside the CLI layer (``cli``, ``__main__``)
    imports it, in any spelling (``from .cli``, ``from . import cli``, ``from ..cli`` in a subpackage,
    ``import bittrue.cli``), function-local imports included."""
    bad = [f"{p.relative_to(ROOT).as_posix()}:{ln} {m}" for p in sorted((ROOT / "bittrue").rglob("*.py"))
           if not _cli_layer(p) for ln, m in _imports(p) if _is_cli(m)]
    assert not bad, f"core modules import the CLI: {bad}"


def test_kernels_and_datasets_stay_below_bittrue():
    """``kernels/`` import numpy, numba and each other only; ``datasets/`` import numpy and each other only (no
    ``bittrue``, no kernels; a ``from .. import`` would reach ``bittrue`` once installed)."""
    import sys as _sys

    std = set(_sys.stdlib_module_names) | {"__future__"}
    allowed = {"kernels": std | {"numpy", "numba", "bittrue.kernels"}, "datasets": std | {"numpy", "bittrue.datasets"}}
    bad = []
    for top, ok in allowed.items():
        for p in sorted((ROOT / top).rglob("*.py")):
            for ln, m in _imports(p):
                if not any(m == a or m.startswith(a + ".") for a in ok):
                    bad.append(f"{p.relative_to(ROOT).as_posix()}:{ln} {m}")
    assert not bad, f"kernels/datasets import above their layer: {bad}"


def test_tools_use_the_core_not_the_cli():
    """Tools call the core (or run ``python -m bittrue``); only the docs generator imports the CLI."""
    bad = [f"{p.name}:{ln} {m}" for p in sorted((ROOT / "tools").glob("*.py")) if p.name != "gen_cli_docs.py"
           for ln, m in _imports(p) if _is_cli(m)]
    assert not bad, f"tools import the CLI: {bad}"


def test_layering_checks_see_violations(tmp_path):
    """The import resolution the checks above rely on finds each spelling of a forbidden import."""
    for rel, src, hit in [
        ("bittrue/energy/report.py", "from ..cli import main\n", "bittrue.cli"),
        ("bittrue/golden.py", "def f():\n    from . import cli\n", "bittrue.cli"),
        ("kernels/ssa.py", "from .. import config\n", "bittrue.config"),
        ("datasets/digits.py", "from ..kernels import lfsr\n", "bittrue.kernels"),
    ]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(src)
        mods = [m for _, m in _imports(p, tmp_path)]
        assert any(m == hit or m.startswith(hit + ".") for m in mods), (rel, mods)


def test_map_lists_every_module():
    """Every module and subpackage of ``bittrue/`` has a row in the map of docs/architecture.md (a module
    ``x.py`` and a package ``x/`` count as the same entry, so the map survives a file becoming a package)."""
    import re

    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    m = re.search(r"^## Map of the house\n(.*?)^## ", text, re.S | re.M)
    assert m, "docs/architecture.md has no '## Map of the house' section"
    rows = [ln.split("|")[1] for ln in m.group(1).splitlines() if ln.startswith("| `")]
    listed = {re.sub(r"(\.py|/)$", "", n) for row in rows for n in re.findall(r"`([^`]+)`", row)}
    have = {p.stem for p in (ROOT / "bittrue").glob("*.py")} | {
        p.name for p in (ROOT / "bittrue").iterdir() if p.is_dir() and not p.name.startswith("__")}
    missing = sorted(have - listed - {"__init__"})
    assert not missing, f"modules of bittrue/ missing from the map in docs/architecture.md: {missing}"


def test_no_file_under_bittrue_over_600_lines():
    """Rooms that do one job: every module of the package is at most 600 lines (issue 18)."""
    big = {p.relative_to(ROOT).as_posix(): n for p in sorted((ROOT / "bittrue").rglob("*.py"))
           if (n := len(p.read_text().splitlines())) > 600}
    assert not big, f"split these modules by job: {big}"
