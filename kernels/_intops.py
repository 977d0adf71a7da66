"""Register-width helpers: mask, saturate, popcount, shifts, rounding division.

Every datapath width in the kernels goes through one of these; nothing relies on the
implicit overflow of a machine integer.  The one deliberate exception is the output-noise hash
of ``crossbar.py``, whose arithmetic modulo 2^32 (uint32 NumPy ufuncs) is its definition; the
int32 steps around it are proven not to overflow in its docstrings.  All are
``@njit(cache=True)`` scalar functions that Numba inlines into the callers.

========================  ==========================================  ==================
helper                    meaning                                     operand widths
========================  ==========================================  ==================
``mask_u(x, n)``          ``x mod 2^n`` (unsigned wrap)               uint64 in, n <= 64
``sat_s(x, n)``           clamp to ``-2^(n-1) .. 2^(n-1)-1``          int64 in, n <= 63
``popcount64(x)``         number of set bits                          uint64 in
``shr_floor(x, s)``       ``floor(x / 2^s)`` (arithmetic shift)       int64
``div_round(x, d)``       ``floor(x / d + 1/2)`` for d > 0            int64
========================  ==========================================  ==================
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def mask_u(x, n):
    """Low ``n`` bits of unsigned ``x`` (n in 1..64)."""
    if n >= 64:
        return np.uint64(x)
    return np.uint64(x) & np.uint64((np.uint64(1) << np.uint64(n)) - np.uint64(1))


@njit(cache=True, inline="always")
def sat_s(x, n):
    """Saturate signed ``x`` to an n-bit two's-complement range."""
    hi = np.int64((1 << (n - 1)) - 1)
    lo = np.int64(-(1 << (n - 1)))
    x = np.int64(x)
    if x > hi:
        return hi
    if x < lo:
        return lo
    return x


@njit(cache=True, inline="always")
def popcount64(x):
    """Number of set bits of a uint64 (SWAR, no table)."""
    x = np.uint64(x)
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@njit(cache=True, inline="always")
def shr_floor(x, s):
    """Arithmetic right shift: floor(x / 2^s)."""
    return np.int64(x) >> np.int64(s)


@njit(cache=True, inline="always")
def div_round(x, d):
    """floor(x / d + 1/2) for d > 0, in integers (floor division)."""
    x = np.int64(x)
    d = np.int64(d)
    return (2 * x + d) // (2 * d)
