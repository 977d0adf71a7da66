"""``tools/mimo_context.py``: the L-pilot prompts fed to the 20-position mimo-icl model (docs/mimo.md 8)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from bittrue.datasets import mimo
from toolload import load_tool  # tests/ is on sys.path (conftest.py)

_PATH = Path(__file__).resolve().parents[2] / "tools" / "mimo_context.py"
pytestmark = pytest.mark.skipif(not _PATH.exists(), reason="source tree not available (installed-wheel run)")


@pytest.fixture(scope="module")
def tool():
    with load_tool("mimo_context.py") as mod:
        yield mod


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
    with load_tool("mimo_floor.py") as mod:
        _check_floor_tool(mod, capsys)


def _check_floor_tool(mod, capsys):
    assert mod._row("T=16 expect=encoder,score") == (16, ("encoder", "score"))
    assert mod._row("T=8") == (8, ())
    assert mod.main(["--rows", "T=8 expect=adc"]) == 2
    assert mod.main(["--rows", "T=0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("error: ") for e in err)


def test_shipped_ann_detector_without_torch(capsys, monkeypatch):
    """The shipped same-size ANN (docs/mimo.md 10) runs on numpy alone and stays near LMMSE-LS on the same tasks.

    Exact and deterministic (no sampling).  On the first 50 tasks per SNR it measures 1.01x LMMSE-LS (0.1623
    against 0.1607); the bound 1.15x fails for a wrong forward or a damaged weight file (an untrained network of
    this shape scores about 4.8x).
    """
    npz = _PATH.parents[1] / "bittrue" / "models" / "mimo-icl-ann.npz"
    with load_tool("train_mimo_ann.py") as mod:
        _check_shipped_ann(mod, npz, capsys, monkeypatch)


def _check_shipped_ann(mod, npz, capsys, monkeypatch):
    import json

    monkeypatch.setattr(sys, "path", list(sys.path))  # the tool puts tools/ on sys.path: undone after the test
    before = set(sys.modules)
    try:
        assert mod.main(["eval", str(npz), "--tasks-per-snr", "50", "--json"]) == 0
        added = set(sys.modules) - before
    finally:
        for name in set(sys.modules) - before:
            if name in ("ann", "_torch_net", "_torch_hw"):
                sys.modules.pop(name)
    rep = json.loads(capsys.readouterr().out)
    assert "torch" not in added
    assert rep["tasks_per_snr"] == [50] * 16 and rep["columns"][0] == "ANN ICL"
    assert rep["ratio_to_lmmse_ls"]["ANN ICL"] < 1.15
    assert mod.main(["eval", str(npz) + ".missing"]) == 2
