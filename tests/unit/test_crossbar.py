"""Crossbar, output noise, ADC and requantisation kernels against tests/reference.py and hand tables."""
from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import example, given, strategies as st

import reference as ref
from bittrue.kernels import crossbar as xb


# ---------------------------------------------------------------- hand tables
@pytest.mark.parametrize("fn", [xb.adc_convert, xb.adc_convert.py_func])
def test_adc_table(fn):
    # I_fs = 100, 8 bits: code = round(I * 128 / 100), clamped to -128..127
    table = [(0, 0), (1, 1), (-1, -1), (39, 50), (40, 51), (-40, -51), (99, 127), (100, 127),
             (-100, -128), (-101, -128), (10**6, 127), (-10**6, -128), (3, 4)]
    for i, code in table:
        assert fn(i, 100, 8) == code, (i, code)
    # round half up: 0.5 LSB -> +1, -0.5 LSB -> 0
    assert fn(1, 256, 8) == 1 and fn(-1, 256, 8) == 0


@pytest.mark.parametrize("fn", [xb.requant_code, xb.requant_code.py_func])
def test_requant_table(fn):
    assert fn(3, 5, 0, 0, 16) == 15
    assert fn(3, 5, 2, 2, 16) == (15 + 2) >> 2
    assert fn(-3, 5, 2, 2, 16) == (-15 + 2) >> 2  # arithmetic (floor) shift
    assert fn(10**6, 1000, 0, 0, 16) == 32767
    assert fn(-10**6, 1000, 0, 0, 16) == -32768


def test_noise_gauss_statistics():
    """Mean 0, sigma = sigma_code / 256, Irwin-Hall(4) shape, no correlation between neighbouring columns.

    200,000 conversions of one token row (consecutive columns of one tile, the kernel's keys), sigma 40:
    sd of the mean = 40/sqrt(n) = 0.089 -> bound 0.6 (6.7 sd); sd of the sample variance
    ~ sigma^2 sqrt((2 - 0.3)/n) = 4.7 -> bound 1600 +- 35 (7.5 sd; rounding adds 1/12);
    sd of the sample excess kurtosis ~ sqrt(24/n) = 0.011 -> bound -0.3 +- 0.07 (6.4 sd);
    sd of the lag-1 correlation = 1/sqrt(n) = 0.0022 -> bound 0.015 (6.7 sd).
    P(false failure) < 1e-9 in all.  The generator is deterministic, so this test is too.
    """
    n = 200_000
    sig = 40 * 256
    prefix = xb.noise_key_prefix(np.uint64(12345), 7, 3, 1, 5)
    vals = np.array([xb.noise_gauss_code(xb.noise_key(prefix, 2, c), sig) for c in range(n)], dtype=np.float64)
    assert abs(vals.mean()) < 0.6
    assert abs(vals.var() - 1600) < 35
    z = (vals - vals.mean()) / vals.std()
    assert abs((z ** 4).mean() - 3.0 - (-0.3)) < 0.07
    assert abs(np.corrcoef(vals[:-1], vals[1:])[0, 1]) < 0.015
    assert np.abs(vals).max() <= (4 * 65535 * sig * xb.SQRT3_Q16 >> 41) + 1


@given(st.integers(0, (1 << 64) - 1), st.integers(0, xb.SIGMA_CODE_LIMIT - 1))
@example(0, 0)
@example((1 << 64) - 1, xb.SIGMA_CODE_LIMIT - 1)
def test_noise_matches_reference(key, sigma):
    assert xb.noise_gauss_code(np.uint64(key), sigma) == ref.ref_noise_gauss(key, sigma)
    assert xb.noise_gauss_code.py_func(np.uint64(key), sigma) == ref.ref_noise_gauss(key, sigma)


@given(st.integers(0, (1 << 64) - 1), st.integers(0, 1 << 40), st.integers(0, 300), st.integers(0, 63),
       st.integers(0, 1000), st.integers(0, 7), st.integers(0, 4095))
def test_noise_key_matches_reference(root, sample, layer, t, token, tile, col):
    p = xb.noise_key_prefix(np.uint64(root), sample, layer, t, token)
    assert int(p) == ref.ref_noise_key_prefix(root, sample, layer, t, token)
    assert int(xb.noise_key(p, tile, col)) == ref.ref_noise_key(int(p), tile, col)


# ---------------------------------------------------------------- property: ADC
@given(st.integers(-(1 << 30), 1 << 30), st.integers(-(1 << 30), 1 << 30), st.integers(1, 1 << 24),
       st.integers(1, 16))
def test_adc_monotone_and_clamped(i1, i2, fs, bits):
    lo, hi = sorted((i1, i2))
    c_lo, c_hi = xb.adc_convert(lo, fs, bits), xb.adc_convert(hi, fs, bits)
    assert c_lo <= c_hi
    assert -(1 << (bits - 1)) <= c_lo and c_hi <= (1 << (bits - 1)) - 1
    assert c_hi == ref.ref_adc(hi, fs, bits)


# ---------------------------------------------------------------- crossbar layer vs reference
@st.composite
def xbar_case(draw):
    nb = draw(st.integers(1, 3))
    nt = draw(st.integers(1, 4))
    n_in = draw(st.integers(1, 20))
    n_out = draw(st.integers(1, 12))
    rows = draw(st.integers(1, 8))
    cols = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    density = draw(st.sampled_from([0.0, 0.15, 0.5, 1.0]))
    bits = draw(st.integers(1, 12))
    noise_on = draw(st.integers(0, 1))
    rng = np.random.default_rng(seed)
    spikes = (rng.random((nb, nt, n_in)) < density).astype(np.uint8)
    # int16 row groups of 8 up to 4095, of 4 up to 8191, else row by row
    g_lim = draw(st.sampled_from([2047, 4095, 4096, 8191, 8192, 32767]))
    g = rng.integers(-g_lim, g_lim + 1, size=(n_in, n_out)).astype(np.int16)
    n_ct = -(-n_out // cols)
    i_fs = rng.integers(1, 50000, size=n_ct).astype(np.int64)
    sigma = rng.integers(0, 5000, size=n_ct).astype(np.int64)
    m = rng.integers(-(1 << 15), 1 << 15, size=n_out).astype(np.int64)
    b = rng.integers(-(1 << 20), 1 << 20, size=n_out).astype(np.int64)
    s = int(rng.integers(0, 16))
    ids = rng.integers(0, 10**6, size=nb).astype(np.int64)
    return dict(spikes=spikes, g=g, rows=rows, cols=cols, i_fs=i_fs, sigma=sigma, bits=bits, noise_on=noise_on,
                root=int(rng.integers(0, 2**63)), ids=ids, layer=int(rng.integers(0, 20)), t=int(rng.integers(0, 8)),
                m=m, b=b, s=s)


def _run_kernel(fn, c):
    nb, nt, n_in = c["spikes"].shape
    n_out = c["g"].shape[1]
    n_rt = -(-n_in // c["rows"])
    y = np.zeros((nb, nt, n_out), np.int32)
    il = np.zeros((nb, nt, n_rt, n_out), np.int32)
    nl = np.zeros_like(il)
    al = np.zeros((nb, nt, n_rt, n_out), np.int16)
    fn(c["spikes"], c["g"], c["rows"], c["cols"], c["i_fs"], c["sigma"], c["bits"], c["noise_on"],
       np.uint64(c["root"]), c["ids"], c["layer"], c["t"], c["m"], c["b"], c["s"], 16, y, il, nl, al)
    return y, il, nl, al


@given(xbar_case())
def test_crossbar_layer_matches_reference(c):
    want = ref.ref_crossbar_layer(c["spikes"].tolist(), c["g"].tolist(), c["rows"], c["cols"], c["i_fs"], c["sigma"],
                                  c["bits"], c["noise_on"], c["root"], c["ids"], c["layer"], c["t"], c["m"], c["b"],
                                  c["s"], 16)
    got = _run_kernel(xb.crossbar_layer, c)
    for w, g in zip(want, got):
        assert np.array_equal(np.asarray(w), g)


def test_crossbar_layer_py_func_and_no_log():
    rng = np.random.default_rng(5)
    c = dict(spikes=(rng.random((2, 3, 10)) < 0.3).astype(np.uint8), g=rng.integers(-4096, 4097, (10, 7)).astype(np.int16),
             rows=4, cols=3, i_fs=np.array([9000, 7000, 5000], np.int64), sigma=np.array([300, 200, 100], np.int64),
             bits=8, noise_on=1, root=123, ids=np.array([7, 9], np.int64), layer=3, t=2,
             m=rng.integers(-30000, 30000, 7).astype(np.int64), b=rng.integers(-99999, 99999, 7).astype(np.int64), s=9)
    jit = _run_kernel(xb.crossbar_layer, c)
    py = _run_kernel(xb.crossbar_layer.py_func, c)
    for a, b in zip(jit, py):
        assert np.array_equal(a, b)
    # logging off gives the same outputs
    y = np.zeros_like(jit[0])
    e = np.zeros((0, 0, 0, 0), np.int32)
    xb.crossbar_layer(c["spikes"], c["g"], 4, 3, c["i_fs"], c["sigma"], 8, 1, np.uint64(123), c["ids"], 3, 2,
                      c["m"], c["b"], 9, 16, y, e, e, np.zeros((0, 0, 0, 0), np.int16))
    assert np.array_equal(y, jit[0])


@pytest.mark.parametrize("g_lim", [4095, 8191, 32767])  # int16 groups of 8, of 4, row by row
def test_crossbar_layer_row_groupings_match_reference(g_lim):
    """Deterministic: every row-grouping path of the layer kernel (chosen by max|g|) equals the reference, with
    dense enough spikes that every token has groups of eight active rows."""
    rng = np.random.default_rng(g_lim)
    c = dict(spikes=(rng.random((2, 5, 40)) < 0.6).astype(np.uint8),
             g=rng.integers(-g_lim, g_lim + 1, (40, 9)).astype(np.int16), rows=20, cols=4,
             i_fs=np.array([90000, 70000, 50000], np.int64), sigma=np.array([3000, 2000, 1000], np.int64),
             bits=8, noise_on=1, root=77, ids=np.array([3, 8], np.int64), layer=2, t=1,
             m=rng.integers(-30000, 30000, 9).astype(np.int64), b=rng.integers(-99999, 99999, 9).astype(np.int64),
             s=9)
    c["g"][0, 0] = g_lim  # max|g| is exactly the limit of the path
    want = ref.ref_crossbar_layer(c["spikes"].tolist(), c["g"].tolist(), c["rows"], c["cols"], c["i_fs"],
                                  c["sigma"], c["bits"], c["noise_on"], c["root"], c["ids"], c["layer"], c["t"],
                                  c["m"], c["b"], c["s"], 16)
    got = _run_kernel(xb.crossbar_layer, c)
    for w, g in zip(want, got):
        assert np.array_equal(np.asarray(w), g)


def test_crossbar_threads_identical():
    """Byte-identical output with 1 thread and with all threads."""
    rng = np.random.default_rng(11)
    c = dict(spikes=(rng.random((16, 17, 64)) < 0.2).astype(np.uint8), g=rng.integers(-4096, 4097, (64, 96)).astype(np.int16),
             rows=32, cols=40, i_fs=np.array([20000, 15000, 9000], np.int64), sigma=np.array([500, 400, 300], np.int64),
             bits=8, noise_on=1, root=2**63 + 5, ids=np.arange(16, dtype=np.int64) * 3, layer=1, t=4,
             m=rng.integers(-30000, 30000, 96).astype(np.int64), b=rng.integers(-99999, 99999, 96).astype(np.int64), s=12)
    n0 = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _run_kernel(xb.crossbar_layer, c)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = _run_kernel(xb.crossbar_layer, c)
    finally:
        numba.set_num_threads(n0)
    for a, b in zip(one, many):
        assert a.tobytes() == b.tobytes()


@given(st.lists(st.integers(-(1 << 27), 1 << 27), min_size=1, max_size=40),
       st.lists(st.integers(-(1 << 22), 1 << 22), min_size=40, max_size=40),
       st.integers(1, 1 << 31), st.integers(1, 16))
@example([0, 1, -1, 2**27, -(2**27)], [0] * 40, 1, 16)
@example([50, -50, 150], [0] * 40, 100, 8)
def test_vector_adc_equals_scalar_adc(cur, nz, fs, bits):
    """The biased float-estimate ADC of the layer kernel equals the integer-division ADC (random inputs)."""
    cur_a = np.asarray(cur, np.int32)
    nz_a = np.asarray(nz[: len(cur)], np.int64)
    half = 1 << (bits - 1)
    out = [int(xb._adc_fast(int(c) + int(n), fs, 1.0 / (2 * fs), bits, half)) for c, n in zip(cur_a, nz_a)]
    want = [ref.ref_adc(int(c) + int(n), fs, bits) for c, n in zip(cur_a, nz_a)]
    assert out == want


@numba.njit  # not cached: it inlines xb._adc_fast, whose changes a cache keyed on this file would miss
def _adc_fast_array(x, fs, bits, out):
    half = np.int64(1) << np.int64(bits - 1)
    inv = 1.0 / np.float64(2 * fs)
    for i in range(x.shape[0]):
        out[i] = xb._adc_fast(x[i], fs, inv, np.int64(bits), half)


@pytest.mark.parametrize("bits", [1, 2, 7, 8, 12, 16])
def test_adc_fast_ties_and_near_ties(bits):
    """Where ``x 2^b + I_fs`` is an exact multiple of ``2 I_fs`` (the code is an exact tie of the rounding), or
    one LSB of ``x`` either side of one, for every code of the range and beyond it, the float-estimate ADC equals
    the exact integer formula ``clamp(floor((x 2^b + I_fs) / (2 I_fs)))``.  Full scales include multiples of
    ``2^b`` (where exact ties exist), odd ones, and the extremes 1 and 2^31."""
    half = 1 << (bits - 1)
    two_b = 1 << bits
    for fs in [1, 2, 3, 5, 100, two_b, 3 * two_b, 12345 * two_b, 2**20 + 7, 2**31 - 1, 2**31, 2**31 - two_b]:
        k = np.arange(-half - 3, half + 4, dtype=np.int64)
        base = (k * 2 * fs - fs) // two_b  # largest x whose numerator is <= k 2 I_fs
        x = (base[:, None] + np.arange(-1, 3, dtype=np.int64)[None, :]).ravel()
        x = x[(x >= -(2**31)) & (x < 2**31)].astype(np.int32)
        num = x.astype(np.int64) * two_b + fs
        want = np.clip(num // (2 * fs), -half, half - 1)
        got = np.empty(len(x), np.int64)
        _adc_fast_array(x, fs, bits, got)
        assert np.array_equal(got, want), (fs, bits)
        assert (num % (2 * fs) == 0).any() or fs % two_b != 0  # the tie cases are really exercised
