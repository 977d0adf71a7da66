"""``tools/train_mimo.py``: the parts that need no torch (the soft ML-LS targets, docs/mimo.md 5); its training runs
are tests/training/test_train_mimo.py."""
from __future__ import annotations

import numpy as np

from bittrue.datasets import mimo
from toolload import load_tool, needs_tool  # tests/ is on sys.path (conftest.py)

pytestmark = needs_tool("train_mimo.py")


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
