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


def test_core_modules_do_not_import_the_cli():
    """The CLI sits on top of the core: no module of ``bittrue/`` but ``cli`` and ``__main__`` imports it (function-
    local imports included; option types live in ``bittrue.options``, the pipeline in ``bittrue.pipeline``)."""
    import re

    pat = re.compile(r"^\s*(from\s+(\.+|bittrue\.)cli\b|import\s+bittrue\.cli\b|from\s+(\.+|bittrue)\s+import\s+"
                     r"([^\n]*,\s*)?cli\b)", re.M)
    cli_layer = {ROOT / "bittrue" / "__main__.py"} | set((ROOT / "bittrue" / "cli").rglob("*.py"))
    bad = [p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "bittrue").rglob("*.py"))
           if p not in cli_layer and pat.search(p.read_text())]
    assert not bad, f"core modules import the CLI: {bad}"
    for line in ("from ..cli import main", "from .cli.parser import build_parser", "import bittrue.cli",
                 "from bittrue.cli import main", "from . import cli", "from .. import netlist, cli"):
        assert pat.search(line), line  # the pattern sees every spelling, subpackages' relative imports included


def test_no_file_under_bittrue_over_600_lines():
    """Rooms that do one job: every module of the package is at most 600 lines (issue 18)."""
    big = {p.relative_to(ROOT).as_posix(): n for p in sorted((ROOT / "bittrue").rglob("*.py"))
           if (n := len(p.read_text().splitlines())) > 600}
    assert not big, f"split these modules by job: {big}"
