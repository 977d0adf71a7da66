"""Property tests of the SSA engine against tests/reference.py (JIT and .py_func)."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings

import reference as ref
import strategies as sts
from bittrue.kernels.ssa import pack_bits, pack_bits_t, ssa_head


def _packed(q, k, v):
    nw = lambda n: (n + 63) // 64  # noqa: E731
    qw = np.zeros((q.shape[0], nw(q.shape[1])), np.uint64)
    kw = np.zeros((k.shape[0], nw(k.shape[1])), np.uint64)
    vt = np.zeros((v.shape[1], nw(v.shape[0])), np.uint64)
    pack_bits(q, qw)
    pack_bits(k, kw)
    pack_bits_t(v, vt)
    return qw, kw, vt


@given(sts.ssa_case())
@settings(max_examples=20)
def test_ssa_matches_reference(case):
    q, k, v, mask, k_s, k_o, draw_s, draw_o = case
    qw, kw, vt = _packed(q, k, v)
    C, S, P, O = ref.ref_ssa_head(q.tolist(), k.tolist(), v.tolist(), mask, k_s, k_o,
                                  draw_s.tolist(), draw_o.tolist())
    n_q, n_k, d_v = q.shape[0], k.shape[0], v.shape[1]
    for kernel in (ssa_head, ssa_head.py_func):
        c = np.full((n_q, n_k), -1, np.int32)
        s = np.full((n_q, n_k), 9, np.uint8)
        p = np.full((n_q, d_v), -1, np.int32)
        o = np.full((n_q, d_v), 9, np.uint8)
        kernel(qw, kw, vt, mask, k_s, k_o, draw_s, draw_o, c, s, p, o)
        assert c.tolist() == C
        assert s.tolist() == S
        assert p.tolist() == P
        assert o.tolist() == O


@given(sts.ssa_case(max_tokens=20, max_dk=70))
def test_and_gate_counts_bounded(case):
    """An AND gate's spike count is at most the minimum of its inputs' counts; S only where
    C > 0 and the mask allows; O only where P > 0."""
    q, k, v, mask, k_s, k_o, draw_s, draw_o = case
    qw, kw, vt = _packed(q, k, v)
    n_q, n_k, d_v = q.shape[0], k.shape[0], v.shape[1]
    c = np.zeros((n_q, n_k), np.int32)
    s = np.zeros((n_q, n_k), np.uint8)
    p = np.zeros((n_q, d_v), np.int32)
    o = np.zeros((n_q, d_v), np.uint8)
    ssa_head(qw, kw, vt, mask, k_s, k_o, draw_s, draw_o, c, s, p, o)
    qs, ks = q.sum(1).astype(int), k.sum(1).astype(int)
    assert (c <= np.minimum.outer(qs, ks)).all() and (c <= k_s).all()
    assert (s <= (c > 0)).all()
    ii, jj = np.indices((n_q, n_k))
    if mask == 1:
        assert (s[ii == jj] == 0).all()
    if mask == 2:
        assert (s[jj > ii] == 0).all()
    assert (p <= np.minimum.outer(s.sum(1).astype(int), v.sum(0).astype(int))).all() and (p <= k_o).all()
    assert (o <= (p > 0)).all()
