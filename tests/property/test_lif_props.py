"""Property tests of the LIF neuron and residual add (JIT and .py_func vs reference)."""
from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference as ref
import strategies as sts
from bittrue.kernels.lif import lif_update, lif_update_batch, lif_update_rows, residual_add


@given(sts.lif_case())
def test_lif_matches_reference(case):
    v, y, theta, leak, reset, width = case
    v_ref, s_ref = ref.ref_lif_update(v.tolist(), y.tolist(), theta, leak, reset, width)
    for kernel in (lif_update, lif_update.py_func):
        vv, sp = v.copy(), np.full(v.size, 7, np.uint8)
        kernel(vv, y, theta, leak, reset, width, sp)
        assert vv.tolist() == v_ref and sp.tolist() == s_ref


@given(sts.lif_case())
def test_lif_invariants(case):
    """No spike below threshold; every pre-reset membrane >= theta spikes; reset follows mode;
    the membrane stays inside the width-bit range."""
    v, y, theta, leak, reset, width = case
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    pre = [min(hi, max(lo, int(a) - (int(a) >> leak) + int(b))) for a, b in zip(v, y)]
    vv, sp = v.copy(), np.zeros(v.size, np.uint8)
    lif_update(vv, y, theta, leak, reset, width, sp)
    for p, s, after in zip(pre, sp.tolist(), vv.tolist()):
        assert lo <= after <= hi
        assert s == (1 if p >= theta else 0)
        if s == 0:
            assert after == p
        elif reset == 0:
            assert after == 0
        else:
            assert after == max(lo, min(hi, p - theta))


@given(st.sampled_from([8, 16, 24]), st.integers(0, 50), st.data())
def test_residual_matches_reference(width, n, data):
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    dtype = np.int16 if width <= 16 else np.int32
    r = data.draw(hnp.arrays(dtype, n, elements=st.integers(lo, hi)))
    y = data.draw(hnp.arrays(np.int64, n, elements=st.integers(3 * lo, 3 * hi)))
    expect = ref.ref_residual_add(r.tolist(), y.tolist(), width)
    for kernel in (residual_add, residual_add.py_func):
        rr = r.copy()
        kernel(rr, y, width)
        assert rr.tolist() == expect


@given(sts.lif_case(), st.integers(1, 4), st.integers(0, 3))
def test_lif_batch_matches_reference(case, nb, col0):
    """The batched, parallel kernel equals the reference on (B, N, W) arrays, reading input columns
    col0 .. col0 + W of a wider input (the runner's fused q|k|v output)."""
    v, y, theta, leak, reset, width = case
    n = v.size
    vb = np.stack([np.roll(v, i) for i in range(nb)]).reshape(nb, 1, n)
    yb = np.stack([np.roll(y, -i) for i in range(nb)]).reshape(nb, 1, n)
    wide = np.full((nb, 1, n + 2 * col0), 12345, yb.dtype)
    wide[:, :, col0:col0 + n] = yb
    kernels = (lif_update_batch, lif_update_batch.py_func,
               lambda *a: lif_update_rows(*a, 0, nb), lambda *a: lif_update_rows.py_func(*a, 0, nb))
    for kernel in kernels:
        vv, sp = vb.copy(), np.full(vb.shape, 7, np.uint8)
        kernel(vv, wide, col0, theta, leak, reset, width, sp)
        for i in range(nb):
            v_ref, s_ref = ref.ref_lif_update(vb[i, 0].tolist(), yb[i, 0].tolist(), theta, leak, reset, width)
            assert vv[i, 0].tolist() == v_ref and sp[i, 0].tolist() == s_ref
