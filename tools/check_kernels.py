#!/usr/bin/env python
"""Static checks of the kernel rules (CONVENTIONS.md), the way stumpy checks its own.

1. Every ``@njit`` / ``@numba.njit`` / ``@jit`` / ``@numba.jit`` in ``kernels/`` is called
   with ``cache=True`` and without ``fastmath``, and is not in object mode
   (``forceobj``/``nopython=False``).
2. No Python file of the repository imports the bare top-level names ``kernels`` or
   ``datasets`` (they are installed as ``bittrue.kernels`` / ``bittrue.datasets``).
3. Nothing under ``kernels/`` imports ``bittrue`` (dependencies run bittrue -> kernels).

Usage: ``python tools/check_kernels.py [REPO_ROOT]``; prints one line per violation and
exits 1 if there is any, 0 otherwise.
"""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

JIT_NAMES = {"njit", "jit"}
#: directories never scanned (virtual environments, build outputs, caches)
SKIP_DIRS = {".git", "venv", ".venv", "build", "dist", "__pycache__", ".hypothesis",
             ".pytest_cache", "node_modules", ".tox", ".nox", "site-packages"}
BARE_IMPORT = re.compile(r"^\s*(?:import\s+(?:kernels|datasets)\b|from\s+(?:kernels|datasets)\b[\s.])",
                         re.MULTILINE)


def python_files(root: Path):
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root).parts
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel[:-1]):
            continue
        yield p


def _decorator_name(dec: ast.expr) -> str | None:
    node = dec.func if isinstance(dec, ast.Call) else dec
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def check_jit_decorators(path: Path) -> list[str]:
    """Violations of the njit rules in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    errors = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for dec in node.decorator_list:
            name = _decorator_name(dec)
            if name not in JIT_NAMES:
                continue
            where = f"{path}:{dec.lineno}: @{name} on {node.name}"
            if not isinstance(dec, ast.Call):
                errors.append(f"{where}: needs cache=True")
                continue
            kw = {k.arg: k.value for k in dec.keywords}
            cache = kw.get("cache")
            if not (isinstance(cache, ast.Constant) and cache.value is True):
                errors.append(f"{where}: needs cache=True")
            if "fastmath" in kw and not (isinstance(kw["fastmath"], ast.Constant) and kw["fastmath"].value is False):
                errors.append(f"{where}: fastmath is forbidden")
            if "forceobj" in kw or "looplift" in kw or (
                    "nopython" in kw and not (isinstance(kw["nopython"], ast.Constant) and kw["nopython"].value)):
                errors.append(f"{where}: object mode is forbidden")
    return errors


def check_kernel_imports(path: Path) -> list[str]:
    """``kernels/`` must not import bittrue and must import siblings relatively."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    errors = []
    for node in ast.walk(tree):
        mods = []
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            mods = [node.module]
        for m in mods:
            top = m.split(".")[0]
            if top == "bittrue":
                errors.append(f"{path}:{node.lineno}: kernels must not import bittrue ({m})")
            elif top in ("kernels", "datasets"):
                errors.append(f"{path}:{node.lineno}: use a relative import instead of {m}")
    return errors


def check_bare_imports(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    errors = []
    for m in BARE_IMPORT.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        errors.append(f"{path}:{line}: bare import of a top-level kernels/datasets package: "
                      f"{m.group(0).strip()!r} (use bittrue.kernels / bittrue.datasets)")
    return errors


def run_checks(root: Path) -> list[str]:
    root = Path(root)
    errors = []
    for p in python_files(root):
        errors += check_bare_imports(p)
    kdir = root / "kernels"
    if kdir.is_dir():
        for p in sorted(kdir.rglob("*.py")):
            errors += check_jit_decorators(p)
            errors += check_kernel_imports(p)
    return errors


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent
    errors = run_checks(root)
    for e in errors:
        print(e)
    if errors:
        print(f"check_kernels: {len(errors)} violation(s)", file=sys.stderr)
        return 1
    print("check_kernels: ok", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
