"""``tools/mimo_context.py``: the L-pilot prompts fed to the 20-position mimo-icl model (docs/mimo.md 8)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from bittrue.datasets import mimo

_PATH = Path(__file__).resolve().parents[2] / "tools" / "mimo_context.py"
pytestmark = pytest.mark.skipif(not _PATH.exists(), reason="source tree not available (installed-wheel run)")


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("bittrue_tools_mimo_context", _PATH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    try:
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop(spec.name, None)


def test_prompt_repeats_the_l_pilots_and_keeps_the_queries(tool):
    c16 = mimo.MimoConfig()
    c4 = mimo.MimoConfig(pilots=4)
    t4 = mimo.eval_tasks(c4, 10)
    p = tool._icl_prompt(t4, c4, c16)
    assert p["y"].shape == (10, 20, 2) and p["x_idx"].shape == (10, 20, 2)
    for j in range(16):
        np.testing.assert_array_equal(p["y"][:, j], t4["y"][:, j % 4])
        np.testing.assert_array_equal(p["x_idx"][:, j], t4["x_idx"][:, j % 4])
    np.testing.assert_array_equal(p["y"][:, 16:], t4["y"][:, 4:])
    np.testing.assert_array_equal(p["query_idx"], t4["query_idx"])
    tok = mimo.prompt_tokens(p, c16)
    assert tok.shape == (10, 20, 73) and np.all(tok[:, 16:, -1] == 255) and np.all(tok[:, :16, -1] == 0)
    t16 = mimo.eval_tasks(c16, 10)  # L = 16 is the unchanged prompt
    np.testing.assert_array_equal(mimo.prompt_tokens(tool._icl_prompt(t16, c16, c16), c16),
                                  mimo.prompt_tokens(t16, c16))


def test_floor_tool_rows_and_bad_input(capsys):
    spec = importlib.util.spec_from_file_location("bittrue_tools_mimo_floor", _PATH.with_name("mimo_floor.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod._row("T=16 expect=encoder,score") == (16, ("encoder", "score"))
    assert mod._row("T=8") == (8, ())
    assert mod.main(["--rows", "T=8 expect=adc"]) == 2
    assert mod.main(["--rows", "T=0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("error: ") for e in err)
