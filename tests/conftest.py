"""Shared pytest setup: hypothesis profiles, version header, importable test helpers.

Profiles (select with ``HYPOTHESIS_PROFILE=dev|ci|nightly``, default ``dev``):

* ``dev``: 25 examples, no deadline (JIT compilation makes first calls slow);
* ``ci``: hypothesis' built-in ``ci`` profile plus ``deadline=None``, 60 examples;
* ``nightly``: 500 examples, no deadline.

Markers: every test under ``tests/integration``, ``tests/golden`` and ``tests/rtl`` is marked ``integration``
(they run whole CLI commands or pipelines); modules elsewhere that do so set ``pytestmark``.

``tests/`` is put on ``sys.path`` so test modules can ``import reference`` and
``import strategies`` under ``--import-mode=importlib``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)


def _py_func_without_jit() -> None:
    """Under ``NUMBA_DISABLE_JIT=1`` (debugging a kernel in Python) ``@njit`` returns the plain function, which has
    no ``.py_func``; the tests compare each kernel with its ``.py_func``, so give every kernel one (itself)."""
    import importlib
    import inspect
    import pkgutil

    import numba

    if not numba.config.DISABLE_JIT:
        return
    import bittrue.kernels as kernels

    for info in pkgutil.iter_modules(kernels.__path__, kernels.__name__ + "."):
        for obj in vars(importlib.import_module(info.name)).values():
            if inspect.isfunction(obj) and not hasattr(obj, "py_func"):
                obj.py_func = obj


_py_func_without_jit()

settings.register_profile("dev", max_examples=25, deadline=None)
settings.register_profile("ci", parent=settings.get_profile("ci"), deadline=None, max_examples=60)
settings.register_profile("nightly", max_examples=500, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
settings.load_profile(_PROFILE)


def pytest_report_header(config):
    import numba
    import numpy

    try:
        import h5py
        h5 = f"h5py {h5py.__version__} (HDF5 {h5py.version.hdf5_version})"
    except ImportError:  # pragma: no cover
        h5 = "h5py missing"
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel run yet
        layer = "not yet chosen"
    return [
        f"bittrue: numpy {numpy.__version__}, numba {numba.__version__}, {h5}",
        f"numba threads: {numba.get_num_threads()} (NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}),"
        f" threading layer {layer}, hypothesis profile {_PROFILE}",
    ]


_INTEGRATION_DIRS = ("integration", "golden", "rtl")


def pytest_collection_modifyitems(config, items):
    root = Path(_TESTS)
    for item in items:
        rel = Path(str(item.path)).resolve().relative_to(root) if str(item.path).startswith(_TESTS) else None
        if rel is not None and rel.parts[0] in _INTEGRATION_DIRS:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _restore_global_state():
    """Tests must not leak global state: Numba's thread count (``--threads`` of an in-process CLI call sets it)
    and the environment are restored after every test."""
    import numba

    threads = numba.get_num_threads()
    env = dict(os.environ)
    yield
    numba.set_num_threads(threads)
    if dict(os.environ) != env:
        os.environ.clear()
        os.environ.update(env)
