"""The MIMO report (``bittrue.mimo_report``): intervals, SNR at a target SER, SNR loss, table and JSON fields."""
from __future__ import annotations

import math

import numpy as np
import pytest

from bittrue import mimo_report as mr
from bittrue.datasets import mimo
from bittrue.datasets.mimo import MimoConfig

Z = mr.Z95


def _wilson(k: int, n: float) -> tuple[float, float]:
    """Textbook Wilson score interval (Wilson 1927), written out independently."""
    p = k / n
    d = 1 + Z * Z / n
    c = (p + Z * Z / (2 * n)) / d
    h = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / d
    return c - h, c + h


def test_interval_independent_errors_is_wilson():
    """One trial per task: no clustering to correct, deff = 1 (clipped), the plain Wilson interval."""
    e = np.zeros(100)
    e[:10] = 1
    assert mr.cluster_wilson(e, 1) == pytest.approx(_wilson(10, 100), rel=1e-12)
    assert _wilson(10, 100) == pytest.approx((0.0552, 0.1744), abs=1e-4)  # published value for 10/100


def test_interval_fully_clustered_counts_tasks():
    """All-or-nothing tasks (8 trials each): the 8 symbols of a task are one observation, so n_eff = tasks."""
    e = np.zeros(50)
    e[:5] = 8
    assert mr.cluster_wilson(e, 8) == pytest.approx(_wilson(5, 50), rel=1e-12)


def test_interval_zero_and_all_errors():
    lo, hi = mr.cluster_wilson(np.zeros(100), 8)
    assert lo == 0.0 and hi == pytest.approx(Z * Z / (100 + Z * Z))
    lo, hi = mr.cluster_wilson(np.full(100, 8), 8)
    assert hi == 1.0 and lo == pytest.approx(100 / (100 + Z * Z))
    assert all(math.isnan(v) for v in mr.cluster_wilson(np.zeros(0), 8))


def test_interval_coverage_with_clustered_errors():
    """Coverage of the 95 % interval for task-clustered errors (per-task rate ~ Beta, 8 symbols per task).

    2,000 replications of 300 tasks, fixed seed.  If the true coverage is >= 0.95 the observed coverage falls below
    0.925 with probability < 1e-6 (5 standard deviations of 0.0049); a symbol-level (unclustered) Wilson interval
    covers only about 0.75 here.
    """
    rng = np.random.default_rng(12345)
    a, b, m, n = 0.3, 2.7, 8, 300  # mean rate 0.1, strongly clustered
    p_true = a / (a + b)
    hits = 0
    for _ in range(2000):
        e = rng.binomial(m, rng.beta(a, b, n))
        lo, hi = mr.cluster_wilson(e, m)
        hits += lo <= p_true <= hi
    assert hits / 2000 > 0.925


def test_snr_at_ser_interpolates_in_log():
    s = [0.0, 2.0, 4.0]
    assert mr.snr_at_ser(s, [0.4, 0.2, 0.05], 0.1) == pytest.approx(3.0)  # halfway in log between 0.2 and 0.05
    assert mr.snr_at_ser(s, [0.4, 0.1, 0.05], 0.1) == pytest.approx(2.0)
    assert mr.snr_at_ser(s, [0.4, 0.3, 0.2], 0.1) is None  # never reached
    assert mr.snr_at_ser(s, [0.05, 0.01, 0.001], 0.1) is None  # below the target from the first point
    assert mr.snr_at_ser(s, [0.4, 0.05, 0.3], 0.1) == pytest.approx(2 * math.log10(4) / math.log10(8))  # first


def test_report_by_hand():
    """Two SNRs, two tasks each, Q = 4, n_t = 2 (8 symbols / 16 bits per task); one detector perfect."""
    cfg = MimoConfig()
    truth = np.zeros((4, 4, 2), dtype=np.int64)
    tasks = {"query_idx": truth, "snr_db": np.array([0.0, 2.0, 0.0, 2.0])}
    bad = truth.copy()
    bad[0, 0, 0] = 3  # 2 bit errors (QPSK 0 -> 3)
    bad[0, 1, 1] = 1  # 1 bit error
    bad[1, 2, 0] = 2  # 1 bit error
    rep = mr.mimo_report(tasks, {"X": bad, "lmmse-ls": truth}, cfg)
    assert rep["columns"] == ["X", "LMMSE-LS"] and rep["tasks_per_snr"] == [2, 2]
    assert rep["ser"]["X"] == [2 / 16, 1 / 16] and rep["ber"]["X"] == [3 / 32, 1 / 32]
    assert rep["symbol_errors"]["X"] == [2, 1] and rep["bit_errors"]["X"] == [3, 1]
    assert rep["mean_ser"]["X"] == pytest.approx(3 / 32) and rep["ratio_to_lmmse_ls"]["X"] is None  # ref 0
    assert rep["min_reference_errors"] == 0 and rep["full_statistics"] is False
    for c in rep["columns"]:
        for v, (lo, hi) in zip(rep["ser"][c], rep["ser_ci"][c]):
            assert lo <= v <= hi
    with pytest.raises(ValueError, match="predictions"):
        mr.mimo_report(tasks, {"X": bad[:, :2]}, cfg)


def test_report_losses_and_table_on_baselines():
    """Real detectors on a small set: ML-true beats LMMSE-LS (negative loss), ZF-LS loses; the table says so."""
    from bittrue import mimo_baselines as mb

    cfg = MimoConfig()
    t = mimo.eval_tasks(cfg, 16 * 150)
    rep = mr.mimo_report(t, mb.baseline_predictions(t, cfg), cfg)
    loss = rep["snr_loss_db"]["0.1"]
    assert loss["LMMSE-LS"] == 0.0 and loss["ML-true"] < 0 < loss["ZF-LS"]
    at = rep["snr_at_ser"]["0.1"]
    assert 6 < at["LMMSE-LS"] < 14
    assert rep["mean_ser_range_db"] == [0.0, 20.0] and rep["ratio_to_lmmse_ls"]["LMMSE-LS"] == 1.0
    assert rep["mean_ser"]["ZF-LS"] == pytest.approx(np.mean(rep["ser"]["ZF-LS"][:11]))
    text = mr.format_report(rep)
    assert "| loss vs LMMSE-LS at 0.1 (dB) | | +0.0 |" in text and "not met, rerun with --tasks-per-snr" in text
    assert text.count("\n| 30 | 150 |") == 2  # SER and BER tables
