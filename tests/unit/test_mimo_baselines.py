"""Unit tests of the classical MIMO detectors (``bittrue.mimo_baselines``) against closed-form theory.

Statistical checks use fixed seeds and bounds of at least 6 standard deviations, with the standard deviation
taken over tasks (errors of one task share its channel, so tasks, not symbols, are the independent units).
"""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from bittrue import mimo_baselines as mb
from bittrue.datasets import mimo
from bittrue.datasets.mimo import MimoConfig

QPSK = mimo.constellation("qpsk")


def _tasks(snr_db, n=2000, seed=7, **kw):
    cfg = MimoConfig(**kw)
    return cfg, mimo.generate_tasks(cfg, n, seed, snr_db=snr_db)


def _per_task_err(pred, truth):
    return (pred != truth).reshape(len(truth), -1).mean(1)


def zf_qpsk_rayleigh_ser(snr_db: float, n_t: int = 2, n_r: int = 2) -> float:
    """Theoretical SER of QPSK after ZF with the true channel, i.i.d. Rayleigh, n_r = n_t.

    The post-ZF SNR of each stream is gamma = (Es/N0) / [(H^H H)^-1]_kk, exponential with mean
    Es/N0 * (n_r - n_t + 1) = SNR / n_t.  Given gamma, Re and Im errors are independent with
    p = Q(sqrt(gamma)), so SER = E[2p - p^2]; E[p] = (1 - sqrt(g/(2+g)))/2 in closed form, E[p^2] by quadrature.
    """
    assert n_r == n_t
    g = 10 ** (snr_db / 10) / n_t
    s = np.linspace(0.0, 8.0, 8001)  # gamma = g s^2: a smooth integrand, weight exp(-s^2) 2 s ds
    erfc = np.frompyfunc(math.erfc, 1, 1)
    p = 0.5 * erfc(s * math.sqrt(g / 2)).astype(float)
    w = 2 * s * np.exp(-s * s)
    ep = 0.5 * (1 - math.sqrt(g / (2 + g)))
    assert abs(np.trapezoid(p * w, s) - ep) < 1e-4 * ep  # the quadrature is accurate (MC sigma is ~2e-2 ep)
    return 2 * ep - float(np.trapezoid(p * p * w, s))


# ------------------------------------------------------------------ channel estimate
def test_ls_estimate_exact_without_noise():
    cfg, t = _tasks(300.0, n=50)
    h = mb.ls_estimate(t["y"][:, :16], t["x"][:, :16])
    assert h.shape == (50, 2, 2)
    np.testing.assert_allclose(h, t["H"], atol=1e-10)
    with pytest.raises(ValueError, match="ls_estimate"):
        mb.ls_estimate(t["y"][:, :16], t["x"][:, :8])


def test_ls_error_matches_theory_and_decreases_with_snr():
    """E||H_ls - H||_F^2 = N0 n_r tr((X_p^H X_p)^-1) per task; measured mean within 6 sigma, decreasing in SNR."""
    mse = []
    for snr in (0.0, 10.0, 20.0):
        cfg, t = _tasks(snr, n=1500, seed=3)
        xp = t["x"][:, :16]
        e = np.sum(np.abs(mb.ls_estimate(t["y"][:, :16], xp) - t["H"]) ** 2, axis=(1, 2))
        g = np.swapaxes(xp.conj(), 1, 2) @ xp
        expect = t["noise_var"] * 2 * np.real(np.trace(np.linalg.inv(g), axis1=1, axis2=2))
        ratio = e / expect
        assert abs(ratio.mean() - 1) < 6 * ratio.std() / np.sqrt(len(ratio))
        mse.append(e.mean())
    assert mse[0] > mse[1] > mse[2]
    assert mse[1] / mse[2] == pytest.approx(10, rel=0.2)


def test_ls_noise_var_unbiased():
    cfg, t = _tasks(6.0, n=2000, seed=4)
    yp, xp = t["y"][:, :16], t["x"][:, :16]
    r = mb.ls_noise_var(yp, xp, mb.ls_estimate(yp, xp)) / t["noise_var"]
    assert abs(r.mean() - 1) < 6 * r.std() / np.sqrt(len(r))


# ------------------------------------------------------------------ detectors
def test_nearest_ties_go_to_lowest_index():
    assert mb.nearest(np.array([0.0 + 0j, 0.7 + 0.7j, -0.1 - 5j, 0.0 + 1j]), QPSK).tolist() == [0, 3, 0, 1]


def test_noiseless_detection_is_perfect():
    cfg, t = _tasks(300.0, n=200)
    for b in mb.BASELINES:
        assert np.all(mb.detect(t, cfg, b) == t["query_idx"]), b


def test_zf_true_channel_matches_theory_at_10db():
    cfg, t = _tasks(10.0, n=4000, seed=7, queries=8)
    ez = _per_task_err(mb.zf(t["y"][:, 16:], t["H"], QPSK), t["query_idx"])
    theory = zf_qpsk_rayleigh_ser(10.0)  # 0.1387
    assert 0.13 < theory < 0.15
    assert abs(ez.mean() - theory) < 6 * ez.std() / np.sqrt(len(ez))


def test_lmmse_true_channel_plausible_at_10db():
    """LMMSE with the true H is at most ZF's theoretical SER (0.139) and above the single-stream
    matched-filter bound (no interference, diversity 2: p = (1 - mu)^2 (2 + mu) / 4, mu = sqrt(g/(2+g)),
    g = SNR / n_t = 5, so SER >= 2p - p^2 = 0.027)."""
    cfg, t = _tasks(10.0, n=4000, seed=7, queries=8)
    el = _per_task_err(mb.detect(t, cfg, "lmmse-true"), t["query_idx"])
    sig = el.std() / np.sqrt(len(el))
    mu = math.sqrt(5 / 7)
    p = (1 - mu) ** 2 * (2 + mu) / 4
    assert el.mean() > 2 * p - p * p
    assert el.mean() < zf_qpsk_rayleigh_ser(10.0) - 6 * sig  # strictly better than ZF
    assert 0.07 < el.mean() < 0.13


def test_lmmse_true_channel_high_snr():
    """30 dB: diversity-1 behaviour, ZF theory 1.8e-3; LMMSE-true SER below 5e-3 (measured 1.1e-3)."""
    cfg, t = _tasks(30.0, n=3000, seed=8)
    e = _per_task_err(mb.detect(t, cfg, "lmmse-true"), t["query_idx"])
    assert e.mean() < 5e-3
    assert zf_qpsk_rayleigh_ser(30.0) == pytest.approx(1.82e-3, rel=0.02)


def test_zf_equals_lmmse_true_at_very_high_snr():
    cfg, t = _tasks(60.0, n=1000, seed=9)
    pz = mb.zf(t["y"][:, 16:], t["H"], QPSK)
    pl = mb.detect(t, cfg, "lmmse-true")
    assert np.mean(pz == pl) > 0.999


def test_detector_ordering_on_eval_set():
    cfg = MimoConfig()
    t = mimo.eval_tasks(cfg, n_tasks=1100, snr_grid_db=mimo.EVAL_SNR_DB[:11])
    ser = {b: mb.mean_ser(mb.ser_by_snr(mb.detect(t, cfg, b), t["query_idx"], t["snr_db"])) for b in mb.BASELINES}
    assert ser["lmmse-true"] < ser["lmmse-ls"] < ser["zf-ls"]
    assert ser["ml-true"] < ser["lmmse-true"] and ser["ml-true"] < ser["ml-ls"] < ser["lmmse-ls"]
    q = mb.mean_ser(mb.ser_by_snr(mb.detect(t, cfg, "lmmse-ls", received_mode="quantised"), t["query_idx"],
                                  t["snr_db"]))
    assert abs(q - ser["lmmse-ls"]) < 0.01  # 8-bit quantisation costs (almost) nothing


def test_unbiased_lmmse_helps_16qam():
    cfg, t = _tasks(24.0, n=1000, seed=10, modulation="16qam")
    pts = mimo.constellation("16qam")
    args = (t["y"][:, 16:], t["H"], t["noise_var"], pts)
    e_u = np.mean(mb.lmmse(*args) != t["query_idx"])
    e_b = np.mean(mb.lmmse(*args, unbiased=False) != t["query_idx"])
    assert e_u < e_b
    # QPSK decisions do not depend on the (positive, real) bias
    cfg, t = _tasks(5.0, n=300, seed=10)
    args = (t["y"][:, 16:], t["H"], t["noise_var"], QPSK)
    np.testing.assert_array_equal(mb.lmmse(*args), mb.lmmse(*args, unbiased=False))


def test_detect_rejects():
    cfg, t = _tasks(5.0, n=3)
    with pytest.raises(ValueError, match="baseline"):
        mb.detect(t, cfg, "ml-guess")
    with pytest.raises(ValueError, match="noise"):
        mb.detect(t, cfg, "lmmse-ls", noise="guess")
    with pytest.raises(ValueError, match="mode"):
        mb.detect(t, cfg, "lmmse-ls", received_mode="analog")
    assert mb.detect(t, cfg, "lmmse-ls", noise="estimated").shape == (3, 4, 2)


def test_rate_decoded_converges_to_quantised():
    cfg, t = _tasks(10.0, n=40, seed=1)
    yq = mb.received(t, cfg, "quantised")
    e8 = np.mean(np.abs(mb.rate_decoded(t, cfg, 8) - yq) ** 2)
    e128 = np.mean(np.abs(mb.rate_decoded(t, cfg, 128) - yq) ** 2)
    assert e128 < e8 / 8
    # Bernoulli noise of the one partial segment (16 codes = 0.5): 2 x 0.25 / 6 / 128 = 6.5e-4, plus the bias of
    # full segments reading 255 instead of 256 (< 1 code = 0.031 per real part)
    assert e128 < 2e-3
    cfg1 = MimoConfig(levels=1)
    assert np.mean(np.abs(mb.rate_decoded(t, cfg1, 8) - yq) ** 2) > 10 * e8  # plain rate code is far noisier
    # R copies of the ramp block: the reader averages R independent draws of the partial segment, so its
    # Bernoulli part falls by R (4 copies: expected 1/4 of e8's noise part; the bound leaves room for the bias)
    e8x4 = np.mean(np.abs(mb.rate_decoded(t, dataclasses.replace(cfg, ramp_copies=4), 8) - yq) ** 2)
    assert e8x4 < e8 / 2.5


# ------------------------------------------------------------------ SER and CLI
def test_ser_by_snr_hand_table():
    pred = np.array([[[0, 1]], [[2, 2]], [[3, 3]], [[1, 0]]])
    true = np.array([[[0, 0]], [[2, 2]], [[3, 0]], [[0, 0]]])
    table = mb.ser_by_snr(pred, true, np.array([0.0, 0.0, 2.0, 2.0]))
    assert table == {0.0: 0.25, 2.0: 0.5}
    assert mb.mean_ser(table) == 0.375
    with pytest.raises(ValueError, match="ser_by_snr"):
        mb.ser_by_snr(pred, true, np.zeros(3))


def test_main_table_and_json(capsys):
    assert mb.main(["--tasks-per-snr", "3"]) == 0
    out = capsys.readouterr().out
    assert "| SNR (dB) | tasks | LMMSE-LS | LMMSE-true | ZF-LS | ML-LS | ML-true |" in out
    assert "| mean 0..20 dB |" in out and "not met" in out
    assert mb.main(["--tasks-per-snr", "3", "--json", "--received", "quantised", "--rx-corr", "0.5"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["snr_db"] == [float(s) for s in range(0, 31, 2)] and d["tasks_per_snr"] == [3] * 16
    assert d["columns"] == ["LMMSE-LS", "LMMSE-true", "ZF-LS", "ML-LS", "ML-true"] and len(d["ser"]["ZF-LS"]) == 16
    assert d["rx_corr"] == 0.5 and d["received"] == "quantised"
    assert mb.main(["--antennas", "2by2"]) == 2
    assert mb.main(["--rx-corr", "1.5"]) == 2


def test_ml_is_exhaustive_and_bit_errors():
    """ML returns the candidate of least distance (checked against every hypothesis); Gray bit errors by hand."""
    cfg, t = _tasks(6.0, n=50, seed=4)
    y, h = t["y"][:, 16:], t["H"]
    p = mb.ml(y, h, QPSK)
    best = np.sum(np.abs(y - np.einsum("nrt,nqt->nqr", h, QPSK[p])) ** 2, axis=-1)
    for a in range(4):
        for b in range(4):
            s = QPSK[[a, b]]
            assert np.all(best <= np.sum(np.abs(y - (h @ s)[:, None, :]) ** 2, axis=-1) + 1e-12)
    assert mb.ml(y, h, QPSK).dtype == np.int64
    p16 = mb.ml(y[:3], h[:3], mimo.constellation("16qam"))
    assert p16.shape == (3, 4, 2) and p16.max() < 16
    np.testing.assert_array_equal(mb.bit_errors(np.array([0, 3, 1, 5]), np.array([3, 3, 0, 10]), 16), [2, 0, 1, 4])


def test_ml_log_posterior_normalised_argmax_is_ml_and_calibrated():
    """The posterior sums to 1, peaks at the ML decision, and with the true channel and noise variance is the exact
    Bayes posterior, so it is calibrated.

    Calibration check: if s is drawn from p(. | y), then E[p(s_true | y)] = E[sum_s p(s | y)^2]. Over 2,000 tasks
    x 4 queries at 4 dB (per-task means, since the queries of a task share a channel), the mean difference must
    lie within 4 standard errors of 0: false-failure probability about 6e-5 for a normal mean; fixed seed, so
    deterministic. With a noise variance 10 times too small the difference lies outside 4 standard errors.
    """
    cfg, t = _tasks(4.0, n=2000, seed=11)
    y, h = t["y"][:, 16:], t["H"]
    lp = mb.ml_log_posterior(y, h, t["noise_var"], QPSK)
    assert lp.shape == (2000, 4, 16)
    np.testing.assert_allclose(np.exp(lp).sum(-1), 1.0, rtol=1e-12)
    joint = mimo.joint_labels(mb.ml(y, h, QPSK), 4)
    np.testing.assert_array_equal(np.argmax(lp, -1), joint)
    # Bayes calibration: E[p(true | y)] = E[sum_s p(s | y)^2] under the model (both estimate the same number).
    truth = mimo.query_labels(t, cfg)
    p_true = np.take_along_axis(np.exp(lp), truth[..., None], -1)[..., 0]
    p_sq = np.sum(np.exp(2 * lp), -1)
    diff = (p_true - p_sq).reshape(2000, -1).mean(1)  # per task (queries share a channel)
    assert abs(diff.mean()) < 4 * diff.std(ddof=1) / math.sqrt(len(diff))
    # a wrong noise variance (10x too small) breaks the calibration
    lp_bad = mb.ml_log_posterior(y, h, t["noise_var"] / 10, QPSK)
    bad = (np.take_along_axis(np.exp(lp_bad), truth[..., None], -1)[..., 0]
           - np.sum(np.exp(2 * lp_bad), -1)).reshape(2000, -1).mean(1)
    assert abs(bad.mean()) > 4 * bad.std(ddof=1) / math.sqrt(len(bad))
    with pytest.raises(ValueError, match="n0"):
        mb.ml_log_posterior(y, h, np.zeros(2000), QPSK)
