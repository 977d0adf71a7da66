"""``tools/train_mimo_ann.py eval``: the shipped same-size ANN in-context detector runs on numpy alone
(docs/mimo.md 10)."""
from __future__ import annotations

import sys

from toolload import TOOLS, load_tool, needs_tool  # tests/ is on sys.path (conftest.py)

pytestmark = needs_tool("train_mimo_ann.py")


def test_shipped_ann_detector_without_torch(capsys, monkeypatch):
    """The shipped same-size ANN (docs/mimo.md 10) runs on numpy alone and stays near LMMSE-LS on the same tasks.

    Exact and deterministic (no sampling).  On the first 50 tasks per SNR it measures 0.88x LMMSE-LS (0.1409
    against 0.1607); the bound 1.15x fails for a wrong forward or a damaged weight file (an untrained network of
    this shape scores about 4.8x).
    """
    npz = TOOLS.parent / "bittrue" / "models" / "mimo-icl-ann.npz"
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
