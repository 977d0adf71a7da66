"""Load a script of ``tools/`` as a module in a test, and take it out of ``sys.modules`` afterwards."""
from __future__ import annotations

import contextlib
import importlib.util
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[1] / "tools"


@contextlib.contextmanager
def load_tool(filename: str, module_name: str | None = None):
    """``tools/<filename>`` executed as module ``module_name`` (default ``bittrue_tools_<stem>``); yields it and
    removes it from ``sys.modules`` on exit."""
    path = TOOLS / filename
    name = module_name or f"bittrue_tools_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop(name, None)


def needs_tool(filename: str):
    """``pytestmark`` of a test module of ``tools/<filename>``: skip where the source tree is not there (a test run
    against the installed wheel)."""
    import pytest

    return pytest.mark.skipif(not (TOOLS / filename).exists(),
                              reason="source tree not available (installed-wheel run)")


def tool_fixture(filename: str):
    """A module-scoped pytest fixture that yields ``tools/<filename>`` loaded by :func:`load_tool`; assign it to the
    fixture's name in the test module (``tool = tool_fixture("x.py")``)."""
    import pytest

    @pytest.fixture(scope="module")
    def _tool():
        with load_tool(filename) as mod:
            yield mod

    return _tool
