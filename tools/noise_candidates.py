#!/usr/bin/env python
"""Candidates for the output-noise generator: time per conversion and exact distribution (docs/performance.md).

Each candidate runs the layer kernel's fused loop (hash, noise, ADC, partial sum) over one row of 256
conversions, repeated; the candidates and the previous generator (``splitmix64-ih4`` with its int64 ADC,
re-stated here) are timed in alternation in one process, best of ``--rounds``.  The shapes (levels, range,
excess kurtosis, tail masses) are exact: the distributions are computed by convolution.

Usage::

    python tools/noise_candidates.py [--rounds 15] [--threads 1]
"""
from __future__ import annotations

import argparse
import time
from math import erfc, sqrt

import numba
import numpy as np
from numba import njit

from bittrue.kernels.crossbar import _adc_offset_wide, _ih8, _lowbias32, adc_fast_consts
from bittrue.kernels.lfsr import splitmix64

U32, I32 = np.uint32, np.int32
_mul, _add, _sub, _xor, _and, _shr = (np.multiply, np.add, np.subtract, np.bitwise_xor, np.bitwise_and,
                                      np.right_shift)


@njit(inline="always")
def _bytes4(h):
    w = _add(_and(h, U32(0x00FF00FF)), _and(_shr(h, U32(8)), U32(0x00FF00FF)))
    return I32(_add(_and(w, U32(0xFFFF)), _shr(w, U32(16))))


@njit(inline="always")
def _popc32(h):
    h = _sub(h, _and(_shr(h, U32(1)), U32(0x55555555)))
    h = _add(_and(h, U32(0x33333333)), _and(_shr(h, U32(2)), U32(0x33333333)))
    h = _and(_add(h, _shr(h, U32(4))), U32(0x0F0F0F0F))
    return I32(_shr(_mul(h, U32(0x01010101)), U32(24)))


@njit(inline="always")
def _xmx32(x):
    """A hash with one multiply (not taken): xorshift, multiply, xorshift."""
    x = _xor(x, _shr(x, U32(16)))
    x = _mul(x, U32(0x7FEB352D))
    return _xor(x, _shr(x, U32(15)))


@njit(inline="always")
def _two16(x):
    h1 = _lowbias32(x)
    h2 = _lowbias32(_xor(x, U32(0x9E3779B9)))
    return I32(_add(_add(_and(h1, U32(0xFFFF)), _shr(h1, U32(16))), _add(_and(h2, U32(0xFFFF)), _shr(h2, U32(16)))))


def _fused(kind):
    @njit
    def f(cur, acc, p, mult, rnd, shift, i_fs, inv, b, half, reps):
        x_lo, x_hi, c1, c2h = adc_fast_consts(i_fs, b)  # the layer kernel's ADC (I_fs >= 2^(b-1) here)
        for r in range(reps):
            q = splitmix64(p ^ np.uint64(r))
            a = U32(q & np.uint64(0xFFFFFFFF))
            g = U32((q >> np.uint64(32)) | np.uint64(1))
            for c in range(cur.shape[0]):
                x = _add(a, _mul(U32(c), g))
                if kind == 0:
                    s = _sub(_bytes4(_lowbias32(x)), I32(510))
                elif kind == 1:
                    s = _sub(_ih8(_lowbias32(x)), I32(60))
                elif kind == 2:
                    s = _sub(_two16(x), I32(131070))
                elif kind == 3:
                    s = _sub(_popc32(_lowbias32(x)), I32(16))
                elif kind == 5:
                    s = _sub(_ih8(_xmx32(x)), I32(60))
                else:
                    s = I32(0)
                nz = _shr(_add(_mul(s, mult), rnd), shift)
                acc[c] = _add(acc[c], _adc_offset_wide(_add(cur[c], nz), x_lo, x_hi, c1, c2h))
    return f


@njit
def _previous(cur, acc, p, sigma_code, i_fs, inv, b, half, reps):
    """splitmix64-ih4: splitmix64 per conversion, IH4 of its 16-bit words, int64 scaling, int64 -> float64 ADC."""
    mult = np.int64(sigma_code) * np.int64(113512)
    hb = np.int64(half)
    for r in range(reps):
        pr = p ^ np.uint64(r)
        for c in range(cur.shape[0]):
            h = splitmix64(pr ^ np.uint64(c))
            m = np.uint64(0x0000FFFF0000FFFF)
            w = (h & m) + ((h >> np.uint64(16)) & m)
            z2 = 2 * np.int64((w & np.uint64(0xFFFFFFFF)) + (w >> np.uint64(32))) - 4 * 65535
            cur[c] += np.int32((z2 * mult + (np.int64(1) << np.int64(40))) >> np.int64(41))
        for c in range(cur.shape[0]):
            num = (np.int64(cur[c]) << np.int64(b)) + i_fs
            q = np.int64(np.floor(np.float64(num) * inv + 2.0 ** -34))
            acc[c] += np.int32(min(max(q, -hb), hb - np.int64(1)))


def _shape(pmf):
    v = np.arange(len(pmf))
    mu = (pmf * v).sum()
    var = (pmf * (v - mu) ** 2).sum()
    z = (v - mu) / sqrt(var)
    kurt = (pmf * (v - mu) ** 4).sum() / var ** 2 - 3
    return len(pmf), z.max(), kurt, pmf[np.abs(z) > 3].sum(), pmf[np.abs(z) > 4].sum()


def _irwin_hall(levels, n):
    out = np.array([1.0])
    for _ in range(n):
        out = np.convolve(out, np.full(levels, 1.0 / levels))
    return out


def neighbour_correlation(hash_fn, stride, rows: int = 4000, cols: int = 256, seed: int = 1) -> float:
    """Lag-1 correlation of the nibble sums along rows of ``hash_fn(a + column * g)``, numpy, exact integer hashes.

    ``stride`` fixes ``g`` (odd) for every row, or ``None`` draws it at random per row as the kernel's row keys do.
    Its standard error is about ``1 / sqrt(rows * (cols - 1))`` (0.001 at the defaults).
    """
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**32, rows, dtype=np.uint64)
    g = (rng.integers(0, 2**32, rows, dtype=np.uint64) | np.uint64(1)) if stride is None else \
        np.full(rows, stride, np.uint64)
    x = ((a[:, None] + np.arange(cols, dtype=np.uint64)[None, :] * g[:, None]) & np.uint64(0xFFFFFFFF))
    h = hash_fn(x.astype(np.uint32))
    z = sum(((h >> np.uint32(4 * i)) & np.uint32(15)).astype(np.int64) for i in range(8)) - 60.0
    return float((z[:, 1:] * z[:, :-1]).mean() / 170.0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    numba.set_num_threads(args.threads)
    cw, reps = 256, 20000
    cur0 = np.random.default_rng(0).integers(-40000, 40000, cw).astype(np.int32)
    acc = np.zeros(cw, np.int32)
    i_fs, bits, half, p = 50000, 8, 128, np.uint64(0x0123456789ABCDEF)
    inv = 1.0 / (2 * i_fs)
    cands = {
        "splitmix64-ih4 (previous), int64 ADC": (None, _irwin_hall(65536, 4)),
        "IH4 of the 4 bytes": (0, _irwin_hall(256, 4)),
        "IH8 of the 8 nibbles (weyl-lowbias32-ih8)": (1, _irwin_hall(16, 8)),
        "IH4 of the 16-bit halves of two hashes": (2, _irwin_hall(65536, 4)),
        "binomial: popcount of the 32 bits": (3, _irwin_hall(2, 32)),
        "IH8 of the 8 nibbles of a one-multiply hash (xmx, not taken)": (5, _irwin_hall(16, 8)),
        "no noise (ADC + partial sum alone)": (4, None),
    }
    calls = {}
    for name, (kind, _) in cands.items():
        if kind is None:
            calls[name] = lambda: _previous(cur0.copy(), acc, p, 50000, i_fs, inv, bits, half, reps)
        else:
            f = _fused(kind)
            calls[name] = (lambda f=f: f(cur0.copy(), acc, p, I32(1 << 20), I32(1 << 23), I32(24), i_fs, inv, bits,
                                         half, reps))
    for f in calls.values():  # compile
        f()
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(args.rounds):
        for name, f in calls.items():
            t0 = time.perf_counter()
            f()
            best[name] = min(best[name], time.perf_counter() - t0)
    print(f"| generator | ns / conversion | levels | range (sd) | excess kurtosis | P(|z| > 3 sd) | P(|z| > 4 sd) |")
    print("|---|---|---|---|---|---|---|")
    print(f"| Gaussian | | continuous | unbounded | 0 | {erfc(3 / sqrt(2)):.2e} | {erfc(4 / sqrt(2)):.2e} |")
    for name, (_, pmf) in cands.items():
        ns = best[name] / (cw * reps) * 1e9
        if pmf is None:
            print(f"| {name} | {ns:.3f} | | | | | |")
            continue
        lv, rng, k, t3, t4 = _shape(pmf)
        print(f"| {name} | {ns:.3f} | {lv:,} | +-{rng:.2f} | {k:+.3f} | {t3:.2e} | {t4:.2e} |")
    print()
    print("| hash | lag-1 correlation of neighbouring columns' noise, stride 1 | stride 3 | stride 65537 | random stride |")
    print("|---|---|---|---|---|")
    for name, fn in (("lowbias32 (chosen)", _lowbias32), ("xmx (one multiply)", _xmx32)):
        cs = [neighbour_correlation(fn, g) for g in (1, 3, 65537, None)]
        print(f"| {name} | " + " | ".join(f"{c:+.4f}" for c in cs) + " |")
    print("(4,000 rows of 256 columns each; standard error about 0.001)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
