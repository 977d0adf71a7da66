"""``NUMBA_DISABLE_JIT=1`` (stepping through a kernel in a debugger) must not break the test suite's collection:
the kernel tests parametrize over each kernel's ``.py_func``, which a plain function lacks (tests/conftest.py)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_kernel_tests_collect_and_run_without_jit():
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    files = ["tests/unit/test_crossbar.py", "tests/unit/test_ssa.py", "tests/unit/test_encoder.py",
             "tests/unit/test_lif.py"]
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--co", *files],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "error" not in r.stdout.lower()
    # and a few of them run, in plain Python
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", files[0], "-k",
                        "adc_convert or requant_code"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and " passed" in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]
