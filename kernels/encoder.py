"""Input encoder of spec 5.3: the stochastic number generator (rate coding) and the bit-serial mode.

Rate coding (``encoder.mode = "rate"``, the default)::

    prob_code[i] (k bits) --+
                            |  r < p  --> spike[i] (1 bit)
    r[i] (LFSR draw) -------+

A feature quantised to ``k`` bits (default 8) fires with probability ``p / 2^k`` for a
uniform k-bit draw ``r`` (spec 1.4).

Bit-serial (``encoder.mode = "bitserial"``)::

    prob_code[i] (k bits) --> bit j of p --> plane[j, i] (1 bit), j = 0 .. k-1

Every time step the embedding tiles read the k bit-planes of the codes, one read pass each; the
ADC codes of pass j are weighted by ``2^j`` (``kernels.crossbar.bitserial_accumulate``).  No LFSR.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def encoder_spikes(prob_code, draws, out):
    """Comparator bank of the input encoder: ``out = (draws < prob_code)`` (spec 5.3).

    Parameters
    ----------
    prob_code : ndarray of uint8 (or any unsigned/signed int), C-contiguous, any shape
        Firing-probability codes ``p`` (the features) in ``0 .. 2^k - 1``.
    draws : ndarray of int, C-contiguous, ``draws.size == prob_code.size``
        k-bit LFSR draws ``r`` (one per comparator, already fanned out for sharing).
    out : ndarray of uint8, C-contiguous, same size
        Spikes, 0 or 1.

    Notes
    -----
    =========  =====  ========================
    signal     width  type
    =========  =====  ========================
    prob_code  k      unsigned (default k = 8)
    draws      k      unsigned
    out        1      uint8 in {0, 1}
    =========  =====  ========================

    The comparison is done on int64 values, so mixed input dtypes compare exactly.
    """
    p = prob_code.reshape(prob_code.size)
    r = draws.reshape(draws.size)
    o = out.reshape(out.size)
    for i in range(p.size):
        o[i] = np.uint8(1) if np.int64(r[i]) < np.int64(p[i]) else np.uint8(0)


@njit(cache=True)
def encoder_bitplanes(prob_code, bits, out):
    """Bit-planes of the feature codes (spec 5.3, ``encoder.mode = "bitserial"``): ``out[j] = (p >> j) & 1``.

    Parameters
    ----------
    prob_code : ndarray of int, C-contiguous, any shape S
        Feature codes ``p`` in ``0 .. 2^bits - 1``.
    bits : int
        Code width k (1 .. 16): the number of planes.
    out : ndarray of uint8, C-contiguous, shape (bits,) + S
        Plane j holds bit j of every code (plane 0 the least significant).

    Notes
    -----
    =========  =====  ========================
    signal     width  type
    =========  =====  ========================
    prob_code  k      unsigned (default k = 8)
    out[j]     1      uint8 in {0, 1}
    =========  =====  ========================
    """
    p = prob_code.reshape(prob_code.size)
    o = out.reshape((bits, p.size))
    for j in range(bits):
        for i in range(p.size):
            o[j, i] = np.uint8((np.int64(p[i]) >> np.int64(j)) & np.int64(1))
