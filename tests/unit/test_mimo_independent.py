"""Independent check of the classical baselines: LMMSE-LS, ZF-LS and joint ML recomputed from first principles.

numpy only, and no code shared with ``bittrue.mimo_baselines``: the LS estimate from the normal equations (not
``pinv``), LMMSE in its other algebraic form ``W = H^H (H H^H + N0 I)^-1`` (the push-through identity), ZF from
the normal equations, QPSK decisions by the signs of the real and imaginary parts mapped to the Gray labels of
docs/mimo.md (not a nearest-point search), and ML as a plain loop over the 16 hypotheses, one task at a time.
Only the task generator (``bittrue.datasets.mimo``) is shared: the inputs, not the detectors.
"""
from __future__ import annotations

import itertools

import numpy as np

from bittrue import mimo_baselines as mb
from bittrue.datasets import mimo

N_TASKS = 320  # 20 per SNR of the 0..30 dB grid
L = 16
# Gray labels of docs/mimo.md: 0 = (-1-1j)/sqrt2, 1 = (-1+1j)/sqrt2, 2 = (1-1j)/sqrt2, 3 = (1+1j)/sqrt2
POINTS = {0: (-1 - 1j) / np.sqrt(2), 1: (-1 + 1j) / np.sqrt(2), 2: (1 - 1j) / np.sqrt(2), 3: (1 + 1j) / np.sqrt(2)}


def _qpsk_decide(v: complex) -> int:
    return 2 * int(v.real > 0) + int(v.imag > 0)


def _ls(Y: np.ndarray, X: np.ndarray) -> np.ndarray:
    """min ||Y - X H^T||: H^T = (X^H X)^-1 X^H Y, pilots as rows."""
    Xh = X.conj().T
    return np.linalg.solve(Xh @ X, Xh @ Y).T


def _independent(task: dict, i: int) -> dict[str, np.ndarray]:
    y = task["y"][i]
    H = _ls(y[:L], task["x"][i, :L])
    n0 = task["noise_var"][i]
    Hh = H.conj().T
    n_r, n_t = H.shape
    W_mmse = Hh @ np.linalg.inv(H @ Hh + n0 * np.eye(n_r))
    W_zf = np.linalg.solve(Hh @ H, Hh)
    hyps = list(itertools.product(range(4), repeat=n_t))  # antenna 0 first: joint-label order
    out = {"lmmse-ls": [], "zf-ls": [], "ml-ls": []}
    for yq in y[L:]:
        g = np.real(np.diag(W_mmse @ H))
        out["lmmse-ls"].append([_qpsk_decide(v) for v in (W_mmse @ yq) / g])
        out["zf-ls"].append([_qpsk_decide(v) for v in W_zf @ yq])
        best, best_d = None, np.inf
        for hyp in hyps:
            s = np.array([POINTS[k] for k in hyp])
            d = float(np.sum(np.abs(yq - H @ s) ** 2))
            if d < best_d:
                best, best_d = hyp, d
        out["ml-ls"].append(list(best))
    return {k: np.array(v) for k, v in out.items()}


def test_baselines_equal_an_independent_implementation():
    cfg = mimo.MimoConfig()
    t = mimo.eval_tasks(cfg, N_TASKS, seed=4242)
    ours = {b: mb.detect(t, cfg, b) for b in ("lmmse-ls", "zf-ls", "ml-ls")}
    ref = [_independent(t, i) for i in range(N_TASKS)]
    for b in ours:
        np.testing.assert_array_equal(ours[b], np.stack([r[b] for r in ref]), err_msg=b)
    # the set is not degenerate: the detectors disagree with the truth and with each other somewhere
    assert np.mean(ours["zf-ls"] != t["query_idx"]) > 0.05
    assert np.any(ours["ml-ls"] != ours["lmmse-ls"]) and np.any(ours["zf-ls"] != ours["lmmse-ls"])
