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


def _ih8_pmf():
    """Exact distribution of the sum of eight independent uniforms on 0..15 (0..120), by convolution."""
    pmf = np.ones(16) / 16
    out = np.array([1.0])
    for _ in range(8):
        out = np.convolve(out, pmf)
    return out


def _noise_field(sigma_code, nb=4, nt=50, n_rt=2, n_out=1000, cols=250, t=0, ids=None, root=12345, layer=3):
    """Noise codes of the layer kernel, (sample, token, row tile, column): zero spikes, so the ADC input is the
    noise alone, and the log holds every conversion's noise code."""
    rows = 8
    ids = np.arange(nb, dtype=np.int64) * 7 + 3 if ids is None else np.asarray(ids, np.int64)
    nb = len(ids)
    n_ct = -(-n_out // cols)
    c = dict(spikes=np.zeros((nb, nt, n_rt * rows), np.uint8), g=np.zeros((n_rt * rows, n_out), np.int16),
             rows=rows, cols=cols, i_fs=np.full(n_ct, 1 << 30, np.int64), sigma=np.full(n_ct, sigma_code, np.int64),
             bits=8, noise_on=1, root=root, ids=ids, layer=layer, t=t, m=np.ones(n_out, np.int64),
             b=np.zeros(n_out, np.int64), s=0)
    return _run_kernel(xb.crossbar_layer, c)[2]


def test_noise_distribution():
    """Mean 0, sd = sigma_code / 256, the Irwin-Hall(8) shape (excess kurtosis -0.151, range +-4.60 sd), over the
    400,000 conversions of 4 samples x 50 tokens x 2 row tiles x 1000 columns (4 column tiles), sigma 40 current
    units.  The generator is deterministic, so this test is too; the bounds are what a true IH8 sample would
    exceed with probability < 1e-9 each:
    sd of the mean = 40 / sqrt(n) = 0.063 -> bound 0.4 (6.3 sd);
    sd of the sample variance ~ sigma^2 sqrt((2 - 0.15) / n) = 3.4 -> 1600 + 1/12 (rounding) +- 22 (6.4 sd);
    sd of the sample excess kurtosis ~ sqrt(24 / n) = 0.0077 -> -0.151 +- 0.05 (6.4 sd);
    the histogram of the 121 levels against the exact IH8 distribution: Pearson chi-square over bins of expected
    count >= 50 (tails pooled; about 67 bins), bound 220: Chernoff, P(chi2_k >= x) <= (x/k)^(k/2) e^((k-x)/2)
    < 1e-12 for every k <= 90.
    """
    sig = 40 * 256
    nz = _noise_field(sig).astype(np.float64).ravel()
    n = nz.size
    assert abs(nz.mean()) < 0.4
    assert abs(nz.var() - (1600 + 1 / 12)) < 22
    z = (nz - nz.mean()) / nz.std()
    assert abs((z ** 4).mean() - 3.0 - (-0.15118)) < 0.05
    mult, shift = xb.noise_scale(sig)
    assert np.abs(nz).max() <= ((60 * mult + (1 << (shift - 1))) >> shift)
    # levels: sigma 40 spaces the 121 Irwin-Hall values 3.07 units apart, so each noise value is one level s
    s_of = {int((((s - 60) * mult + (1 << (shift - 1))) >> shift)): s for s in range(121)}
    assert len(s_of) == 121
    counts = np.bincount([s_of[v] for v in nz.astype(np.int64).tolist()], minlength=121).astype(np.float64)
    expect = _ih8_pmf() * n
    lo, hi = np.argmax(expect >= 50), 120 - np.argmax(expect[::-1] >= 50)
    obs = np.concatenate([[counts[:lo].sum()], counts[lo:hi + 1], [counts[hi + 1:].sum()]])
    exp = np.concatenate([[expect[:lo].sum()], expect[lo:hi + 1], [expect[hi + 1:].sum()]])
    assert len(obs) <= 91
    chi2 = ((obs - exp) ** 2 / exp).sum()
    assert chi2 < 220, chi2


def test_noise_neighbours_uncorrelated():
    """No correlation between the noise of neighbouring conversions: columns 1, 2, 3, 4, 8, 16, 32, 64 and 128
    apart in one row (a row is a Weyl sequence of hash inputs, x + k g, whose low bits repeat with period 2^j
    in k: an unmixed or weakly mixed hash shows up at these lags), across a column-tile border, the same column
    of the next token, of the other row tile, of the next time step and of the next sample; also none between
    their squares (a dependence that leaves the plain correlation at 0).  Each coefficient is over >= 96,000
    pairs (the border: 1,200 pairs, bound 6.2 / sqrt(n)): sd 1/sqrt(n) <= 0.0032, bound 0.02 (>= 6.2 sd,
    P < 1e-9 each under independence, 32 coefficients, fixed seeds)."""
    sig = 40 * 256
    a = _noise_field(sig, t=0).astype(np.float64)
    b = _noise_field(sig, t=1).astype(np.float64)
    rows = a.reshape(-1, 4, 250)  # one row of conversions = one token on one tile: 250 columns, one key
    pairs = {f"columns {k} apart": (rows[..., :-k], rows[..., k:]) for k in (1, 2, 3, 4, 8, 16, 32, 64, 128)}
    pairs.update({
        "column-tile border": (a[..., 249:999:250], a[..., 250::250]),
        "token": (a[:, :-1], a[:, 1:]),
        "row tile": (a[:, :, 0], a[:, :, 1]),
        "time step": (a, b),
        "sample": (a[:-1], a[1:]),
    })
    for name, (x, y) in pairs.items():
        x, y = x.ravel(), y.ravel()
        bound = 0.02 if x.size >= 96_000 else 6.2 / np.sqrt(x.size)
        assert abs(np.corrcoef(x, y)[0, 1]) < bound, name
        assert abs(np.corrcoef(x ** 2, y ** 2)[0, 1]) < bound, name


def test_noise_independent_of_batch_and_order():
    """A sample's noise depends on its sample id only: the same in any batch, at any position."""
    full = _noise_field(40 * 256, ids=[3, 10, 17, 24], nt=3, n_out=300)
    part = _noise_field(40 * 256, ids=[24, 3], nt=3, n_out=300)
    assert np.array_equal(part[0], full[3]) and np.array_equal(part[1], full[0])
    assert not np.array_equal(full[0], full[1])


@given(st.integers(0, (1 << 64) - 1), st.integers(0, (1 << 32) - 1), st.integers(0, xb.SIGMA_CODE_LIMIT - 1))
@example(0, 0, 0)
@example((1 << 64) - 1, (1 << 32) - 1, xb.SIGMA_CODE_LIMIT - 1)
@example(0x0123456789ABCDEF, 17, 1)
@example(0x0123456789ABCDEF, 17, 25)
@example(0x0123456789ABCDEF, 17, 26)
def test_noise_matches_reference(key, column, sigma):
    want = ref.ref_noise(key, column, sigma)
    assert xb.noise_code(np.uint64(key), column, sigma) == want
    assert xb.noise_code.py_func(np.uint64(key), column, sigma) == want
    assert tuple(xb.noise_scale(sigma)) == ref.ref_noise_scale(sigma)
    mult, shift = xb.noise_scale(sigma)
    assert 0 <= mult < 1 << 24 and 8 <= shift <= 31 and abs(want) < xb.NOISE_BOUND


def test_noise_scale_precision():
    """mult / 2^shift equals sigma_code / 2^8 / sqrt(170) to 2^-23 relative for sigma_code >= 13 (mult >= 2^23),
    and to 2^-20 below; the shift is capped at 31 up to sigma_code 13 (mult < 2^23 there)."""
    for sigma in [1, 2, 5, 12, 13, 25, 26, 27, 100, 1 << 10, 12345, 40 * 256, 1 << 20, xb.SIGMA_CODE_LIMIT - 1]:
        mult, shift = xb.noise_scale(sigma)
        rel = abs(mult / 2.0 ** shift / (sigma / 256 / np.sqrt(170)) - 1)
        assert rel < (2.0 ** -23 if sigma >= 13 else 2.0 ** -20), (sigma, rel)
        assert (mult >= 1 << 23) == (sigma >= 14)


@given(st.integers(0, (1 << 64) - 1), st.integers(0, 1 << 40), st.integers(0, 300), st.integers(0, 63),
       st.integers(0, 1000), st.integers(0, 7))
def test_noise_keys_match_reference(root, sample, layer, t, token, tile):
    p = xb.noise_key_prefix(np.uint64(root), sample, layer, t, token)
    assert int(p) == ref.ref_noise_key_prefix(root, sample, layer, t, token)
    assert int(xb.noise_row_key(p, tile)) == ref.ref_noise_row_key(int(p), tile)


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
    # without logs the kernel takes its fused loops (noise on and off): same outputs
    y = np.zeros_like(got[0])
    e4 = np.zeros((0, 0, 0, 0), np.int32)
    xb.crossbar_layer(c["spikes"], c["g"], c["rows"], c["cols"], c["i_fs"], c["sigma"], c["bits"], c["noise_on"],
                      np.uint64(c["root"]), c["ids"], c["layer"], c["t"], c["m"], c["b"], c["s"], 16, y, e4, e4,
                      np.zeros((0, 0, 0, 0), np.int16))
    assert np.array_equal(np.asarray(want[0]), y)


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
    x = np.array([min(max(int(c) + int(n), -(1 << 31)), (1 << 31) - 1) for c, n in zip(cur_a, nz_a)], np.int32)
    got = np.empty(len(x), np.int64)
    _adc_fast_array(x, fs, bits, got)
    out = got.tolist()
    want = [ref.ref_adc(int(v), fs, bits) for v in x]
    assert out == want


@pytest.mark.parametrize("bits", [1, 8, 16])
@pytest.mark.parametrize("fs", [1, 2, 255, 1 << 20, (1 << 31) - 1, 1 << 31])
def test_adc_fast_extremes(fs, bits):
    """The float ADC at the ends of the int32 input range and around full scale (saturation on both sides)."""
    xs = [-(1 << 31), -(1 << 31) + 1, -(1 << 30), -fs - 1, -fs, -fs + 1, -1, 0, 1, fs - 1, fs, fs + 1, (1 << 30),
          (1 << 31) - 2, (1 << 31) - 1]
    x = np.array([v for v in xs if -(1 << 31) <= v < 1 << 31], np.int32)
    got = np.empty(len(x), np.int64)
    _adc_fast_array(x, fs, bits, got)
    assert got.tolist() == [ref.ref_adc(int(v), fs, bits) for v in x]
    assert got.tolist() == [xb.adc_convert(int(v), fs, bits) for v in x]


def test_crossbar_layer_rejects_currents_beyond_int32():
    """The kernel itself refuses a tile whose worst-case column current plus noise could leave int32."""
    n_in = (1 << 31) // 32767 + 1  # rows of one tile, each +32767: 2^31 + 32767 - ... > int32
    c = dict(spikes=np.zeros((1, 1, n_in), np.uint8), g=np.full((n_in, 1), 32767, np.int16), rows=n_in, cols=1,
             i_fs=np.array([1000], np.int64), sigma=np.array([0], np.int64), bits=8, noise_on=0, root=1,
             ids=np.array([0], np.int64), layer=0, t=0, m=np.ones(1, np.int64), b=np.zeros(1, np.int64), s=0)
    with pytest.raises(ValueError, match="int32"):
        _run_kernel(xb.crossbar_layer, c)
    c["rows"] = ((1 << 31) - xb.NOISE_BOUND) // 32767  # the largest accepted tile height
    _run_kernel(xb.crossbar_layer, c)


@numba.njit  # not cached: it inlines xb._adc_offset, whose changes a cache keyed on this file would miss
def _adc_fast_array(x, fs, bits, out):
    """The layer kernel's ADC (:func:`_adc_offset` less its offset ``2^(b-1)``) over an int32 array."""
    half = np.int64(1) << np.int64(bits - 1)
    x_lo, x_hi, c1, c2h = xb.adc_fast_consts(fs, bits)
    top = np.int32(2 * half - 1)
    for i in range(x.shape[0]):
        out[i] = np.int64(xb._adc_offset(x[i], x_lo, x_hi, c1, c2h, top)) - half


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


@pytest.mark.parametrize("bits", [1, 2, 8, 16])
@pytest.mark.parametrize("fs", [1, 2, 3, 127, 128, 129, 50000, 2**31 - 1, 2**31])
def test_adc_fast_clamp_bounds(fs, bits):
    """``adc_fast_consts``' bounds are the tightest its docstring says: ``x_lo`` is the largest input whose
    unclamped floor is at most ``-2^(b-1)``, ``x_hi`` the smallest whose unclamped floor is at least
    ``2^(b-1) - 1`` (so clamping an input to them changes no code), both inside int32."""
    half = 1 << (bits - 1)
    x_lo, x_hi, _, _ = xb.adc_fast_consts(fs, bits)
    x_lo, x_hi = int(x_lo), int(x_hi)

    def fl(x):
        return (x * (1 << bits) + fs) // (2 * fs)

    assert -(2**31) <= x_lo < x_hi < 2**31
    assert fl(x_lo) <= -half < fl(x_lo + 1)
    assert fl(x_hi - 1) < half - 1 <= fl(x_hi)


@pytest.mark.parametrize("noise_on", [0, 1])
@pytest.mark.parametrize("bits", [4, 8, 12])
def test_crossbar_layer_fused_adc_paths_around_half_scale(bits, noise_on):
    """Deterministic: the fused loops without logs run the ADC without its final clamp where ``I_fs >= 2^(b-1)``
    and with it below; with column tiles on both sides of that bound (down to ``I_fs = 1``, where nearly every
    conversion saturates) the outputs equal the reference."""
    half = 1 << (bits - 1)
    rng = np.random.default_rng(bits * 2 + noise_on)
    i_fs = np.array([1, half - 1, half, half + 1, 3 * half, 40 * half], np.int64)
    c = dict(spikes=(rng.random((2, 4, 30)) < 0.4).astype(np.uint8),
             g=rng.integers(-300, 301, (30, 12)).astype(np.int16), rows=8, cols=2, i_fs=i_fs,
             sigma=np.full(6, 5 * 256, np.int64), bits=bits, noise_on=noise_on, root=91, ids=np.array([4, 1], np.int64),
             layer=5, t=3, m=rng.integers(-30000, 30000, 12).astype(np.int64),
             b=rng.integers(-99999, 99999, 12).astype(np.int64), s=9)
    want = ref.ref_crossbar_layer(c["spikes"].tolist(), c["g"].tolist(), c["rows"], c["cols"], c["i_fs"],
                                  c["sigma"], c["bits"], c["noise_on"], c["root"], c["ids"], c["layer"], c["t"],
                                  c["m"], c["b"], c["s"], 16)
    codes = np.asarray(want[3])
    assert (codes == -half).any() and (codes == half - 1).any() and (np.abs(codes) < half - 1).any()
    y = np.zeros((2, 4, 12), np.int32)
    e4 = np.zeros((0, 0, 0, 0), np.int32)
    xb.crossbar_layer(c["spikes"], c["g"], c["rows"], c["cols"], c["i_fs"], c["sigma"], bits, noise_on,
                      np.uint64(c["root"]), c["ids"], c["layer"], c["t"], c["m"], c["b"], c["s"], 16, y, e4, e4,
                      np.zeros((0, 0, 0, 0), np.int16))
    assert np.array_equal(np.asarray(want[0]), y)
