"""Maximal-length test for LFSR taps: is the feedback polynomial primitive over GF(2)?

With taps ``t_1 > ... > t_m`` (``t_1 = n``) the register's feedback polynomial is
``f(x) = 1 + sum_t x^t`` (see :mod:`bittrue.kernels.lfsr`); every non-zero seed has period ``2^n - 1``
exactly when ``f`` is primitive, i.e. when ``x`` has multiplicative order ``2^n - 1`` modulo ``f``:
``x^(2^n - 1) = 1`` and ``x^((2^n - 1) / p) != 1`` for every prime ``p`` dividing ``2^n - 1``.  (An element
of that order exists only when ``f`` is irreducible, so no separate irreducibility test is needed.)
Polynomials are Python ints, bit ``i`` the coefficient of ``x^i``; for ``n <= 32`` a test takes well under a
millisecond.
"""
from __future__ import annotations


def _mulmod(a: int, b: int, f: int, n: int) -> int:
    """a * b mod f in GF(2)[x] (deg a, deg b < n = deg f)."""
    r = 0
    top = 1 << n
    while b:
        if b & 1:
            r ^= a
        b >>= 1
        a <<= 1
        if a & top:
            a ^= f
    return r


def _powmod_x(e: int, f: int, n: int) -> int:
    """x^e mod f."""
    result, base = 1, 2  # x (n >= 2, so already reduced)
    while e:
        if e & 1:
            result = _mulmod(result, base, f, n)
        base = _mulmod(base, base, f, n)
        e >>= 1
    return result


def _prime_factors(m: int) -> list[int]:
    out, p = [], 2
    while p * p <= m:
        if m % p == 0:
            out.append(p)
            while m % p == 0:
                m //= p
        p += 1 if p == 2 else 2
    if m > 1:
        out.append(m)
    return out


def taps_polynomial(taps) -> int:
    """f(x) = 1 + sum_t x^t as an int."""
    f = 1
    for t in taps:
        f ^= 1 << int(t)
    return f


def is_maximal_length(taps, width: int) -> bool:
    """True if an LFSR of ``width`` bits with ``taps`` (including ``width``) has period ``2^width - 1``."""
    n = int(width)
    if n < 2 or max(taps) != n:
        return False
    f = taps_polynomial(taps)
    order = (1 << n) - 1
    if _powmod_x(order, f, n) != 1:
        return False
    return all(_powmod_x(order // p, f, n) != 1 for p in _prime_factors(order))
