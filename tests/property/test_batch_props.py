"""Batched drivers (kernels/batch.py) equal their naive references, JIT and ``.py_func``, any thread count."""
from __future__ import annotations

import numba
import numpy as np
from hypothesis import given, strategies as st

import reference as ref
from bittrue.kernels import batch as kb
from bittrue.kernels.lfsr import LFSR_TAPS, lfsr_count, lfsr_jump_table, lfsr_shift_form, taps_to_mask


@st.composite
def setup(draw):
    width = draw(st.sampled_from([8, 12, 16, 20]))
    taps = LFSR_TAPS[width]
    sharing = draw(st.integers(0, 2))
    seed = draw(st.integers(0, 2**32 - 1))
    return width, taps, sharing, np.random.default_rng(seed), seed


@given(setup(), st.integers(1, 3), st.integers(1, 5), st.integers(1, 6), st.integers(1, 8), st.integers(1, 8),
       st.integers(1, 3))
def test_encoder_layer_matches_reference(s, nb, n_p, n_f, k_raw, steps, rounds):
    width, taps, sharing, rng, seed = s
    k = min(k_raw, width)
    n_reg = int(lfsr_count(sharing, n_p, n_f))
    states = rng.integers(1, 1 << width, size=(nb, n_reg)).astype(np.uint64)
    p = rng.integers(0, 1 << k, size=(nb, n_p, n_f)).astype(np.int32)
    table = lfsr_jump_table(width, taps_to_mask(taps), steps)
    ref_states = states.tolist()
    for fn in (kb.encoder_layer, kb.encoder_layer.py_func):
        st_ = states.copy()
        for _ in range(rounds):
            spikes = np.zeros(p.shape, np.uint8)
            dlog = np.zeros(p.shape, np.int64)
            fn(p, st_, table, k, sharing, spikes, dlog)
        if fn is kb.encoder_layer:
            got = (st_.tolist(), spikes.tolist(), dlog.tolist())
        else:
            assert (st_.tolist(), spikes.tolist(), dlog.tolist()) == got
    for _ in range(rounds):
        ref_states, r_spk, r_dr = ref.ref_encoder_layer(p.tolist(), ref_states, width, taps, k, steps, sharing)
    assert got == (ref_states, r_spk, r_dr)


@given(setup(), st.integers(1, 2), st.integers(1, 6), st.integers(1, 2), st.sampled_from([4, 8, 16]),
       st.integers(0, 2), st.sampled_from([0.1, 0.5, 0.9]), st.integers(1, 2), st.booleans())
def test_ssa_layer_matches_reference(s, nb, n, heads, d_k, mask, dens, rounds, shift_form):
    """Draws through the jump tables, or through the closed shift form where it applies."""
    width, taps, sharing, rng, seed = s
    d = heads * d_k
    k_s, k_o = 8, 8
    bits = 3
    steps_s, steps_o = bits, 1
    n_reg_s, n_reg_o = int(lfsr_count(sharing, n, n)), int(lfsr_count(sharing, n, d_k))
    ss = rng.integers(1, 1 << width, size=(nb, heads * n_reg_s)).astype(np.uint64)
    so = rng.integers(1, 1 << width, size=(nb, heads * n_reg_o)).astype(np.uint64)
    q, k, v = ((rng.random((nb, n, d)) < dens).astype(np.uint8) for _ in range(3))
    tm = taps_to_mask(taps)
    ts, to = lfsr_jump_table(width, tm, steps_s), lfsr_jump_table(width, tm, steps_o)
    none = np.zeros(0, np.int64)
    fs, fo = (lfsr_shift_form(width, tm, steps_s), lfsr_shift_form(width, tm, steps_o)) if shift_form else (none, none)
    r_ss, r_so = ss.tolist(), so.tolist()
    results = []
    for fn in (kb.ssa_layer, kb.ssa_layer.py_func):
        a, b = ss.copy(), so.copy()
        for _ in range(rounds):
            o = np.zeros((nb, n, d), np.uint8)
            logs = (np.zeros((nb, heads, n, n), np.int32), np.zeros((nb, heads, n, n), np.uint8),
                    np.zeros((nb, heads, n, d_k), np.int32), np.zeros((nb, heads, n, d_k), np.uint8),
                    np.zeros((nb, heads, n, n), np.int64), np.zeros((nb, heads, n, d_k), np.int64))
            fn(q, k, v, heads, d_k, mask, k_s, k_o, a, b, ts, to, fs, fo, bits, bits, sharing, o, *logs)
        results.append((a.tolist(), b.tolist(), o.tolist(), [x.tolist() for x in logs]))
    assert results[0] == results[1]
    for _ in range(rounds):
        r_ss, r_so, r_o, r_logs = ref.ref_ssa_layer(q.tolist(), k.tolist(), v.tolist(), heads, d_k, mask, k_s, k_o,
                                                    r_ss, r_so, width, taps, bits, bits, steps_s, steps_o, sharing)
    a, b, o, logs = results[0]
    assert (a, b, o) == (r_ss, r_so, r_o)
    for bi in range(nb):
        for h in range(heads):
            for li in range(6):
                assert logs[li][bi][h] == r_logs[bi][h][li]


@given(st.integers(0, 2**64 - 1), st.integers(0, 3), st.integers(0, 5), st.integers(0, 1),
       st.lists(st.integers(0, 2**40), min_size=1, max_size=4), st.integers(1, 3), st.integers(1, 4),
       st.integers(1, 4), st.sampled_from([8, 16, 32]))
def test_seed_bank_batch_matches_reference(root, block, layer, phase, ids, nh, nr, nc, width):
    out = np.zeros((len(ids), nh * nr * nc), np.uint64)
    kb.seed_bank_batch(np.uint64(root), block, layer, phase, np.asarray(ids, np.int64), nh, nr, nc, width, out)
    assert out.tolist() == ref.ref_seed_bank_batch(root, block, layer, phase, ids, nh, nr, nc, width)


def test_ssa_layer_threads_identical():
    rng = np.random.default_rng(3)
    nb, n, heads, d_k = 12, 17, 4, 16
    q, k, v = ((rng.random((nb, n, heads * d_k)) < 0.4).astype(np.uint8) for _ in range(3))
    ss = rng.integers(1, 1 << 16, size=(nb, heads * n * n)).astype(np.uint64)
    so = rng.integers(1, 1 << 16, size=(nb, heads * n * d_k)).astype(np.uint64)
    tm = taps_to_mask(LFSR_TAPS[16])
    t4, t5 = lfsr_jump_table(16, tm, 4), lfsr_jump_table(16, tm, 5)
    f4, f5 = lfsr_shift_form(16, tm, 4), lfsr_shift_form(16, tm, 5)
    e32, e8, e64 = (np.zeros((0, 0, 0, 0), dt) for dt in (np.int32, np.uint8, np.int64))
    outs = []
    n0 = numba.get_num_threads()
    try:
        for th in (1, numba.config.NUMBA_NUM_THREADS):
            numba.set_num_threads(th)
            a, b, o = ss.copy(), so.copy(), np.zeros((nb, n, heads * d_k), np.uint8)
            kb.ssa_layer(q, k, v, heads, d_k, 1, 16, 32, a, b, t4, t5, f4, f5, 4, 5, 0, o, e32, e8, e32, e8, e64, e64)
            outs.append((a.tobytes(), b.tobytes(), o.tobytes()))
    finally:
        numba.set_num_threads(n0)
    assert outs[0] == outs[1]
