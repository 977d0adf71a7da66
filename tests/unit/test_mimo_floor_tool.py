"""``tools/mimo_floor.py``: its rows option and the error breakdown by the channel's smallest singular value
(docs/mimo.md 11, 11.1)."""
from __future__ import annotations

import numpy as np

from bittrue.datasets import mimo
from toolload import load_tool, needs_tool  # tests/ is on sys.path (conftest.py)

pytestmark = needs_tool("mimo_floor.py")


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
