"""Property tests of the input encoder against tests/reference.py (JIT and .py_func)."""
from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference as ref
from bittrue.kernels.encoder import encoder_spikes


@given(st.integers(1, 8).flatmap(lambda k: st.tuples(
    hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=8),
    st.just(k))), st.data())
def test_encoder_matches_reference(shape_k, data):
    shape, k = shape_k
    p = data.draw(hnp.arrays(np.uint8, shape, elements=st.integers(0, (1 << k) - 1)))
    r = data.draw(hnp.arrays(np.uint32, shape, elements=st.integers(0, (1 << k) - 1)))
    expect = ref.ref_encoder(p.ravel().tolist(), r.ravel().tolist())
    for kernel in (encoder_spikes, encoder_spikes.py_func):
        out = np.full(shape, 5, np.uint8)
        kernel(p, r, out)
        assert out.ravel().tolist() == expect
