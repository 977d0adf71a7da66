"""Tests of the torch training tools (``tools/_torch_hw.py``, ``tools/_torch_net.py``, ``tools/train.py``).

Every module here starts with ``pytest.importorskip("torch")``: without the ``train`` extra they skip cleanly.
``tools/`` is put on ``sys.path`` (the tools import each other by bare name, as when run as scripts, and
``tests/`` is put there the same way by ``tests/conftest.py``); the source tree is required (an installed-wheel
run skips them).  Torch's thread count and global RNG state are restored after each test.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"
if TOOLS.is_dir() and str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))


def pytest_collection_modifyitems(config, items):
    if not (TOOLS / "_torch_net.py").exists():
        skip = pytest.mark.skip(reason="source tree (tools/) not available")
        for it in items:
            if "tests/training" in str(it.fspath).replace("\\", "/"):
                it.add_marker(skip)


@pytest.fixture(autouse=True)
def _torch_tools():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    rng = torch.get_rng_state()
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.set_rng_state(rng)
