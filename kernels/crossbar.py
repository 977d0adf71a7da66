r"""AIMC crossbar tiles: spike-driven current summation, output noise, ADC, digital partial sums
and requantisation (spec 4.1, 4.2, 4.4 output noise, 4.5-4.7), fused per layer.

One linear layer of shape ``in x out`` is split into ``ceil(in/rows) x ceil(out/cols)`` tiles::

      spikes x[r] (0/1 word-line pulses)
        |        row tile 0             row tile 1
        v     +----------------+     +----------------+
     ------->| G+ - G- (int16) |    | G+ - G- (int16) |      I[c] = sum_r x[r] (G+[r,c] - G-[r,c])
              +-------+--------+     +-------+--------+
                      | I (int32)            | I
                 + noise (int)          + noise (int)         counter-based Irwin-Hall(8), keyed by site
                  ADC b-bit              ADC b-bit            code = clamp(round(I 2^(b-1) / I_fs))
                      \______ + ___________/                  digital partial sum (int32)
                              |
                    y = sat((acc * M[c] + B[c]) >> S)         requantisation (int64 inside)

Bit widths
----------
=====================  ==========  ======================================================
signal                 dtype       range
=====================  ==========  ======================================================
spikes                 uint8       0/1
g_diff_code            int16       -2^g_bits .. 2^g_bits (G+ - G-, units g_max / 2^g_bits)
i_code (column sum)    int32       |I| <= tile_rows * max|g| (per row tile)
noise_code             int32       integer noise, sigma = sigma_code / 2^8 current units (|n| < 2^22)
I + noise              int32       |I + n| < 2^31: ``crossbar_layer`` raises ValueError unless
                                   ``min(tile_rows, in) * max|g| + 2^22 < 2^31``
adc_code               int16       -2^(b-1) .. 2^(b-1)-1 (saturating)
acc (partial sums)     int32       starts at -n_rt 2^(b-1) and adds code + 2^(b-1) per row tile, so it
                                   ends at the sum of the codes; |acc| <= n_rt 2^(b-1) < 2^31 (checked)
M, B                   int64       requant multiplier (m_bits signed) and offset
y_code                 int32       saturated to ``out_width`` signed bits
=====================  ==========  ======================================================
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._intops import div_round, sat_s, shr_floor
from .lfsr import splitmix64

#: Name of the output-noise generator below (recorded in golden files; bump it whenever the noise codes change).
NOISE_GENERATOR = "weyl-lowbias32-ih8"
#: The Irwin-Hall sum of the eight 4-bit words of a 32-bit hash: 0 .. 120, mean 60, variance 8 (16^2 - 1) / 12 = 170.
IH8_MEAN = 60
IH8_VAR = 170
#: round(2^32 / sqrt(170)) (relative error 1.3e-9): ``1 / sd`` of the Irwin-Hall sum in Q32.
NOISE_INV_SD_Q32 = 329408954
#: ``sigma_code`` must stay below this (the noise multiplier then fits 24 bits at a shift of at least 8).
SIGMA_CODE_LIMIT = 1 << 27
#: Every noise code is below this in magnitude (``60 * 2^24 / 2^8 + 1 < 2^22``).
NOISE_BOUND = 1 << 22
#: Bias of the float64 quotient estimate in :func:`_adc_offset` (2^-33; see there why it is exact).
ADC_BIAS = 2.0 ** -33

# 32-bit lanes.  Numba types an operator on two int32 / uint32 scalars as int64 (its integer promotion), so a
# chain of 32-bit hash steps written with ``*``, ``^``, ``>>`` compiles to 64-bit multiplies, which AVX2 has no
# vector instruction for.  NumPy's ufuncs keep NumPy's scalar typing (uint32 op uint32 -> uint32, wrapping
# modulo 2^32, the same in Python and in nopython mode), so the hash below is written with them and LLVM
# vectorises it with ``vpmulld``.
_U32 = np.uint32
_I32 = np.int32
_mul = np.multiply
_add = np.add
_xor = np.bitwise_xor
_and = np.bitwise_and
_shr = np.right_shift


@njit("uint64(uint64, int64, int64, int64, int64)", cache=True)
def noise_key_prefix(root, sample, layer, t, token):
    """Key prefix of the conversions of one (sample, layer, time step, token).

    ``h = splitmix64(root)``, then ``h = splitmix64(h ^ w)`` for ``w`` in (sample, layer, t, token).
    """
    h = splitmix64(np.uint64(root))
    h = splitmix64(h ^ np.uint64(sample))
    h = splitmix64(h ^ np.uint64(layer))
    h = splitmix64(h ^ np.uint64(t))
    return splitmix64(h ^ np.uint64(token))


@njit("uint64(uint64, int64)", cache=True)
def noise_row_key(prefix, tile):
    """64-bit key of one row of conversions (one token on one tile): ``splitmix64(prefix ^ tile)``.

    ``tile = row_tile * n_col_tiles + col_tile``.  Its low 32 bits are the row's offset ``a``, its high 32 bits
    with the lowest set the row's odd stride ``g`` (see :func:`noise_code`).
    """
    return splitmix64(np.uint64(prefix) ^ np.uint64(tile))


@njit(cache=True, inline="always")
def _lowbias32(x):
    """The ``lowbias32`` integer hash of C. Wellons (2018): a bijection of 32-bit words (uint32 lanes)."""
    x = _xor(x, _shr(x, _U32(16)))
    x = _mul(x, _U32(0x7FEB352D))
    x = _xor(x, _shr(x, _U32(15)))
    x = _mul(x, _U32(0x846CA68B))
    return _xor(x, _shr(x, _U32(16)))


@njit(cache=True, inline="always")
def _ih8(h):
    """Sum of the eight 4-bit words of the uint32 ``h`` (SWAR; int32, 0 .. 120).

    The nibble pairs are added into four bytes (each <= 30); one multiply by ``0x01010101`` then puts
    ``b0 + b1 + b2 + b3 <= 120`` into the top byte with no carry into it (the partial sums below it are at most
    90 < 256), and the shift by 24 reads it.
    """
    w = _add(_and(h, _U32(0x0F0F0F0F)), _and(_shr(h, _U32(4)), _U32(0x0F0F0F0F)))  # 4 bytes, each <= 30
    return _I32(_shr(_mul(w, _U32(0x01010101)), _U32(24)))


@njit(cache=True, inline="always")
def _noise32(a, g, column, mult, rnd0, shift):
    """Noise code of one conversion in 32-bit lanes (``a, g`` uint32, ``mult, rnd0, shift`` int32; see noise_code).

    ``rnd0 = 2^(shift-1) - 60 mult`` folds the Irwin-Hall mean into the rounding term:
    ``s mult + rnd0 = (s - 60) mult + 2^(shift-1)``, with every term and partial sum inside int32
    (``s mult <= 120 (2^24 - 1) < 2^31``, ``|rnd0| < 2^30``).
    """
    s = _ih8(_lowbias32(_add(a, _mul(_U32(column), g))))
    return _shr(_add(_mul(s, mult), rnd0), shift)


@njit(cache=True)
def noise_round0(mult, shift):
    """The folded rounding term ``2^(shift-1) - 60 mult`` of :func:`_noise32` (int32)."""
    return _I32((np.int64(1) << (np.int64(shift) - np.int64(1))) - np.int64(IH8_MEAN) * np.int64(mult))


@njit(cache=True)
def noise_scale(sigma_code):
    """Multiplier and shift of the noise scaling: ``(mult, shift)`` with ``mult = round(sigma_code 2^(shift-8) / sqrt(170))``.

    ``shift`` is the largest in 8 .. 31 with ``mult < 2^24``; for ``0 <= sigma_code < 2^27`` one exists
    (``2^27 2^28.3 / 2^32 < 2^24`` at shift 8), so ``mult >= 2^23`` (relative rounding error ``< 2^-24``) except
    where the shift is capped at 31, i.e. ``sigma_code <= 13`` (``mult = 643377 sigma_code``, error ``< 2^-20``).
    Integer arithmetic only:
    ``v = sigma_code * NOISE_INV_SD_Q32 < 2^56``, ``mult = floor(v / 2^(40-shift) + 1/2)``.
    """
    v = np.int64(sigma_code) * np.int64(NOISE_INV_SD_Q32)
    k = np.int64(31)
    m = (v + (np.int64(1) << (np.int64(39) - k))) >> (np.int64(40) - k)
    while m >= np.int64(1 << 24):
        k -= 1
        m = (v + (np.int64(1) << (np.int64(39) - k))) >> (np.int64(40) - k)
    return m, k


@njit("int64(uint64, int64, int64)", cache=True)
def noise_code(row_key, column, sigma_code):
    """Integer zero-mean near-Gaussian noise of one conversion (spec 4.4): the generator ``weyl-lowbias32-ih8``.

    With ``a`` the low and ``g`` the high 32 bits of ``row_key`` (:func:`noise_row_key`), ``g`` forced odd::

        x = a + column * g          (mod 2^32: a Weyl sequence along the row, distinct for distinct columns)
        h = lowbias32(x)            (32-bit bijective hash: two 32-bit multiplies)
        s = sum of the 8 nibbles of h                    (Irwin-Hall of 8 uniforms on 0..15: 0..120)
        noise = floor(((s - 60) * mult + 2^(shift-1)) / 2^shift)

    with ``(mult, shift) = noise_scale(sigma_code)`` (the scalar form of the layer kernel's fused loop, which
    computes the same in 32-bit vector lanes; used by the tests), so ``sd(noise) = sigma_code / 2^8`` current units (to
    ``2^-24`` relative, plus the rounding to integers).  Every intermediate fits int32: ``|s - 60| <= 60``,
    ``mult < 2^24``, so ``|(s - 60) mult| < 2^30`` and the rounding term is at most ``2^30``.

    ================  ========  ==============================
    signal            dtype     range
    ================  ========  ==============================
    row_key           uint64    any
    column            int64     0 .. 2^32 - 1 (global column)
    sigma_code        int64     0 .. 2^27 - 1 (8 fractional bits)
    s - 60            int32     -60 .. 60
    mult              int32     0 .. 2^24 - 1
    result            int64     |r| <= 4.61 sigma_code / 2^8 + 1 < 2^22
    ================  ========  ==============================
    """
    m, k = noise_scale(sigma_code)
    key = np.uint64(row_key)
    a = _U32(key & np.uint64(0xFFFFFFFF))
    g = _U32((key >> np.uint64(32)) | np.uint64(1))
    return np.int64(_noise32(a, g, column, _I32(m), noise_round0(m, k), _I32(k)))


@njit(cache=True)
def adc_convert(i_code, i_fs_code, bits):
    """ADC of spec 4.6: ``clamp(round(I * 2^(b-1) / I_fs), -2^(b-1), 2^(b-1) - 1)`` in integers.

    The spec form (an exact integer division); the layer kernel uses :func:`_adc_offset`, tested equal to it.

    ============  ======  =================================
    signal        dtype   range
    ============  ======  =================================
    i_code        int64   |I| < 2^40
    i_fs_code     int64   1 .. 2^31
    bits          int     1 .. 16
    result        int64   -2^(b-1) .. 2^(b-1)-1
    ============  ======  =================================
    """
    return sat_s(div_round(np.int64(i_code) << np.int64(bits - 1), i_fs_code), bits)


@njit(cache=True)
def requant_code(acc, m, b, s, out_width):
    """Requantisation of spec 4.7: ``sat((acc * M + B) >> S)`` (arithmetic shift, saturating).

    Round-to-nearest is folded into ``B`` by the compiler (``B`` includes ``2^(S-1)``).

    ============  ======  ==================================
    signal        dtype   range
    ============  ======  ==================================
    acc           int64   sum of ADC codes (|acc| < 2^31)
    m             int64   signed ``m_bits`` (<= 31 bits)
    b             int64   |B| < 2^62
    s             int     0 .. 62
    result        int64   signed ``out_width`` bits
    ============  ======  ==================================
    """
    return sat_s(shr_floor(np.int64(acc) * np.int64(m) + np.int64(b), s), out_width)


@njit(cache=True)
def bitserial_accumulate(acc, codes, shift):
    """Digital shift-add of one bit-serial read pass (spec 5.3): ``acc += codes << shift``.

    ============  ======================  ==================================================
    signal        dtype / shape           range
    ============  ======================  ==================================================
    acc           int64 (B, N, OUT)       running sum over passes of ``2^j x`` (pass j's codes)
    codes         int32 (B, N, OUT)       one pass's sum of ADC codes over row tiles
                                          (|codes| <= n_rt 2^(b-1) < 2^31)
    shift         int                     the pass's bit weight j, 0 .. 15
    ============  ======================  ==================================================

    After k passes ``|acc| < 2^k n_rt 2^(b-1) < 2^47``: exact in int64.
    """
    a = acc.reshape(acc.size)
    c = codes.reshape(codes.size)
    for i in range(a.size):
        a[i] += np.int64(c[i]) << np.int64(shift)


@njit(cache=True, parallel=True)
def requant_layer(acc, m_code, b_code, s_shift, out_width, y_code):
    """Requantisation of spec 4.7 over a batch: ``y = sat((acc * M[c] + B[c]) >> S)`` per output column c.

    ============  ======================  ==================================================
    signal        dtype / shape           range
    ============  ======================  ==================================================
    acc           int64 (B, N, OUT)       bit-serial sum of ADC codes (|acc| < 2^47)
    m_code        int64 (OUT,)            signed, below 2^(m_bits - 1) with |acc * M| < 2^62
    b_code        int64 (OUT,)            offset, round-to-nearest folded in
    s_shift       int                     0 .. 62
    y_code        int32 (B, N, OUT)       signed ``out_width`` bits (saturating)
    ============  ======================  ==================================================

    ``prange`` over samples (each writes its own rows); the arithmetic is :func:`requant_code`'s.
    """
    nb, nt, n_out = acc.shape
    for bi in prange(nb):
        for tok in range(nt):
            for c in range(n_out):
                y_code[bi, tok, c] = requant_code(acc[bi, tok, c], m_code[c], b_code[c], s_shift, out_width)


@njit(cache=True)
def adc_fast_consts(i_fs_code, bits):
    """Per-call constants of :func:`_adc_offset` for full scale ``I_fs`` and ``b`` bits: ``(x_lo, x_hi, c1, c2h)``.

    With ``Q(x) = (x 2^b + I_fs) / (2 I_fs)`` (so that the exact code is ``clamp(floor(Q))``):

    * ``x_lo = -floor((2^b - 1) I_fs / 2^b) - 1``, the largest ``x`` with ``floor(Q(x)) <= -2^(b-1)``
      (``Q(x) < 1 - 2^(b-1)`` iff ``x 2^b < (1 - 2^b) I_fs``): every ``x <= x_lo`` gives the code ``-2^(b-1)``;
    * ``x_hi = ceil((2^b - 3) I_fs / 2^b)``, the smallest ``x`` with ``floor(Q(x)) >= 2^(b-1) - 1``
      (``Q(x) >= 2^(b-1) - 1`` iff ``x 2^b >= (2^b - 3) I_fs``): every ``x >= x_hi`` gives ``2^(b-1) - 1``;
    * ``c1 = 2^b inv`` and ``c2h = fl(fl(fl(I_fs inv) + 2^-33) + 2^(b-1))`` with ``inv = fl(1 / (2 I_fs))``.

    Both bounds fit int32 for ``1 <= I_fs <= 2^31``, ``1 <= b <= 16`` (``-2^31 <= x_lo``, ``x_hi < 2^31``).
    """
    i_fs = np.int64(i_fs_code)
    two_b = np.int64(1) << np.int64(bits)
    x_lo = -(((two_b - 1) * i_fs) // two_b) - 1
    x_hi = -((-(two_b - 3) * i_fs) // two_b)
    inv = 1.0 / np.float64(np.int64(2) * i_fs)
    c1 = np.float64(two_b) * inv
    c2h = (np.float64(i_fs) * inv + ADC_BIAS) + np.float64(two_b >> np.int64(1))
    return _I32(x_lo), _I32(x_hi), c1, c2h


@njit(cache=True, inline="always")
def _adc_offset(x, x_lo, x_hi, c1, c2h, top):
    """:func:`adc_convert` of an int32 ``x``, plus ``2^(b-1)``, in a vectorisable form (returns int32 ``0 .. top``).

    ``(x_lo, x_hi, c1, c2h) = adc_fast_consts(I_fs, b)``, ``top = 2^b - 1``.  No division, no int64, and no
    float rounding or clamping instruction: ``x`` is clamped to ``[x_lo, x_hi]`` in int32 (which changes no code:
    every ``x`` beyond either bound saturates to the bound's code), then ``y = fl(fl(float64(x) c1) + c2h)`` is
    truncated to int32 (``vcvttpd2dq``) and clamped to ``0 .. top`` in int32.  The result is the exact code plus
    ``2^(b-1)`` for every int32 ``x``, ``1 <= I_fs <= 2^31`` and ``1 <= b <= 16`` (``u = 2^-53``):

    * after the clamp ``|Q| <= 2^b <= 2^16``: ``Q(x_lo) >= Q(x_lo + 1) - 2^(b-1) / I_fs >= 1 - 2^b``, and the same
      above ``x_hi`` (one step of ``x`` moves ``Q`` by ``2^(b-1) / I_fs <= 2^(b-1)``);
    * ``float64(x)`` is exact; ``inv = (1 + e0) / (2 I_fs)``, ``|e0| <= u``, so with ``A = Q - 1/2``,
      ``fl(x c1)`` is within ``|A| 2^-51.9 <= 2^-35.9`` of ``A``; ``fl(fl(I_fs inv) + 2^-33)`` is within
      ``2^-52`` of ``1/2 + 2^-33``, and adding ``2^(b-1) <= 2^15`` rounds by at most ``2^-38``; the final add
      (result below ``2^17``) by at most ``2^-37``.  So with ``Q' = Q + 2^(b-1)``,
      ``|y - (Q' + 2^-33)| < 2^-35.9 + 2^-52 + 2^-38 + 2^-37 < 2^-35``;
    * if ``Q'`` is an integer, ``Q' < y < Q' + 1``; otherwise ``Q'`` is at least ``1 / (2 I_fs) >= 2^-32`` from
      the integers either side and ``Q' < y < Q' + 2^-32``: either way ``floor(y) = floor(Q')``;
    * truncation equals the floor where ``y >= 0``; where ``y < 0`` (``floor(Q) < -2^(b-1)``) it gives a value
      ``<= 0`` and the exact code plus ``2^(b-1)`` is 0, which the clamp returns; where ``floor(Q') > top``
      the clamp returns ``top``, the saturated code.  (The final clamp acts only where ``I_fs < 2^(b-1)``.)

    No fused multiply-add is formed (Numba contracts nothing without fastmath; ``inspect_asm`` shows none).  Tested
    against :func:`adc_convert` on ties, near-ties, saturation, the int32 extremes and random inputs.
    """
    return np.minimum(np.maximum(_adc_offset_wide(x, x_lo, x_hi, c1, c2h), _I32(0)), top)


@njit(cache=True, inline="always")
def _adc_offset_wide(x, x_lo, x_hi, c1, c2h):
    """:func:`_adc_offset` without its final clamp, equal to it where ``I_fs >= 2^(b-1)``.

    There one step of ``x`` moves ``Q`` by ``2^(b-1) / I_fs <= 1``, so ``Q(x_lo) >= Q(x_lo + 1) - 1 >= -2^(b-1)``
    and ``Q(x_hi) <= Q(x_hi - 1) + 1 < 2^(b-1)``: after the input clamp ``floor(Q)`` is already a code of the
    range, ``y > 0`` (truncation is the floor) and the result lies in ``0 .. 2^b - 1``.
    """
    xc = np.minimum(np.maximum(_I32(x), x_lo), x_hi)
    return _I32(np.float64(xc) * c1 + c2h)


@njit(cache=True)
def g_abs_max(g_diff_code):
    """``max |g|`` over a conductance image (int64; 0 for an empty one)."""
    m = np.int64(0)
    for r in range(g_diff_code.shape[0]):
        for c in range(g_diff_code.shape[1]):
            m = max(m, abs(np.int64(g_diff_code[r, c])))
    return m


@njit(cache=True, parallel=True)
def crossbar_layer(spikes, g_diff_code, tile_rows, tile_cols, i_fs_code, sigma_code, adc_bits,
                   noise_on, root_seed, sample_ids, layer_id, t, m_code, b_code, s_shift, out_width,
                   y_code, i_log, noise_log, adc_log):
    """One linear layer on the crossbar tiles for a batch at one time step.

    Parameters
    ----------
    spikes : uint8 (B, N, IN)
        Word-line inputs, 0 or 1.
    g_diff_code : int16 (IN, OUT), C-contiguous
        Differential conductance image ``G+ - G-`` in units of ``g_max / 2^g_bits``.
    tile_rows, tile_cols : int
        Tile size R x C.
    i_fs_code : int64 (n_col_tiles,)
        ADC full scale per column tile (shared by the row tiles whose codes are summed).
    sigma_code : int64 (n_col_tiles,)
        Output-noise sigma, current units with 8 fractional bits, below ``SIGMA_CODE_LIMIT``.
    adc_bits : int
    noise_on : int
        1 adds output noise, 0 not.
    root_seed : uint64
    sample_ids : int64 (B,)
        Global sample index of each batch row (keys the noise: order independent).
    layer_id, t : int
    m_code, b_code : int64 (OUT,)
    s_shift : int
    out_width : int
    y_code : int32 (B, N, OUT)
        Output: requantised values.
    i_log, noise_log, adc_log : int32 / int32 / int16 (B, N, n_row_tiles, OUT) or shape (0, ...)
        Optional logs of the column currents before noise, the noise added and the ADC codes;
        pass arrays whose first dimension is 0 to skip logging.

    Notes
    -----
    The arithmetic is that of :func:`adc_convert`, :func:`noise_code` and :func:`requant_code`
    per conversion; only the order of work is arranged for speed.  Per row of conversions (one token
    on one tile) one fused loop hashes, adds the noise, converts (:func:`_adc_offset`) and adds the code
    to the partial sums, all in 32-bit integer and float64 lanes that AVX2 vectorises.  Raises
    ``ValueError`` when ``min(tile_rows, in) * max|g| + NOISE_BOUND`` does not fit int32.  Each sample (one ``prange``
    iteration, its own buffers) runs column tile by column tile and, inside, row tile by row tile
    over all its tokens, so one 256 x 256 int16 tile stays in L2 while all tokens use it.  Active rows
    are listed once per token (branch-free compaction).  Eight active rows are summed in int16 before
    one widening add into the int32 column currents whenever ``8 max|g| <= 32767``, four whenever
    ``4 max|g| <= 32767`` (exact: no intermediate can overflow), else they are added row by row.
    Integer sums are exact in any order, so the result does not depend on the grouping, the batch or
    the thread count.
    """
    nb, nt, n_in = spikes.shape
    n_out = g_diff_code.shape[1]
    n_rt = (n_in + tile_rows - 1) // tile_rows
    n_ct = (n_out + tile_cols - 1) // tile_cols
    g_max = g_abs_max(g_diff_code)
    if min(tile_rows, n_in) * g_max + NOISE_BOUND >= np.int64(1) << np.int64(31):
        raise ValueError("crossbar_layer: tile_rows * max|g_diff_code| + noise bound does not fit int32")
    if n_rt << np.int64(adc_bits) >= np.int64(1) << np.int64(31):
        raise ValueError("crossbar_layer: row tiles * 2^adc_bits (the offset partial sums) does not fit int32")
    grp4 = 4 * g_max <= 32767
    grp8 = 8 * g_max <= 32767
    for bi in prange(nb):
        _crossbar_sample(bi, spikes, g_diff_code, tile_rows, tile_cols, i_fs_code, sigma_code, adc_bits,
                         noise_on, root_seed, sample_ids, layer_id, t, m_code, b_code, s_shift, out_width,
                         y_code, i_log, noise_log, adc_log, nt, n_in, n_out, n_rt, n_ct, grp4, grp8)


@njit(cache=True)
def _crossbar_sample(bi, spikes, g, tile_rows, tile_cols, i_fs_code, sigma_code, adc_bits, noise_on, root_seed,
                     sample_ids, layer_id, t, m_code, b_code, s_shift, out_width, y_code, i_log, noise_log,
                     adc_log, nt, n_in, n_out, n_rt, n_ct, grp4, grp8):
    """All tokens of batch row ``bi`` (see :func:`crossbar_layer`)."""
    log = i_log.shape[0] > 0
    half = np.int64(1) << np.int64(adc_bits - 1)
    half32 = _I32(half)
    top = _I32(2 * half - 1)
    neg_off = _I32(-np.int64(n_rt) * half)
    # active rows of every token, grouped by row tile: idx[tok, ptr[tok, rt] : ptr[tok, rt + 1]]
    idx = np.empty((nt, n_in), np.int32)
    ptr = np.empty((nt, n_rt + 1), np.int64)
    pre = np.zeros(nt, np.uint64)
    for tok in range(nt):
        k = 0
        for rt in range(n_rt):
            ptr[tok, rt] = k
            for r in range(rt * tile_rows, min(n_in, (rt + 1) * tile_rows)):
                idx[tok, k] = r
                k += np.int64(spikes[bi, tok, r] != 0)
        ptr[tok, n_rt] = k
        if noise_on != 0:
            pre[tok] = noise_key_prefix(root_seed, sample_ids[bi], layer_id, t, tok)
    cw_max = min(tile_cols, n_out)
    cur = np.empty(cw_max, np.int32)
    acc = np.empty((nt, cw_max), np.int32)
    for ct in range(n_ct):
        c0 = ct * tile_cols
        cw = min(n_out, c0 + tile_cols) - c0
        acc[:, :] = neg_off  # each row tile adds code + 2^(b-1): after all n_rt, acc is the sum of the codes
        i_fs = np.int64(i_fs_code[ct])
        m64, k64 = noise_scale(sigma_code[ct])
        mult = _I32(m64)
        rnd0 = noise_round0(m64, k64)
        x_lo, x_hi, c1, c2h = adc_fast_consts(i_fs, adc_bits)
        wide = i_fs >= half  # the ADC's final clamp is a no-op (see _adc_offset_wide)
        shift = _I32(k64)
        for rt in range(n_rt):
            tile = np.int64(rt * n_ct + ct)
            for tok in range(nt):
                for c in range(cw):
                    cur[c] = 0
                j = ptr[tok, rt]
                j1 = ptr[tok, rt + 1]
                if grp8:
                    while j + 8 <= j1:
                        ga = g[idx[tok, j], c0:c0 + cw]
                        gb = g[idx[tok, j + 1], c0:c0 + cw]
                        gc = g[idx[tok, j + 2], c0:c0 + cw]
                        gd = g[idx[tok, j + 3], c0:c0 + cw]
                        ge = g[idx[tok, j + 4], c0:c0 + cw]
                        gf = g[idx[tok, j + 5], c0:c0 + cw]
                        gg = g[idx[tok, j + 6], c0:c0 + cw]
                        gh = g[idx[tok, j + 7], c0:c0 + cw]
                        for c in range(cw):
                            cur[c] += np.int16(ga[c] + gb[c] + gc[c] + gd[c] + ge[c] + gf[c] + gg[c] + gh[c])
                        j += 8
                if grp4:
                    while j + 4 <= j1:
                        ga = g[idx[tok, j], c0:c0 + cw]
                        gb = g[idx[tok, j + 1], c0:c0 + cw]
                        gc = g[idx[tok, j + 2], c0:c0 + cw]
                        gd = g[idx[tok, j + 3], c0:c0 + cw]
                        for c in range(cw):
                            cur[c] += np.int16(ga[c] + gb[c] + gc[c] + gd[c])
                        j += 4
                while j < j1:
                    ga = g[idx[tok, j], c0:c0 + cw]
                    for c in range(cw):
                        cur[c] += ga[c]
                    j += 1
                arow = acc[tok]
                rk = noise_row_key(pre[tok], tile)  # one splitmix64 per row of cw conversions
                a = _U32(rk & np.uint64(0xFFFFFFFF))
                g_odd = _U32((rk >> np.uint64(32)) | np.uint64(1))
                if log:
                    for c in range(cw):
                        nz = _I32(0)
                        if noise_on != 0:
                            nz = _noise32(a, g_odd, c0 + c, mult, rnd0, shift)
                        code_off = _adc_offset(_add(cur[c], nz), x_lo, x_hi, c1, c2h, top)
                        arow[c] = _add(arow[c], code_off)
                        i_log[bi, tok, rt, c0 + c] = cur[c]
                        noise_log[bi, tok, rt, c0 + c] = nz
                        adc_log[bi, tok, rt, c0 + c] = code_off - half32
                elif noise_on != 0:  # one fused, vectorised pass: hash, noise, ADC, partial sum (32-bit lanes)
                    if wide:
                        for c in range(cw):
                            x = _add(cur[c], _noise32(a, g_odd, c0 + c, mult, rnd0, shift))
                            arow[c] = _add(arow[c], _adc_offset_wide(x, x_lo, x_hi, c1, c2h))
                    else:
                        for c in range(cw):
                            x = _add(cur[c], _noise32(a, g_odd, c0 + c, mult, rnd0, shift))
                            arow[c] = _add(arow[c], _adc_offset(x, x_lo, x_hi, c1, c2h, top))
                elif wide:
                    for c in range(cw):
                        arow[c] = _add(arow[c], _adc_offset_wide(cur[c], x_lo, x_hi, c1, c2h))
                else:
                    for c in range(cw):
                        arow[c] = _add(arow[c], _adc_offset(cur[c], x_lo, x_hi, c1, c2h, top))
        m_row = m_code[c0:c0 + cw]
        b_row = b_code[c0:c0 + cw]
        for tok in range(nt):
            y_row = y_code[bi, tok, c0:c0 + cw]  # 1-D views: the loop vectorises (2-D/3-D indexing did not)
            a_row = acc[tok]
            for c in range(cw):
                y_row[c] = requant_code(a_row[c], m_row[c], b_row[c], s_shift, out_width)
