"""Input encoder: the stochastic number generator of spec 5.3 (rate coding).

::

    p_code[i] (k bits) --+
                         |  r < p  --> spike[i] (1 bit)
    r[i] (LFSR draw) ----+

A feature quantised to ``k`` bits (default 8) fires with probability ``p / 2^k`` for a
uniform k-bit draw ``r`` (spec 1.4).
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def encoder_spikes(p_code, draws, out):
    """Comparator bank of the input encoder: ``out = (draws < p_code)`` (spec 5.3).

    Parameters
    ----------
    p_code : ndarray of uint8 (or any unsigned/signed int), C-contiguous, any shape
        Feature codes ``p`` in ``0 .. 2^k - 1``.
    draws : ndarray of int, C-contiguous, ``draws.size == p_code.size``
        k-bit LFSR draws ``r`` (one per comparator, already fanned out for sharing).
    out : ndarray of uint8, C-contiguous, same size
        Spikes, 0 or 1.

    Notes
    -----
    =========  =====  ========================
    signal     width  type
    =========  =====  ========================
    p_code     k      unsigned (default k = 8)
    draws      k      unsigned
    out        1      uint8 in {0, 1}
    =========  =====  ========================

    The comparison is done on int64 values, so mixed input dtypes compare exactly.
    """
    p = p_code.reshape(p_code.size)
    r = draws.reshape(draws.size)
    o = out.reshape(out.size)
    for i in range(p.size):
        o[i] = np.uint8(1) if np.int64(r[i]) < np.int64(p[i]) else np.uint8(0)
