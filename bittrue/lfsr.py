"""Public LFSR API (spec 2): state sequences and k-bit draws of one Fibonacci register.

Validated wrappers around :mod:`bittrue.kernels.lfsr`; see that module for the register
diagram, the tap table and the seed hash.

>>> [hex(s) for s in lfsr_states(0xACE1, 5)]
['0xace1', '0x59c3', '0xb387', '0x670f', '0xce1e']
"""
from __future__ import annotations

import numbers

import numpy as np

from .kernels.lfsr import LFSR_TAPS, lfsr_draw_seq, taps_to_mask

__all__ = ["LFSR_TAPS", "lfsr_states", "lfsr_draws", "resolve_taps"]


def _int_arg(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} = {value!r}: must be an integer in {lo}..{hi}")
    value = int(value)
    if not (lo <= value <= hi):
        raise ValueError(f"{name} = {value}: allowed range is {lo}..{hi}")
    return value


def resolve_taps(width: int, taps=None) -> tuple[int, ...]:
    """Validated taps for ``width``: ``taps`` if given (non-empty), else the table entry."""
    width = _int_arg("width", width, 8, 32)
    if taps is None or len(tuple(taps)) == 0:
        return LFSR_TAPS[width]
    taps = tuple(taps)
    for t in taps:
        if isinstance(t, bool) or not isinstance(t, numbers.Integral):
            raise ValueError(f"taps = {list(taps)!r}: must be integers in 1..{width}")
    taps = tuple(int(t) for t in taps)
    if max(taps) != width or min(taps) < 1 or len(set(taps)) != len(taps):
        raise ValueError(f"taps = {list(taps)!r}: distinct taps in 1..{width}, including {width}")
    return taps


def _check_seed(seed, width: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed = {seed!r}: must be a non-zero integer below 2^{width}")
    seed = int(seed)
    if seed == 0:
        raise ValueError("seed = 0: the all-zero LFSR state is illegal (spec 2.3)")
    if seed < 0 or seed >= (1 << width):
        raise ValueError(f"seed = {seed:#x}: must fit in width = {width} bits (1..{(1 << width) - 1:#x})")
    return seed


def _register_args(seed, n, width, taps) -> tuple[int, int, int, int]:
    """Checked (width, seed, n, tap mask) of the public LFSR functions (one clear error naming the argument)."""
    width = _int_arg("width", width, 8, 32)
    taps = resolve_taps(width, taps)
    return width, _check_seed(seed, width), _int_arg("n", n, 0, 1 << 40), taps_to_mask(taps)


def lfsr_states(seed: int, n: int, width: int = 16, taps=None) -> np.ndarray:
    """The first ``n`` states of a Fibonacci LFSR, starting with ``seed`` itself.

    Parameters
    ----------
    seed : int
        Initial state, ``1 .. 2^width - 1``.
    n : int
        Number of states (>= 0).
    width : int, default 16
        Register width, 8..32.
    taps : sequence of int, optional
        Taps (``width`` included); default :data:`LFSR_TAPS[width] <LFSR_TAPS>`.

    Returns
    -------
    ndarray of uint64, shape (n,)
    """
    width, seed, n, tm = _register_args(seed, n, width, taps)
    out = np.empty(n, dtype=np.uint64)
    if n:
        out[0] = seed
        lfsr_draw_seq(np.uint64(seed), width, tm, width, 1, out[1:])
    return out


def lfsr_draws(seed: int, n: int, k: int, width: int = 16, taps=None,
               steps_per_draw: int | None = None) -> np.ndarray:
    """``n`` successive k-bit draws of one LFSR (spec 2.2).

    Each draw clocks the register ``steps_per_draw`` times (default ``k``) and then reads
    the low ``k`` bits ``s[k-1:0]`` of the new state; the seed itself is never a draw.

    Parameters
    ----------
    seed, width, taps
        As for :func:`lfsr_states`.
    n : int
        Number of draws (>= 0).
    k : int
        Draw width, ``1 .. width``.
    steps_per_draw : int, optional
        Clocks per draw, >= 1; default ``k``.

    Returns: ndarray of uint64, shape (n,).
    """
    width, seed, n, tm = _register_args(seed, n, width, taps)
    k = _int_arg("k", k, 1, width)
    steps = k if steps_per_draw is None else _int_arg("steps_per_draw", steps_per_draw, 1, 1 << 20)
    out = np.empty(n, dtype=np.uint64)
    lfsr_draw_seq(np.uint64(seed), width, tm, k, steps, out)
    return out
