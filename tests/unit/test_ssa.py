"""Unit and statistical tests of the SSA engine (spec 3)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import reference as ref
from bittrue.kernels.lfsr import LFSR_TAPS, lfsr_draw_bank, lfsr_seed_bank, taps_to_mask
from bittrue.kernels.ssa import pack_bits, pack_bits_t, ssa_head, ssa_heads


def nwords(n):
    return (n + 63) // 64


def run_head(q, k, v, mask, k_s, k_o, draw_s, draw_o, kernel=ssa_head):
    q, k, v = (np.asarray(a, dtype=np.uint8) for a in (q, k, v))
    qw = np.zeros((q.shape[0], nwords(q.shape[1])), np.uint64)
    kw = np.zeros((k.shape[0], nwords(k.shape[1])), np.uint64)
    vt = np.zeros((v.shape[1], nwords(v.shape[0])), np.uint64)
    pack_bits(q, qw)
    pack_bits(k, kw)
    pack_bits_t(v, vt)
    n_q, n_k, d_v = q.shape[0], k.shape[0], v.shape[1]
    c = np.full((n_q, n_k), -1, np.int32)
    s = np.full((n_q, n_k), 9, np.uint8)
    p = np.full((n_q, d_v), -1, np.int32)
    o = np.full((n_q, d_v), 9, np.uint8)
    kernel(qw, kw, vt, mask, k_s, k_o, np.asarray(draw_s, np.int64), np.asarray(draw_o, np.int64), c, s, p, o)
    return c, s, p, o


# ----------------------------------------------------------------------------- packing
@pytest.mark.parametrize("kernel", [pack_bits, pack_bits.py_func], ids=["jit", "py"])
def test_pack_bits_table(kernel):
    sp = np.zeros((2, 70), np.uint8)
    sp[0, [0, 3, 63]] = 1
    sp[1, [64, 69]] = 1
    out = np.full((2, 2), 0xFFFF, np.uint64)
    kernel(sp, out)
    assert [int(x) for x in out[0]] == [(1 << 0) | (1 << 3) | (1 << 63), 0]
    assert [int(x) for x in out[1]] == [0, (1 << 0) | (1 << 5)]


@pytest.mark.parametrize("kernel,transposed", [(pack_bits, False), (pack_bits.py_func, False),
                                                (pack_bits_t, True), (pack_bits_t.py_func, True)],
                         ids=["jit", "py", "t-jit", "t-py"])
def test_pack_bits_equals_reference(kernel, transposed):
    """Both packings against the naive bit-by-bit twin (reference.ref_pack_bits), over 1, 2 and 3 words."""
    rng = np.random.default_rng(3)
    for rows, cols in ((130, 5), (3, 64), (7, 129), (1, 1)):
        sp = (rng.random((rows, cols)) < 0.5).astype(np.uint8)
        sp[sp == 1] = rng.integers(1, 256, size=int(sp.sum()))  # any non-zero entry is a 1
        lists = (sp.T if transposed else sp).tolist()
        want = ref.ref_pack_bits([[int(x != 0) for x in row] for row in lists])
        out = np.full((len(lists), len(want[0])), 0xFFFF, np.uint64)  # stale bits must be overwritten
        kernel(sp, out)
        assert [[int(w) for w in row] for row in out] == want, (rows, cols)


# ----------------------------------------------------------------------------- hand tables
@pytest.mark.parametrize("kernel", [ssa_head, ssa_head.py_func], ids=["jit", "py"])
def test_hand_table(kernel):
    q = [[1, 1, 0, 1], [0, 1, 1, 0], [1, 1, 1, 1]]
    k = [[1, 0, 0, 1], [1, 1, 1, 1], [0, 0, 0, 0]]
    v = [[1, 0], [1, 1], [0, 1]]
    # popcounts: row0 [2,3,0], row1 [0,2,0], row2 [2,4,0]; K_S = 4
    draw_s = [[1, 3, 0], [0, 1, 0], [0, 3, 0]]
    draw_o = [[0, 1], [0, 0], [1, 0]]
    c, s, p, o = run_head(q, k, v, 0, 4, 4, draw_s, draw_o, kernel)
    assert c.tolist() == [[2, 3, 0], [0, 2, 0], [2, 4, 0]]
    assert s.tolist() == [[1, 0, 0], [0, 1, 0], [1, 1, 0]]
    assert p.tolist() == [[1, 0], [1, 1], [2, 1]]
    assert o.tolist() == [[1, 0], [1, 1], [1, 1]]


def test_masks_gate_spikes_not_counters():
    ones = np.ones((4, 8), np.uint8)
    zeros_s = np.zeros((4, 4))
    zeros_o = np.zeros((4, 8))
    c, s, p, _ = run_head(ones, ones, ones, 1, 8, 8, zeros_s, zeros_o)
    assert (c == 8).all()
    np.testing.assert_array_equal(s, 1 - np.eye(4, dtype=np.uint8))
    assert (p == 3).all()
    c, s, p, _ = run_head(ones, ones, ones, 2, 8, 8, zeros_s, zeros_o)
    assert (c == 8).all()
    np.testing.assert_array_equal(s, np.tril(np.ones((4, 4), np.uint8)))
    assert p[:, 0].tolist() == [1, 2, 3, 4]


def test_counter_saturation():
    ones = np.ones((5, 20), np.uint8)
    c, s, p, o = run_head(ones, ones, ones, 0, 16, 4, np.full((5, 5), 15), np.full((5, 20), 3))
    assert (c == 16).all() and (s == 1).all() and (p == 4).all() and (o == 1).all()


@pytest.mark.parametrize("kernel", [ssa_heads, ssa_heads.py_func], ids=["jit", "py"])
def test_heads_driver_equals_reference(kernel):
    """The batched driver against the naive twin head by head (reference.ref_ssa_head on unpacked spikes)."""
    rng = np.random.default_rng(5)
    H, N, dk, dv, k_s, k_o, mask = 3, 9, 16, 6, 16, 4, 2
    q = (rng.random((H, N, dk)) < 0.6).astype(np.uint8)
    k = (rng.random((H, N, dk)) < 0.6).astype(np.uint8)
    v = (rng.random((H, N, dv)) < 0.6).astype(np.uint8)
    ds = rng.integers(0, k_s, (H, N, N))
    do = rng.integers(0, k_o, (H, N, dv))
    qw = np.array([ref.ref_pack_bits(q[h].tolist()) for h in range(H)], np.uint64)
    kw = np.array([ref.ref_pack_bits(k[h].tolist()) for h in range(H)], np.uint64)
    vt = np.array([ref.ref_pack_bits(v[h].T.tolist()) for h in range(H)], np.uint64)
    outs = [np.full((H, N, N), -1, np.int32), np.full((H, N, N), 9, np.uint8),
            np.full((H, N, dv), -1, np.int32), np.full((H, N, dv), 9, np.uint8)]
    kernel(qw, kw, vt, mask, k_s, k_o, ds, do, *outs)
    for h in range(H):
        want = ref.ref_ssa_head(q[h].tolist(), k[h].tolist(), v[h].tolist(), mask, k_s, k_o, ds[h].tolist(),
                                do[h].tolist())
        for got, w in zip(outs, want):
            assert got[h].tolist() == w, h
    assert outs[3].any() and outs[1].any()  # spikes fire: the case is not all zeros


# ----------------------------------------------------------------------------- spec 3.6 law
def _case(seed, n, d_k, d_v, density=0.5):
    rng = np.random.default_rng(seed)
    q = (rng.random((n, d_k)) < density).astype(np.uint8)
    k = (rng.random((n, d_k)) < density).astype(np.uint8)
    v = (rng.random((n, d_v)) < density).astype(np.uint8)
    return q, k, v


def test_score_law_exact_over_full_period():
    """E[S] law of spec 3.6, exactly: one width-12 LFSR per comparator (seeds from the site
    hash), 4-bit draws with 4 clocks each (gcd(4, 4095) = 1).  Over 4095 steps each register
    visits every non-zero state once, so draw r < C occurs C * 2^8 - 1 times for C >= 1
    (the missing zero word) and 0 times for C = 0; masked cells never fire."""
    n, d_k, d_v, width, k_s = 7, 16, 4, 12, 16
    q, k, v = _case(11, n, d_k, d_v)
    tm = taps_to_mask(LFSR_TAPS[width])
    states = np.zeros(n * n, np.uint64)
    lfsr_seed_bank(np.uint64(2024), 0, 0, 0, 0, 1, n, n, width, states)
    draws = np.zeros(n * n, np.int64)
    counts = np.zeros((n, n), np.int64)
    c0 = None
    for _ in range((1 << width) - 1):
        lfsr_draw_bank(states, width, tm, 4, 4, draws)
        c, s, _, _ = run_head(q, k, v, 1, k_s, 32, draws.reshape(n, n), np.zeros((n, d_v)))
        counts += s
        c0 = c if c0 is None else c0
    expect = np.where(c0 > 0, c0.astype(np.int64) * (1 << (width - 4)) - 1, 0)
    np.fill_diagonal(expect, 0)
    np.testing.assert_array_equal(counts, expect)


def _score_and_output_banks(seed: int, n: int, d_v: int, width: int):
    """Tap mask, seeded LFSR states of the score bank (n x n, phase 0) and the output bank (n x d_v, phase 1),
    and their draw buffers, for the Hoeffding tests below."""
    st_s = np.zeros(n * n, np.uint64)
    st_o = np.zeros(n * d_v, np.uint64)
    lfsr_seed_bank(np.uint64(seed), 0, 0, 0, 0, 1, n, n, width, st_s)
    lfsr_seed_bank(np.uint64(seed), 0, 0, 1, 0, 1, n, d_v, width, st_o)
    return (taps_to_mask(LFSR_TAPS[width]), st_s, st_o, np.zeros(n * n, np.int64), np.zeros(n * d_v, np.int64))


def test_output_law_hoeffding():
    """E[O[i,c]] = sum_j m[i,j] v[j,c] min(C[i,j], K_S) / (K_S K_O) (spec 3.6, K_O >= N).

    T = 20000 steps with independent width-16 LFSRs per comparator (score bank and output
    bank seeded from different phases of the site hash).  Each cell's firing fraction is a
    mean of T i.i.d. Bernoulli trials (modelling the LFSR draws as independent uniform), so by
    Hoeffding P(|mean - E| >= t) <= 2 exp(-2 T t^2).  With M = N*N + N*d_v cells and
    t = sqrt(ln(2 M / 1e-9) / (2 T)) the union bound puts the false-failure probability
    below 1e-9 (t ~ 0.026 here).  The S law is checked the same way.
    """
    n, d_k, d_v, k_s, k_o, width, T = 8, 16, 8, 16, 8, 16, 20000
    q, k, v = _case(7, n, d_k, d_v, density=0.75)
    tm, st_s, st_o, ds, do = _score_and_output_banks(77, n, d_v, width)
    qw = np.zeros((n, 1), np.uint64)
    kw = np.zeros((n, 1), np.uint64)
    vt = np.zeros((d_v, 1), np.uint64)
    pack_bits(q, qw)
    pack_bits(k, kw)
    pack_bits_t(v, vt)
    c = np.zeros((n, n), np.int32)
    s = np.zeros((n, n), np.uint8)
    p = np.zeros((n, d_v), np.int32)
    o = np.zeros((n, d_v), np.uint8)
    cnt_s = np.zeros((n, n), np.int64)
    cnt_o = np.zeros((n, d_v), np.int64)
    for _ in range(T):
        lfsr_draw_bank(st_s, width, tm, 4, 4, ds)
        lfsr_draw_bank(st_o, width, tm, 3, 3, do)
        ssa_head(qw, kw, vt, 1, k_s, k_o, ds.reshape(n, n), do.reshape(n, d_v), c, s, p, o)
        cnt_s += s
        cnt_o += o
    m = 1 - np.eye(n)
    es = m * np.minimum(c, k_s) / k_s
    eo = es @ v / k_o
    M = n * n + n * d_v
    t = math.sqrt(math.log(2 * M / 1e-9) / (2 * T))
    assert np.abs(cnt_s / T - es).max() < t
    assert np.abs(cnt_o / T - eo).max() < t
    # the bound is not vacuous: the expected rates span a wide range
    assert eo.max() > 0.3 and es.max() > 0.5 and eo.min() < 0.2


# ----------------------------------------------------------------------------- spec 3.6, saturating counters
def test_saturating_output_law_exact_over_full_period():
    """``E[O] = min(P, K_O) / K_O`` with P fixed and saturating (spec 3.6), exactly over one LFSR period.

    Score draws of 0 make S = (C > 0) off the masked diagonal, so P is the same every step; with K_O = 4 and up to
    7 attendable tokens many output counters saturate.  One width-12 LFSR per output comparator, 2-bit draws with
    2 clocks each (gcd(2, 4095) = 1): over 4095 draws each register visits every non-zero state once, so r < x
    occurs x * 2^10 - 1 times for x >= 1 (the missing zero word) and never for x = 0, with x = min(P, K_O).
    """
    n, d_k, d_v, width, k_o = 8, 16, 6, 12, 4
    q, k, v = _case(3, n, d_k, d_v, density=0.6)
    tm = taps_to_mask(LFSR_TAPS[width])
    states = np.zeros(n * d_v, np.uint64)
    lfsr_seed_bank(np.uint64(99), 0, 0, 1, 0, 1, n, d_v, width, states)
    draws = np.zeros(n * d_v, np.int64)
    counts = np.zeros((n, d_v), np.int64)
    p0 = None
    for _ in range((1 << width) - 1):
        lfsr_draw_bank(states, width, tm, 2, 2, draws)
        _, _, p, o = run_head(q, k, v, 1, 16, k_o, np.zeros((n, n)), draws.reshape(n, d_v))
        counts += o
        p0 = p if p0 is None else p0
    s = ((q.astype(np.int64) @ k.T.astype(np.int64)) > 0) & ~np.eye(n, dtype=bool)
    p_raw = s.astype(np.int64) @ v.astype(np.int64)
    np.testing.assert_array_equal(p0, np.minimum(p_raw, k_o))  # the counter saturates at K_O
    assert (p_raw > k_o).sum() >= 5 and (p_raw < k_o).sum() >= 5, "the case must exercise saturation and below"
    x = np.minimum(p_raw, k_o)
    expect = np.where(x > 0, x * (1 << (width - 2)) - 1, 0)
    np.testing.assert_array_equal(counts, expect)


def _expected_min(p_fire: np.ndarray, k: int) -> float:
    """E[min(P, k)] for P a sum of independent Bernoulli(p_fire[j]) (exact, by convolution)."""
    dist = np.zeros(len(p_fire) + 1)
    dist[0] = 1.0
    for pj in p_fire:
        dist[1:] = dist[1:] * (1 - pj) + dist[:-1] * pj
        dist[0] *= 1 - pj
    return float((np.minimum(np.arange(len(dist)), k) * dist).sum())


def test_saturating_output_law_hoeffding():
    """``E[O[i,c]] = E[min(P[i,c], K_O)] / K_O`` with random S and saturating output counters (spec 3.6).

    P[i,c] is a sum of independent score spikes S[i,j] (P = m min(C, K_S)/K_S each) over the tokens j with
    v[j,c] = 1, so E[min(P, K_O)] follows exactly from its Poisson-binomial distribution.  T = 20000 steps of
    independent width-16 LFSR draws; Hoeffding with a union bound over the N d_v cells at false-failure
    probability 1e-9 (t = sqrt(ln(2 M / 1e-9) / (2 T)), about 0.03), as in test_output_law_hoeffding.
    """
    n, d_k, d_v, k_s, k_o, width, T = 10, 16, 6, 16, 4, 16, 20000
    q, k, v = _case(21, n, d_k, d_v, density=0.7)
    tm, st_s, st_o, ds, do = _score_and_output_banks(5, n, d_v, width)
    cnt_o = np.zeros((n, d_v), np.int64)
    c = None
    for _ in range(T):
        lfsr_draw_bank(st_s, width, tm, 4, 4, ds)
        lfsr_draw_bank(st_o, width, tm, 2, 2, do)
        c, _, _, o = run_head(q, k, v, 1, k_s, k_o, ds.reshape(n, n), do.reshape(n, d_v))
        cnt_o += o
    ps = (1 - np.eye(n)) * np.minimum(c, k_s) / k_s
    eo = np.array([[_expected_min(ps[i] * v[:, cc], k_o) / k_o for cc in range(d_v)] for i in range(n)])
    linear = ps @ v / k_o  # what an unsaturated counter would give
    t = math.sqrt(math.log(2 * n * d_v / 1e-9) / (2 * T))
    assert np.abs(cnt_o / T - eo).max() < t
    # not vacuous: saturation changes the expectation by more than the bound somewhere
    assert (linear - eo).max() > 3 * t
