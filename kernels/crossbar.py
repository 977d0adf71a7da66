r"""AIMC crossbar tiles: spike-driven current summation, output noise, ADC, digital partial sums
and requantisation (spec 4.1, 4.2, 4.4 output noise, 4.5-4.7), fused per layer.

One linear layer of shape ``in x out`` is split into ``ceil(in/rows) x ceil(out/cols)`` tiles::

      spikes x[r] (0/1 word-line pulses)
        |        row tile 0             row tile 1
        v     +----------------+     +----------------+
     ------->| G+ - G- (int16) |    | G+ - G- (int16) |      I[c] = sum_r x[r] (G+[r,c] - G-[r,c])
              +-------+--------+     +-------+--------+
                      | I (int32)            | I
                 + noise (int)          + noise (int)         counter-based Irwin-Hall(4), keyed by site
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
i_code (column sum)    int32       |I| <= in * 2^g_bits (checked by the caller)
noise_code             int32       integer noise, sigma = sigma_code / 2^8 current units (|n| < 2^21)
adc_code               int16       -2^(b-1) .. 2^(b-1)-1 (saturating)
acc (partial sums)     int32       sum of codes over row tiles
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
NOISE_GENERATOR = "splitmix64-ih4"
#: Irwin-Hall Gaussian: sum of the four 16-bit words of one 64-bit hash, twice minus its doubled mean.
_IH_MEAN2 = 4 * 65535
#: sqrt(3) in Q16 (113512 / 2^16 = 1.7320557, relative error 2.6e-6): scales sd(z2) = 2^17 / sqrt(3) to 2^16.
SQRT3_Q16 = 113512
#: ``sigma_code`` must stay below this so that ``z2 * sigma_code * SQRT3_Q16`` fits in int64.
SIGMA_CODE_LIMIT = 1 << 27
#: Bias of the float64 quotient estimate in :func:`_adc_fast` (2^-34; see there why it is exact).
ADC_BIAS = 2.0 ** -34


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


@njit("uint64(uint64, int64, int64)", cache=True)
def noise_key(prefix, tile, column):
    """64 random bits of one conversion: ``splitmix64(prefix ^ (tile << 32 | column))``.

    With :func:`noise_key_prefix`, the bits are a function of (root seed, sample, layer, tile, t,
    token, column) only, so the noise does not depend on batching, order or threads.
    """
    return splitmix64(np.uint64(prefix) ^ ((np.uint64(tile) << np.uint64(32)) | np.uint64(column)))


@njit(cache=True, inline="always")
def _ih4_z2(h):
    """``2 * (sum of the four 16-bit words of h) - 4 * 65535`` (SWAR pair sums; int64)."""
    m = np.uint64(0x0000FFFF0000FFFF)
    w = (h & m) + ((h >> np.uint64(16)) & m)
    s = np.int64((w & np.uint64(0xFFFFFFFF)) + (w >> np.uint64(32)))
    return 2 * s - _IH_MEAN2


@njit(cache=True, inline="always")
def _noise_code(h, mult):
    """Noise of 64 random bits ``h`` with ``mult = sigma_code * SQRT3_Q16`` (see :func:`noise_gauss_code`)."""
    return (_ih4_z2(h) * mult + (np.int64(1) << np.int64(40))) >> np.int64(41)


@njit("int64(uint64, int64)", cache=True)
def noise_gauss_code(key, sigma_code):
    """Integer zero-mean Gaussian sample for one conversion, from its 64 random bits ``key``.

    ``z2 = 2 * (u_0 + u_1 + u_2 + u_3) - 4 * 65535`` with ``u_i`` the four 16-bit words of ``key``
    (an Irwin-Hall sum of four uniforms: mean 0, sd(z2) = 2^17 / sqrt(3) within 1e-5, range
    +-sqrt(3) * 2 sd, i.e. +-3.46 sigma).  The noise in current units is
    ``floor(z2 * sigma_code * SQRT3_Q16 / 2^41 + 1/2)``, i.e. sigma = ``sigma_code / 2^8`` current units
    (to the 2.6e-6 relative accuracy of ``SQRT3_Q16``).

    ================  ========  ==============================
    signal            dtype     range
    ================  ========  ==============================
    key               uint64    any
    sigma_code        int64     0 .. 2^27 - 1 (8 fractional bits)
    z2                int64     |z2| <= 4 * 65535
    result            int64     |r| <= 3.47 * sigma_code / 2^8 + 1
    ================  ========  ==============================
    """
    return _noise_code(np.uint64(key), np.int64(sigma_code) * np.int64(SQRT3_Q16))


@njit(cache=True)
def adc_convert(i_code, i_fs_code, bits):
    """ADC of spec 4.6: ``clamp(round(I * 2^(b-1) / I_fs), -2^(b-1), 2^(b-1) - 1)`` in integers.

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


@njit(cache=True, inline="always")
def _adc_fast(x, i_fs, inv, b_shift, half):
    """:func:`adc_convert` of an int32 ``x`` in a vectorisable form (no division, no correction step).

    ``inv = 1 / (2 I_fs)`` (float64), ``b_shift = b``, ``half = 2^(b-1)``.  With
    ``num = x 2^b + I_fs`` the code is ``clamp(floor(num / (2 I_fs)))``; this computes
    ``floor(fl(fl(num) * inv) + 2^-34)``, which equals it for ``|x| < 2^31``, ``1 <= I_fs <= 2^31`` and
    ``b <= 16``:

    * ``num`` (``|num| < 2^48``) is exact in float64, and ``fl(num * inv)`` is within a relative
      ``2^-52`` of ``Q = num / (2 I_fs)``, i.e. within ``2^-36`` of it while ``|Q| <= 2^16``;
    * if ``Q`` is an integer, the bias ``2^-34`` lifts the estimate back above it (the rounding of the
      bias add itself is at most ``2^-37`` there);
    * otherwise ``Q`` is at least ``1 / (2 I_fs) >= 2^-32`` away from both neighbouring integers, more
      than the bias plus both errors, so the floor is unchanged;
    * where ``|Q| > 2^(b-1)`` the code saturates, and the estimate stays on the saturating side.

    Tested against :func:`adc_convert` on ties, near-ties and random inputs.
    """
    num = (np.int64(x) << b_shift) + i_fs
    q = np.int64(np.floor(np.float64(num) * inv + ADC_BIAS))
    return min(max(q, -half), half - np.int64(1))


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
    The arithmetic is that of :func:`adc_convert`, :func:`noise_gauss_code` and :func:`requant_code`
    per conversion; only the order of work is arranged for speed.  Each sample (one ``prange``
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
    b_shift = np.int64(adc_bits)
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
    nzv = np.zeros(cw_max, np.int32)
    acc = np.empty((nt, cw_max), np.int32)
    for ct in range(n_ct):
        c0 = ct * tile_cols
        cw = min(n_out, c0 + tile_cols) - c0
        acc[:, :] = 0
        i_fs = np.int64(i_fs_code[ct])
        inv = 1.0 / np.float64(np.int64(2) * i_fs)
        mult = np.int64(sigma_code[ct]) * np.int64(SQRT3_Q16)
        for rt in range(n_rt):
            tbits = np.uint64(rt * n_ct + ct) << np.uint64(32)
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
                if noise_on != 0:
                    p = pre[tok] ^ tbits
                    if log:
                        for c in range(cw):
                            nz = np.int32(_noise_code(splitmix64(p ^ np.uint64(c0 + c)), mult))
                            nzv[c] = nz
                            cur[c] += nz
                    else:
                        for c in range(cw):
                            cur[c] += np.int32(_noise_code(splitmix64(p ^ np.uint64(c0 + c)), mult))
                arow = acc[tok]
                for c in range(cw):
                    arow[c] += np.int32(_adc_fast(cur[c], i_fs, inv, b_shift, half))
                if log:
                    for c in range(cw):
                        nz = nzv[c] if noise_on != 0 else np.int32(0)
                        i_log[bi, tok, rt, c0 + c] = cur[c] - nz
                        noise_log[bi, tok, rt, c0 + c] = nz
                        adc_log[bi, tok, rt, c0 + c] = _adc_fast(cur[c], i_fs, inv, b_shift, half)
        m_row = m_code[c0:c0 + cw]
        b_row = b_code[c0:c0 + cw]
        for tok in range(nt):
            y_row = y_code[bi, tok, c0:c0 + cw]  # 1-D views: the loop vectorises (2-D/3-D indexing did not)
            a_row = acc[tok]
            for c in range(cw):
                y_row[c] = requant_code(a_row[c], m_row[c], b_row[c], s_shift, out_width)
