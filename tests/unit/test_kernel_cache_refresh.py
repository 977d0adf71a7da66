"""Numba's on-disk cache does not track callees; ``bittrue._numbacache.refresh_stale_kernels`` makes a changed
kernel file recompile every cached kernel (an editable install after ``git pull``).

A throw-away package of two cached kernels, ``caller.g`` calling ``callee.f`` from another file, is compiled in
a subprocess; ``callee.py`` is then edited and the package run again in a fresh subprocess, as a new command
would, with the same cache directory.  The environment of the subprocesses is a copy: nothing leaks into the
test session.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from bittrue._numbacache import kernels_cache_dir, kernels_digest, refresh_stale_kernels

RUN = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from pathlib import Path
    from bittrue._numbacache import refresh_stale_kernels
    refresh_stale_kernels(Path(sys.argv[1]) / "pkg")
    from pkg.caller import g
    print(g())
""")


def _package(root: Path, value: int) -> Path:
    pkg = root / "pkg"
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "callee.py").write_text(f"from numba import njit\n\n\n@njit(cache=True)\ndef f():\n    return {value}\n")
    (pkg / "caller.py").write_text("from numba import njit\n\nfrom .callee import f\n\n\n"
                                   "@njit(cache=True)\ndef g():\n    return f() + 100\n")
    return pkg


def _run(root: Path, cache: Path) -> int:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    out = subprocess.run([sys.executable, "-c", RUN, str(root)], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip().splitlines()[-1])


def test_a_changed_callee_recompiles_its_cached_caller(tmp_path):
    pkg = _package(tmp_path, 1)
    cache = tmp_path / "cache"
    assert _run(tmp_path, cache) == 101
    assert any(cache.rglob("caller.g-*.nbi"))  # the caller really was cached
    (pkg / "callee.py").write_text((pkg / "callee.py").read_text().replace("return 1", "return 2"))
    assert _run(tmp_path, cache) == 102


def test_refresh_deletes_only_when_the_sources_changed(tmp_path, monkeypatch):
    import numba

    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path / "cache"))
    pkg = _package(tmp_path, 1)
    cache = kernels_cache_dir(pkg)
    assert cache is not None and cache.parent == tmp_path / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    kept = [cache / "caller.g-6.py311.nbi", cache / "callee.f-4.py311.1.nbc", cache / "other.h-1.py311.nbi"]
    for f in kept:
        f.write_text("x")
    assert refresh_stale_kernels(pkg)  # no record yet: the kernels' files go, another module's stay
    assert [f.exists() for f in kept] == [False, False, True]
    assert (cache / "bittrue-kernels.sha256").read_text().strip() == kernels_digest(pkg)
    kept[0].write_text("x")
    assert not refresh_stale_kernels(pkg) and kept[0].exists()  # unchanged sources: nothing deleted
    (pkg / "callee.py").write_text("x = 3\n")
    assert refresh_stale_kernels(pkg) and not kept[0].exists()
    assert (cache / "bittrue-kernels.sha256").read_text().strip() == kernels_digest(pkg)
