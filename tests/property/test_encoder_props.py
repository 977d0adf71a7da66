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


@given(st.integers(1, 8), st.integers(1, 3), st.integers(1, 40), st.integers(1, 12), st.integers(4, 64),
       st.integers(0, 2 ** 32 - 1))
def test_bitserial_passes_reassemble_the_exact_product(k, n_tok, n_in, n_out, tile_rows, seed):
    """Spec 5.3: with an ADC whose step is one current unit (I_fs = 2^(b-1), b = 16, no noise) every pass converts
    exactly, and the shift-added passes are the integer product sum_r p[r] g[r, c] of the k-bit codes: the
    bit-serial mode reads the code itself, with no encoder randomness."""
    from bittrue.kernels.batch import encoder_bitplane_layer
    from bittrue.kernels.crossbar import bitserial_accumulate, crossbar_layer

    rng = np.random.default_rng(seed)
    g = rng.integers(-64, 65, size=(n_in, n_out), dtype=np.int16)
    p = rng.integers(0, 1 << k, size=(2, n_tok, n_in), dtype=np.int32)
    planes = np.zeros((2, k, n_tok, n_in), np.uint8)
    encoder_bitplane_layer(p, k, planes)
    n_ct = -(-n_out // 256)
    bits = 16
    i_fs = np.full(n_ct, 1 << (bits - 1), np.int64)
    acc = np.zeros((2, n_tok, n_out), np.int64)
    codes = np.empty((2, n_tok, n_out), np.int32)
    e4, e4a = np.empty((0, 0, 0, 0), np.int32), np.empty((0, 0, 0, 0), np.int16)
    for j in range(k):
        crossbar_layer(np.ascontiguousarray(planes[:, j]), g, tile_rows, 256, i_fs, np.zeros(n_ct, np.int64), bits,
                       0, 1, np.arange(2, dtype=np.int64), 0, j, np.ones(n_out, np.int64),
                       np.zeros(n_out, np.int64), 0, 32, codes, e4, e4, e4a)
        bitserial_accumulate(acc, codes, j)
    assert np.array_equal(acc, p.astype(np.int64) @ g.astype(np.int64))
