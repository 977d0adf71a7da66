"""Classical MIMO detectors on the in-context-learning prompts of :mod:`bittrue.datasets.mimo` (numpy only).

All detectors see exactly what the ICL model sees: the ``L`` pilot pairs and the ``Q`` query received signals of
each prompt (plus, where named, the true channel or the true noise variance).  Row-vector convention of the
dataset: ``y_i = H x_i + n_i``; per task ``Y_p`` (L x n_r) and ``X_p`` (L x n_t) stack the pilots as rows.

``ls_estimate``     ``H_ls = Y_p^T conj(pinv(X_p))^T``, i.e. ``H_ls = Y X^H (X X^H)^-1`` with pilots as columns
                    (``pinv`` so that a rank-deficient pilot block still gives the minimum-norm solution).
``lmmse``           ``W = (H^H H + (N0 / Es) I)^-1 H^H``, ``x_hat = W y``, then the *unbiased* scaling
                    ``x_hat_k / (W H)_kk`` (identical decisions for QPSK; removes the shrinkage bias for QAM),
                    then the nearest constellation point per antenna (lowest index on ties).  ``N0`` is the true
                    noise variance (the SNR is known) unless ``noise="estimated"``:
                    ``N0_hat = ||Y_p - X_p H_ls^T||_F^2 / (n_r (L - n_t))`` (unbiased; needs L > n_t).
``zf``              ``W = pinv(H)``, then the nearest point per antenna.
``ml``              joint maximum likelihood: of the ``M^n_t`` symbol vectors ``s`` (all of them, ordered by joint
                    label, antenna 0 most significant) the one minimising ``||y - H s||^2`` (lowest joint label on
                    ties): the optimal joint detector when ``H`` is the true channel; with ``H_ls`` it is the
                    mismatched (plug-in) ML detector.  Its cost grows as ``M^n_t`` (16 for 2 x 2 QPSK).
                    :func:`ml_log_posterior` gives the whole posterior over the ``M^n_t`` candidates.

Diagnostic (not a baseline): ``received="rate"`` feeds the detectors the signals an ideal *linear* reader of
``T`` encoder time steps could recover from the token spikes (:func:`rate_decoded`): a bound on what any
network with a linear embedding can do with that token format and T.

Named baselines (:func:`detect`): ``lmmse-ls`` (LMMSE with H_ls), ``lmmse-true`` (LMMSE with the true H),
``zf-ls`` (ZF with H_ls), ``ml-ls`` (joint ML with H_ls), ``ml-true`` (joint ML with the true H).  By default they use the *unquantised* received signals; ``received="quantised"``
uses the 8-bit quantised-then-dequantised signals that the spike encoder gets.

SER is the symbol error rate per antenna-symbol: the fraction of (task, query, transmit antenna) whose detected
index differs from the truth; BER counts the differing Gray bits (:func:`bit_errors`).
``python -m bittrue.mimo_baselines`` prints the full-statistics baseline table of ``docs/mimo.md`` (with intervals,
:mod:`bittrue.mimo_report`).
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from .datasets.mimo import (MimoConfig, constellation, dequantise, dequantise_received, prompt_tokens,
                            quantise_received, split_joint)

BASELINES = ("lmmse-ls", "lmmse-true", "zf-ls", "ml-ls", "ml-true")


def ls_estimate(y_p: np.ndarray, x_p: np.ndarray) -> np.ndarray:
    """Least-squares channel estimate, complex (n, n_r, n_t), from pilots ``y_p`` (n, L, n_r), ``x_p`` (n, L, n_t)."""
    y_p = np.asarray(y_p)
    x_p = np.asarray(x_p)
    if y_p.ndim != 3 or x_p.ndim != 3 or y_p.shape[:2] != x_p.shape[:2]:
        raise ValueError(f"ls_estimate: y_p {y_p.shape} and x_p {x_p.shape} must be (n, L, n_r) and (n, L, n_t)")
    ht = np.linalg.pinv(x_p) @ y_p  # (n, n_t, n_r) = H^T
    return np.swapaxes(ht, 1, 2)


def ls_noise_var(y_p: np.ndarray, x_p: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Unbiased noise-variance estimate (n,) from the LS residual: ``||Y_p - X_p H^T||^2 / (n_r (L - n_t))``."""
    n, L, n_r = y_p.shape
    n_t = x_p.shape[2]
    if L <= n_t:
        raise ValueError(f"ls_noise_var: needs more pilots (L = {L}) than transmit antennas ({n_t})")
    res = y_p - x_p @ np.swapaxes(h, 1, 2)
    return np.sum(np.abs(res) ** 2, axis=(1, 2)) / (n_r * (L - n_t))


def nearest(x_hat: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Index of the nearest constellation point, int64, same shape as ``x_hat`` (lowest index on ties)."""
    d = np.abs(np.asarray(x_hat)[..., None] - points) ** 2
    return np.argmin(d, axis=-1).astype(np.int64)


def lmmse(y: np.ndarray, h: np.ndarray, n0: np.ndarray, points: np.ndarray, es: float = 1.0,
          unbiased: bool = True) -> np.ndarray:
    """LMMSE detection: indices (n, Q, n_t) of queries ``y`` (n, Q, n_r) through channels ``h`` (n, n_r, n_t)."""
    h = np.asarray(h)
    n_t = h.shape[2]
    hh = np.swapaxes(h.conj(), 1, 2)  # (n, n_t, n_r)
    a = hh @ h + (np.asarray(n0, dtype=np.float64) / es)[:, None, None] * np.eye(n_t)
    w = np.linalg.solve(a, hh)  # (n, n_t, n_r)
    x_hat = np.asarray(y) @ np.swapaxes(w, 1, 2)  # rows: x_hat_i = W y_i
    if unbiased:
        g = np.real(np.einsum("ntr,nrt->nt", w, h))  # diag(W H), in (0, 1)
        x_hat = x_hat / np.maximum(g, 1e-12)[:, None, :]
    return nearest(x_hat, points)


def zf(y: np.ndarray, h: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Zero-forcing detection: ``pinv(H) y`` then the nearest point; indices (n, Q, n_t)."""
    w = np.linalg.pinv(np.asarray(h))  # (n, n_t, n_r)
    return nearest(np.asarray(y) @ np.swapaxes(w, 1, 2), points)


def ml(y: np.ndarray, h: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Joint ML detection: indices (n, Q, n_t) minimising ``||y - H s||^2`` over all ``M^n_t`` symbol vectors.

    Candidates are enumerated in joint-label order (:func:`bittrue.datasets.mimo.split_joint`), so ties go to the
    lowest joint label.  Computed in chunks of tasks (at most about 2^22 complex distances at a time).
    """
    y = np.asarray(y)
    h = np.asarray(h)
    n, q, n_r = y.shape
    n_t = h.shape[2]
    cand_idx = _candidates(len(points), n_t)
    out = np.empty((n, q, n_t), dtype=np.int64)
    step = max(1, (1 << 22) // max(1, q * len(cand_idx) * n_r))
    for i in range(0, n, step):
        out[i:i + step] = cand_idx[np.argmin(_candidate_distances(y[i:i + step], h[i:i + step], points), axis=-1)]
    return out


def _candidates(m: int, n_t: int) -> np.ndarray:
    """Indices (M^n_t, n_t) of every joint symbol vector, in joint-label order (antenna 0 most significant)."""
    return split_joint(np.arange(m ** n_t), m, n_t)


def _candidate_distances(y: np.ndarray, h: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``||y - H s||^2`` (n, Q, M^n_t) for every query of ``y`` (n, Q, n_r) and every joint candidate ``s``."""
    cand = np.asarray(points)[_candidates(len(points), h.shape[2])]  # (K, n_t)
    s = h @ cand.T  # (n, n_r, K): H s for every candidate
    return np.sum(np.abs(y[:, :, :, None] - s[:, None]) ** 2, axis=2)


def ml_log_posterior(y: np.ndarray, h: np.ndarray, n0: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Log posterior (n, Q, M^n_t) of every joint symbol vector under ``y = H s + n``, n ~ CN(0, n0 I), uniform prior.

    ``log p(s | y) = -||y - H s||^2 / n0 - logsumexp(...)`` over the candidates of :func:`ml` (joint-label order),
    with ``n0`` (n,) the noise variance per receive antenna.  Its argmax is :func:`ml`'s decision (up to ties).
    With ``H = H_ls`` and ``n0 = N0 (1 + n_t / L)`` (the channel-estimation error of ``L`` unit-energy pilots
    added to the noise) it is the plug-in posterior of the ML-LS detector; ``tools/train_mimo.py --soft-labels``
    uses it as a soft training target.
    """
    y = np.asarray(y)
    n0 = np.asarray(n0, dtype=np.float64)
    if n0.shape != (len(y),) or not np.all(n0 > 0):
        raise ValueError(f"ml_log_posterior: n0 must be ({len(y)},) and positive, got shape {n0.shape}")
    a = -_candidate_distances(y, np.asarray(h), points) / n0[:, None, None]
    a -= a.max(-1, keepdims=True)
    return a - np.log(np.sum(np.exp(a), axis=-1, keepdims=True))


def bit_errors(pred_idx: np.ndarray, true_idx: np.ndarray, order: int) -> np.ndarray:
    """Wrong Gray bits per antenna-symbol (same shape as the inputs): ``popcount(pred ^ true)``, ``log2 M`` bits."""
    x = np.bitwise_xor(np.asarray(pred_idx, dtype=np.int64), np.asarray(true_idx, dtype=np.int64))
    bits = int(order).bit_length() - 1
    return sum((x >> b) & 1 for b in range(bits))


def rate_decoded(tasks: dict[str, np.ndarray], cfg: MimoConfig, timesteps: int = 8, seed: int = 0) -> np.ndarray:
    """Received signals (n, N, n_r) re-estimated from ``timesteps`` Bernoulli draws of the token features.

    Each ``y`` feature ``f_j`` of :func:`bittrue.datasets.mimo.prompt_tokens` spikes with probability
    ``f_j / 256`` per step (numpy Bernoulli draws from ``default_rng(seed)``, not the LFSRs); with ``p_j`` the
    spike rate over the steps, ``c_hat = sum_j 256 p_j / levels`` and ``y_hat = dequantise(c_hat)``.  With
    ``ramp_copies`` R > 1 the reader averages ``c_hat`` over the R copies.
    """
    if timesteps < 1:
        raise ValueError(f"rate_decoded: timesteps = {timesteps} must be >= 1")
    tok = prompt_tokens(tasks, cfg)[..., cfg.token_layout()["y"]].astype(np.float64) / 256.0
    rng = np.random.default_rng(seed)
    rate = np.zeros(tok.shape)
    for _ in range(timesteps):
        rate += rng.random(tok.shape) < tok
    n, N = tok.shape[:2]
    c = (rate * (256.0 / timesteps)).reshape(n, N, cfg.ramp_copies, cfg.n_r, 2, cfg.levels).sum(-1).mean(2)
    c = c / cfg.levels
    c = c / (1 << (8 - cfg.y_bits))
    v = dequantise(c, cfg.fs, cfg.y_bits)
    return v[..., 0] + 1j * v[..., 1]


def received(tasks: dict[str, np.ndarray], cfg: MimoConfig, mode: str = "float", timesteps: int = 8) -> np.ndarray:
    """Received signals a detector uses: ``"float"`` (unquantised, default), ``"quantised"`` (8-bit codes,
    dequantised) or ``"rate"`` (:func:`rate_decoded` with ``timesteps``, a diagnostic)."""
    if mode == "float":
        return tasks["y"]
    if mode == "quantised":
        return dequantise_received(quantise_received(tasks["y"], cfg), cfg)
    if mode == "rate":
        return rate_decoded(tasks, cfg, timesteps)
    raise ValueError(f"received: unknown mode {mode!r}; expected 'float', 'quantised' or 'rate'")


def detect(tasks: dict[str, np.ndarray], cfg: MimoConfig, baseline: str = "lmmse-ls", *,
           received_mode: str = "float", noise: str = "true", timesteps: int = 8) -> np.ndarray:
    """Detected query indices (n, Q, n_t) of one named baseline (:data:`BASELINES`)."""
    if baseline not in BASELINES:
        raise ValueError(f"detect: unknown baseline {baseline!r}; choose one of {', '.join(BASELINES)}")
    if noise not in ("true", "estimated"):
        raise ValueError(f"detect: noise = {noise!r}: expected 'true' or 'estimated'")
    pts = constellation(cfg.modulation)
    y = received(tasks, cfg, received_mode, timesteps)
    L = cfg.pilots
    y_p, y_q = y[:, :L], y[:, L:]
    x_p = tasks["x"][:, :L]
    if baseline.endswith("-true"):
        h = tasks["H"]
    else:
        h = ls_estimate(y_p, x_p)
    if baseline == "zf-ls":
        return zf(y_q, h, pts)
    if baseline.startswith("ml-"):
        return ml(y_q, h, pts)
    n0 = tasks["noise_var"] if noise == "true" else ls_noise_var(y_p, x_p, ls_estimate(y_p, x_p))
    return lmmse(y_q, h, n0, pts)


def ser_by_snr(pred_idx: np.ndarray, true_idx: np.ndarray, snr_db: np.ndarray) -> dict[float, float]:
    """SER per SNR: ``{snr_db: fraction of wrong antenna-symbols}`` over tasks of that SNR, sorted by SNR.

    ``pred_idx`` and ``true_idx`` are (n, Q, n_t) (any shape with tasks first); ``snr_db`` is (n,).
    """
    pred_idx = np.asarray(pred_idx)
    true_idx = np.asarray(true_idx)
    snr_db = np.asarray(snr_db, dtype=np.float64)
    if pred_idx.shape != true_idx.shape or pred_idx.ndim < 1 or snr_db.shape != pred_idx.shape[:1]:
        raise ValueError(f"ser_by_snr: pred {pred_idx.shape}, true {true_idx.shape} and snr_db {snr_db.shape} "
                         f"must agree (tasks first)")
    err = (pred_idx != true_idx).reshape(len(snr_db), -1).mean(axis=1)
    return {float(s): float(err[snr_db == s].mean()) for s in np.unique(snr_db)}


def mean_ser(table: dict[float, float]) -> float:
    """Unweighted mean of the per-SNR SERs (the figure of merit averaged over 0..20 dB)."""
    return float(np.mean(list(table.values())))


def baseline_predictions(tasks: dict[str, np.ndarray], cfg: MimoConfig, received_mode: str = "float",
                         timesteps: int = 8) -> dict[str, np.ndarray]:
    """``{baseline: detected indices (n, Q, n_t)}`` of every baseline of :data:`BASELINES` on ``tasks``."""
    return {b: detect(tasks, cfg, b, received_mode=received_mode, timesteps=timesteps) for b in BASELINES}


def main(argv: list[str] | None = None) -> int:
    from .datasets.mimo import EVAL_SNR_DB, TEST_SEED, eval_tasks
    from .mimo_report import FULL_TASKS_PER_SNR, format_report, mimo_report

    p = argparse.ArgumentParser(prog="python -m bittrue.mimo_baselines",
                                description="SER and BER versus SNR of the classical detectors on the MIMO "
                                            "evaluation set, with 95 % intervals and SNR losses")
    p.add_argument("--tasks-per-snr", type=int, default=FULL_TASKS_PER_SNR,
                   help=f"tasks per SNR point (default {FULL_TASKS_PER_SNR}: the full-statistics set)")
    p.add_argument("--seed", type=int, default=TEST_SEED, help=f"evaluation-set seed (default {TEST_SEED})")
    p.add_argument("--rx-corr", type=float, default=0.0,
                   help="receive-antenna correlation rho of the channel (default 0: i.i.d., the training "
                        "distribution)")
    p.add_argument("--modulation", default="qpsk", help="qpsk, 16qam or 64qam (default qpsk)")
    p.add_argument("--antennas", default="2x2", help="n_r x n_t (default 2x2)")
    p.add_argument("--pilots", type=int, default=16)
    p.add_argument("--queries", type=int, default=4)
    p.add_argument("--levels", type=int, default=MimoConfig.levels,
                   help=f"ramp features per real component (default {MimoConfig.levels})")
    p.add_argument("--received", choices=("float", "quantised", "rate"), default="float",
                   help="unquantised (default), 8-bit quantised-dequantised, or rate-decoded from the token "
                        "spikes of --timesteps steps (diagnostic)")
    p.add_argument("--timesteps", type=int, default=8, help="encoder steps for --received rate (default 8)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args(argv)
    try:
        n_r, n_t = (int(v) for v in args.antennas.lower().split("x"))
        cfg = MimoConfig(n_r=n_r, n_t=n_t, modulation=args.modulation, pilots=args.pilots, queries=args.queries,
                        levels=args.levels)
        if args.tasks_per_snr < 1 or args.timesteps < 1 or args.seed < 0:
            raise ValueError("--tasks-per-snr and --timesteps must be >= 1, --seed >= 0")
        tasks = eval_tasks(cfg, args.tasks_per_snr * len(EVAL_SNR_DB), args.seed, rx_corr=args.rx_corr)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    preds = baseline_predictions(tasks, cfg, args.received, args.timesteps)
    rep = mimo_report(tasks, preds, cfg)
    rep.update(received=args.received, timesteps=args.timesteps if args.received == "rate" else None,
               seed=args.seed, rx_corr=args.rx_corr)
    if args.json:
        print(json.dumps(rep, sort_keys=True))
    else:
        print(format_report(rep))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
