r"""AIMC crossbar tiles: spike-driven current summation, output noise, ADC, digital partial sums
and requantisation (spec 4.1, 4.2, 4.4 output noise, 4.5-4.7), fused per layer.

One linear layer of shape ``in x out`` is split into ``ceil(in/rows) x ceil(out/cols)`` tiles::

      spikes x[r] (0/1 word-line pulses)
        |        row tile 0             row tile 1
        v     +----------------+     +----------------+
     ------->| G+ - G- (int16) |    | G+ - G- (int16) |      I[c] = sum_r x[r] (G+[r,c] - G-[r,c])
              +-------+--------+     +-------+--------+
                      | I (int32)            | I
                 + noise (int)          + noise (int)         counter-based Gaussian, keyed by site
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
noise_code             int32       integer Gaussian, sigma = sigma_code / 2^8 current units
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

#: Irwin-Hall Gaussian: sum of 12 uniform 16-bit words, minus its mean 12 * 65535 / 2.
_IH_MEAN2 = 12 * 65535  # twice the mean (kept even-exact in integers)


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
    """64-bit key of one conversion: ``splitmix64(prefix ^ (tile << 32 | column))``.

    With :func:`noise_key_prefix`, the key is a function of (root seed, sample, layer, tile, t,
    token, column) only, so the noise does not depend on batching, order or threads.
    """
    return splitmix64(np.uint64(prefix) ^ ((np.uint64(tile) << np.uint64(32)) | np.uint64(column)))


@njit("int64(uint64, int64)", cache=True)
def noise_gauss_code(key, sigma_code):
    """Integer zero-mean Gaussian sample for one conversion.

    ``z2 = 2 * sum_{i<12} u_i - 12 * 65535`` with ``u_i`` the twelve 16-bit words of
    ``splitmix64(key ^ 1), splitmix64(key ^ 2), splitmix64(key ^ 3)`` (an Irwin-Hall sum: mean 0,
    standard deviation of ``z2 / 2`` is 65536 within 1e-5).  The noise in current units is
    ``round(z2 * sigma_code / 2^(16 + 8 + 1))``, i.e. sigma = ``sigma_code / 2^8`` current units.

    ================  ========  ==============================
    signal            dtype     range
    ================  ========  ==============================
    key               uint64    any
    sigma_code        int64     0 .. 2^31 (8 fractional bits)
    z2                int64     |z2| <= 12 * 65535
    result            int64     |r| <= 12 * 2^16 * sigma_code / 2^25 + 1
    ================  ========  ==============================
    """
    s = np.int64(0)
    for j in range(3):
        w = splitmix64(np.uint64(key) ^ np.uint64(j + 1))
        for q in range(4):
            s += np.int64((w >> np.uint64(16 * q)) & np.uint64(0xFFFF))
    z2 = 2 * s - _IH_MEAN2
    return div_round(z2 * np.int64(sigma_code), np.int64(1) << np.int64(25))


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


@njit(cache=True, parallel=True)
def crossbar_layer(spikes, g_diff_code, tile_rows, tile_cols, i_fs_code, sigma_code, adc_bits,
                   noise_on, root_seed, sample_ids, layer_id, t, m_code, b_code, s_shift, out_width,
                   y_code, i_log, noise_log, adc_log):
    """One linear layer on the crossbar tiles for a batch at one time step.

    Parameters
    ----------
    spikes : uint8 (B, N, IN)
        Word-line inputs, 0 or 1.
    g_diff_code : int16 (IN, OUT)
        Differential conductance image ``G+ - G-`` in units of ``g_max / 2^g_bits``.
    tile_rows, tile_cols : int
        Tile size R x C.
    i_fs_code : int64 (n_col_tiles,)
        ADC full scale per column tile (shared by the row tiles whose codes are summed).
    sigma_code : int64 (n_col_tiles,)
        Output-noise sigma, current units with 8 fractional bits.
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
    """
    nb, nt, n_in = spikes.shape
    n_out = g_diff_code.shape[1]
    n_rt = (n_in + tile_rows - 1) // tile_rows
    n_ct = (n_out + tile_cols - 1) // tile_cols
    log = i_log.shape[0] > 0
    half = np.int64(1) << np.int64(adc_bits - 1)
    for bi in prange(nb):
        cur = np.zeros(n_out, dtype=np.int32)
        nzv = np.zeros(n_out, dtype=np.int64)
        codes = np.empty(n_out, dtype=np.int64)
        acc = np.empty(n_out, dtype=np.int64)
        for tok in range(nt):
            acc[:] = 0
            prefix = np.uint64(0)
            if noise_on != 0:
                prefix = noise_key_prefix(root_seed, sample_ids[bi], layer_id, t, tok)
            for rt in range(n_rt):
                cur[:] = 0
                r1 = min(n_in, (rt + 1) * tile_rows)
                for r in range(rt * tile_rows, r1):
                    if spikes[bi, tok, r] != 0:
                        g_row = g_diff_code[r]
                        for c in range(n_out):
                            cur[c] += g_row[c]
                for ct in range(n_ct):
                    c0 = ct * tile_cols
                    c1 = min(n_out, c0 + tile_cols)
                    if noise_on != 0:
                        tile = np.int64(rt * n_ct + ct)
                        sig = sigma_code[ct]
                        for c in range(c0, c1):
                            nzv[c] = noise_gauss_code(noise_key(prefix, tile, c), sig)
                    _adc_range(cur, nzv, c0, c1, i_fs_code[ct], adc_bits, half, codes)
                    for c in range(c0, c1):
                        acc[c] += codes[c]
                if log:
                    for c in range(n_out):
                        i_log[bi, tok, rt, c] = cur[c]
                        noise_log[bi, tok, rt, c] = nzv[c]
                        adc_log[bi, tok, rt, c] = codes[c]
            for c in range(n_out):
                y_code[bi, tok, c] = requant_code(acc[c], m_code[c], b_code[c], s_shift, out_width)


@njit(cache=True)
def _adc_range(cur, nzv, c0, c1, i_fs, bits, half, codes):
    """``codes[c] = adc_convert(cur[c] + nzv[c], i_fs, bits)`` for c in c0..c1, in a vectorisable form.

    The quotient ``floor((2 x 2^(b-1) + I_fs) / (2 I_fs))`` is estimated by a float64 division (numerator
    and denominator are exact in float64: |x| < 2^40) and then corrected by one exact integer step, so
    the result equals :func:`adc_convert` for every input (tested against it).
    """
    den = np.int64(2) * i_fs
    inv = 1.0 / np.float64(den)
    for c in range(c0, c1):
        num = (np.int64(cur[c]) + nzv[c]) * (np.int64(2) * half) + i_fs
        q = np.int64(np.floor(np.float64(num) * inv))
        r = num - q * den
        q += np.int64(r >= den) - np.int64(r < 0)
        codes[c] = min(max(q, -half), half - np.int64(1))
