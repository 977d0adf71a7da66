"""``tools/mimo_context.py``: the L-pilot prompts fed to the 20-position mimo-icl model (docs/mimo.md 8)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from bittrue.datasets import mimo
from toolload import TOOLS, load_tool, needs_tool, tool_fixture  # tests/ is on sys.path (conftest.py)

pytestmark = needs_tool("mimo_context.py")
tool = tool_fixture("mimo_context.py")


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


def test_train_mimo_soft_targets_are_the_ml_ls_posterior():
    """``train_mimo.py --soft-labels ml-ls``: a distribution over the 16 joint classes per query, peaked at the
    ML-LS decision, and near one-hot on the transmitted vector at high SNR (numpy only; torch is not imported)."""
    from bittrue import mimo_baselines as mb

    with load_tool("train_mimo.py") as mod:
        cfg = mimo.MimoConfig()
        t = mimo.eval_tasks(cfg, 200, seed=5, snr_grid_db=[0.0, 30.0])
        p = mod.soft_targets(t, cfg)
    assert p.shape == (200, 4, 16) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(np.argmax(p, -1), mimo.joint_labels(mb.detect(t, cfg, "ml-ls"), cfg.order))
    truth = mimo.query_labels(t, cfg)
    p_true = np.take_along_axis(p, truth[..., None], -1)[..., 0]
    hi = t["snr_db"] == 30.0
    assert np.median(p_true[hi]) > 0.99 and np.median(p_true[~hi]) < 0.9


def test_floor_tool_breakdown_by_s_min(tmp_path, capsys):
    """``mimo_floor.py --breakdown``: errors placed on the weakest channels land in the lowest s_min quartile and
    at the right query; a file that is not an ``infer --dataset mimo --json`` output is exit 2."""
    import json

    from bittrue.mimo_baselines import detect

    cfg = mimo.MimoConfig()
    t = mimo.eval_tasks(cfg, 160)
    pred = t["query_idx"].copy()
    hi = np.flatnonzero(t["snr_db"] >= 16)
    s_min = np.linalg.svd(t["H"], compute_uv=False)[:, -1]
    weakest = hi[np.argsort(s_min[hi])[:20]]  # the lowest quartile of the 80 tasks >= 16 dB
    pred[weakest, 2, 0] = (pred[weakest, 2, 0] + 1) % 4  # one wrong antenna-symbol of query 2
    with load_tool("mimo_floor.py") as mod:
        rep = mod.breakdown(t, pred, detect(t, cfg, "lmmse-ls"))
        assert rep["tasks"] == 80 and [r["tasks"] for r in rep["s_min_quartiles"]] == [20, 20, 20, 20]
        assert [r["ser"] for r in rep["s_min_quartiles"]] == [1 / 8, 0.0, 0.0, 0.0]
        np.testing.assert_allclose(rep["ser_by_query"], [0, 0, 20 / 80 / 2, 0])
        run = {"dataset": "mimo", "start": 0, "mimo": {"tasks": 160},
               "predictions": mimo.joint_labels(pred, cfg.order).tolist()}
        (tmp_path / "run.json").write_text(json.dumps(run))
        assert mod.main(["--breakdown", str(tmp_path / "run.json"), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["s_min_quartiles"][0]["ser"] == 1 / 8
        (tmp_path / "bad.json").write_text(json.dumps({**run, "predictions": [[0, 1]]}))
        assert mod.main(["--breakdown", str(tmp_path / "bad.json")]) == 2
        assert mod.main(["--breakdown", str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("error: ") for e in err)
