"""Fibonacci LFSRs, their k-bit draws and the site hash that seeds them (spec 2).

Register (shift-left Fibonacci form, exactly as in RTL, spec 2.1)::

        +---------------------- XOR of s[t-1], t in taps <-------------------+
        |                                                                    |
        v                                                                    |
      s[0] -> s[1] -> s[2] -> ... -> s[n-2] -> s[n-1] --> serial output      |
        ^        ^                      ^         ^                          |
        +--------+------ tapped bits ---+---------+--------------------------+

    s <= {s[n-2:0], fb},   fb = parity(s & tap_mask),   tap_mask = sum_t 2^(t-1)

A register of width ``n`` is a ``uint64`` holding ``n`` live bits; all other bits are zero.
With taps ``t_1 > ... > t_m`` (``t_1 = n``) the bit stream ``b`` fed into ``s[0]`` obeys
``b[m] = XOR_t b[m - t]``: feedback (connection) polynomial ``f(x) = 1 + sum_t x^t``,
characteristic polynomial ``c(x) = x^n f(1/x)``.  ``LFSR_TAPS`` holds taps whose ``f`` is
primitive, so every non-zero seed has period ``2^n - 1``.

Mapping to :class:`galois.FLFSR` (checked by the tests): ``galois.FLFSR(f, state=S)`` with
``f = galois.Poly.Degrees(taps + (0,))`` and ``S[i] = s[i]`` (least significant bit first)
steps through the same states, and ``FLFSR.step`` returns the serial output ``s[n-1]`` of
each state before its step.

Random draws (spec 2.2): a k-bit draw steps the register ``steps`` times (default ``k``, a
word-parallel update) and then reads ``r = s[k-1:0]`` of the state *after* stepping.

Seeds (spec 2.3) come from :func:`lfsr_seed`, a splitmix64 chain over the LFSR's site.

=================  ======  ==========================================================
signal             width   notes
=================  ======  ==========================================================
``s`` (state)      n       8..32, stored as uint64, never 0
``tap_mask``       n       bit ``t-1`` set for each tap ``t``
``fb``             1       parity of ``s & tap_mask``
``r`` (draw)       k       1..n, unsigned, ``s[k-1:0]``
``root``, words    64      unsigned; hash arithmetic is modulo 2^64 by definition
=================  ======  ==========================================================
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._intops import mask_u, popcount64

#: Maximal-length Fibonacci taps for widths 8..32 (taps ``t`` index ``s[t-1]``).  Width 16
#: is the spec's default x^16+x^14+x^13+x^11+1; the others are Xilinx XAPP052, Table 3.
#: (XAPP052 lists taps for a shift-right register, which under this shift-left convention
#: give the reciprocal polynomial; a polynomial is primitive iff its reciprocal is.)
LFSR_TAPS: dict[int, tuple[int, ...]] = {
    8: (8, 6, 5, 4),
    9: (9, 5),
    10: (10, 7),
    11: (11, 9),
    12: (12, 6, 4, 1),
    13: (13, 4, 3, 1),
    14: (14, 5, 3, 1),
    15: (15, 14),
    16: (16, 14, 13, 11),
    17: (17, 14),
    18: (18, 11),
    19: (19, 6, 2, 1),
    20: (20, 17),
    21: (21, 19),
    22: (22, 21),
    23: (23, 18),
    24: (24, 23, 22, 17),
    25: (25, 22),
    26: (26, 6, 2, 1),
    27: (27, 5, 2, 1),
    28: (28, 25),
    29: (29, 27),
    30: (30, 6, 4, 1),
    31: (31, 28),
    32: (32, 22, 2, 1),
}

#: Register index of the comparator feeding scheme (spec 2.4), same values as
#: :class:`bittrue.modes.Sharing` (kernels take plain ints).
SHARING_COMPARATOR = 0
SHARING_ROW = 1
SHARING_ARRAY = 2


def taps_to_mask(taps) -> int:
    """Tap tuple -> integer mask with bit ``t-1`` set for each tap ``t`` (plain Python)."""
    m = 0
    for t in taps:
        t = int(t)
        if t < 1 or t > 64:
            raise ValueError(f"taps: tap {t} outside 1..64")
        m |= 1 << (t - 1)
    return m


# ----------------------------------------------------------------------------- stepping
@njit(cache=True)
def lfsr_step(state, width, tap_mask):
    """One clock of an n-bit Fibonacci LFSR: ``s <= {s[n-2:0], fb}``.

    Parameters
    ----------
    state : uint64
        Current state ``s`` (``width`` live bits, non-zero).
    width : int
        Register width ``n`` (8..32; anything 2..63 works).
    tap_mask : int
        Bit ``t-1`` set for each tap ``t`` (see :func:`taps_to_mask`).

    Returns
    -------
    uint64
        ``((s << 1) | parity(s & tap_mask)) mod 2^n``.

    Notes
    -----
    ==========  =====  ==========================
    signal      width  type
    ==========  =====  ==========================
    state in    n      uint64
    fb          1      ``popcount(s & taps) & 1``
    state out   n      uint64
    ==========  =====  ==========================
    """
    s = np.uint64(state)
    fb = np.uint64(popcount64(s & np.uint64(tap_mask)) & 1)
    return mask_u((s << np.uint64(1)) | fb, width)


@njit(cache=True)
def lfsr_draw_bank(states, width, tap_mask, k, steps, out):
    """Step every register of a bank ``steps`` times, then draw its low ``k`` bits (serial).

    Parameters
    ----------
    states : ndarray of uint64, C-contiguous, any shape
        Register states, updated in place.
    width, tap_mask : int
        Register width ``n`` and tap mask (shared by the bank).
    k : int
        Draw width, 1..n.
    steps : int
        Clocks per draw (spec 2.2: default ``k``; ``1`` for overlapping draws).
    out : ndarray of int, C-contiguous, ``out.size == states.size``
        ``out[i] = s_i[k-1:0]`` after stepping register ``i`` (int64, uint32, ... all fit).

    Notes
    -----
    ==========  =====  ====================================
    signal      width  type
    ==========  =====  ====================================
    states      n      uint64 in/out
    out         k      unsigned value in the caller's dtype
    ==========  =====  ====================================

    Serial so that it can be called from the caller's own ``prange`` loop; see
    :func:`lfsr_draw_bank_parallel` for the threaded twin (identical bytes).  The spec form: the runner
    uses :func:`lfsr_draw_bank_fast`, which the tests compare with this one.
    """
    s_flat = states.reshape(states.size)
    o_flat = out.reshape(out.size)
    tm = np.uint64(tap_mask)
    km = mask_u(np.uint64(0xFFFFFFFFFFFFFFFF), k)
    for i in range(s_flat.size):
        s = np.uint64(s_flat[i])
        for _ in range(steps):
            s = lfsr_step(s, width, tm)
        s_flat[i] = s
        o_flat[i] = s & km


@njit(cache=True, parallel=True)
def lfsr_draw_bank_parallel(states, width, tap_mask, k, steps, out):
    """Threaded :func:`lfsr_draw_bank`: ``prange`` over registers (disjoint writes).

    Same arguments, widths and results as :func:`lfsr_draw_bank`, byte for byte, for any
    thread count.  Do not call it from inside another ``prange``.  Used only by the tests (the runner
    draws inside its own ``prange`` over samples).
    """
    s_flat = states.reshape(states.size)
    o_flat = out.reshape(out.size)
    tm = np.uint64(tap_mask)
    km = mask_u(np.uint64(0xFFFFFFFFFFFFFFFF), k)
    for ii in prange(s_flat.size):
        i = np.int64(ii)
        s = np.uint64(s_flat[i])
        for _ in range(steps):
            s = lfsr_step(s, width, tm)
        s_flat[i] = s
        o_flat[i] = s & km


@njit(cache=True)
def lfsr_jump_table(width, tap_mask, steps):
    """Byte tables of the ``steps``-clock advance (a linear map over GF(2), spec 2.1).

    ``table[b, v]`` is the state reached after ``steps`` clocks from the state ``v << 8b``; since a
    Fibonacci LFSR's update is linear (XOR of tapped bits, a shift, a mask), the state after
    ``steps`` clocks from any ``s`` is ``XOR_b table[b, (s >> 8b) & 0xFF]``.

    ==========  ================  ======================================
    signal      width             type
    ==========  ================  ======================================
    table       n                 uint64 (ceil(n / 8), 256)
    ==========  ================  ======================================
    """
    n_bytes = (width + 7) // 8
    tm = np.uint64(tap_mask)
    table = np.zeros((n_bytes, 256), dtype=np.uint64)
    for b in range(n_bytes):
        for v in range(256):
            s = mask_u(np.uint64(v) << np.uint64(8 * b), width)
            for _ in range(steps):
                s = lfsr_step(s, width, tm)
            table[b, v] = s
    return table


@njit(cache=True)
def lfsr_draw_bank_jump(states, table, k, out):
    """:func:`lfsr_draw_bank` through a jump table (:func:`lfsr_jump_table`): identical results.

    One draw per register: ``s <- XOR_b table[b, byte_b(s)]`` (all ``steps`` clocks at once, the
    word-parallel update of spec 2.2), ``out = s[k-1:0]``.  Serial, callable inside ``prange``.

    ==========  =====  ====================================
    signal      width  type
    ==========  =====  ====================================
    states      n      uint64 in/out, any C-contiguous shape
    table       n      uint64 (ceil(n / 8), 256)
    out         k      unsigned value in the caller's dtype
    ==========  =====  ====================================
    """
    s_flat = states.reshape(states.size)
    o_flat = out.reshape(out.size)
    km = mask_u(np.uint64(0xFFFFFFFFFFFFFFFF), k)
    n_bytes = table.shape[0]
    for i in range(s_flat.size):
        x = np.uint64(s_flat[i])
        s = np.uint64(0)
        for b in range(n_bytes):
            s ^= table[b, (x >> np.uint64(8 * b)) & np.uint64(0xFF)]
        s_flat[i] = s
        o_flat[i] = s & km


def lfsr_shift_form(width: int, tap_mask: int, steps: int) -> np.ndarray:
    """Parameters of :func:`lfsr_draw_bank_shift` (plain Python): ``[width, steps, sh_0 .. sh_3]``, int64.

    ``sh_i = t_i - steps`` for each tap ``t_i``, padded with 63 (a shift that contributes 0 to a state
    below 2^63).  Returns an empty array where the shift form does not apply: more than four taps, a tap
    above ``width``, or a tap below ``steps`` (then a draw's feedback bits depend on each other; use the
    jump table).
    """
    taps = [b + 1 for b in range(64) if (int(tap_mask) >> b) & 1]
    if not 1 <= steps <= width or len(taps) > 4 or not taps or min(taps) < steps or max(taps) > width:
        return np.zeros(0, dtype=np.int64)
    sh = [t - steps for t in taps] + [63] * (4 - len(taps))
    return np.array([width, steps] + sh, dtype=np.int64)


@njit(cache=True)
def lfsr_draw_bank_shift(states, form, k, out):
    """:func:`lfsr_draw_bank` in closed form for ``steps <= min(taps)``: identical results.

    While ``steps`` does not exceed the lowest tap, every feedback bit of one draw reads only bits of
    the state before the draw: clock ``i`` (0-based) feeds back ``XOR_t s[t-1-i]``, and after ``steps``
    clocks that bit sits at position ``steps-1-i``.  So all ``steps`` new bits at once are
    ``f = XOR_t (s >> (t - steps))`` masked to ``steps`` bits, and the new state is
    ``((s << steps) | f) mod 2^n``: a few shifts and XORs per register, no table, vectorisable.
    ``form`` comes from :func:`lfsr_shift_form`.  Serial, callable inside ``prange``.

    ==========  =====  ====================================
    signal      width  type
    ==========  =====  ====================================
    states      n      uint64 in/out, any C-contiguous shape
    f           steps  uint64, the new low bits
    out         k      unsigned value in the caller's dtype
    ==========  =====  ====================================
    """
    s_flat = states.reshape(states.size)
    o_flat = out.reshape(out.size)
    nm = mask_u(np.uint64(0xFFFFFFFFFFFFFFFF), form[0])
    st = np.uint64(form[1])
    fm = mask_u(np.uint64(0xFFFFFFFFFFFFFFFF), form[1])
    km = mask_u(np.uint64(0xFFFFFFFFFFFFFFFF), k)
    sh0 = np.uint64(form[2])
    sh1 = np.uint64(form[3])
    sh2 = np.uint64(form[4])
    sh3 = np.uint64(form[5])
    for i in range(s_flat.size):
        x = np.uint64(s_flat[i])
        f = ((x >> sh0) ^ (x >> sh1) ^ (x >> sh2) ^ (x >> sh3)) & fm
        x = ((x << st) | f) & nm
        s_flat[i] = x
        o_flat[i] = x & km


@njit(cache=True)
def lfsr_draw_bank_fast(states, form, table, k, out):
    """One draw per register: :func:`lfsr_draw_bank_shift` where ``form`` is non-empty, else
    :func:`lfsr_draw_bank_jump` with ``table``.  Identical results either way."""
    if form.shape[0] == 6:
        lfsr_draw_bank_shift(states, form, k, out)
    else:
        lfsr_draw_bank_jump(states, table, k, out)


@njit(cache=True)
def lfsr_draw_seq(state, width, tap_mask, k, steps, out):
    """Successive draws of ONE register: ``out[i]`` is draw ``i`` (spec 2.2); returns the
    final state.

    Same widths as :func:`lfsr_draw_bank`; ``out`` is 1-D of any integer dtype that holds
    k bits.  ``k = width, steps = 1`` lists the states after the seed.
    """
    s = np.uint64(state)
    tm = np.uint64(tap_mask)
    km = mask_u(np.uint64(0xFFFFFFFFFFFFFFFF), k)
    for i in range(out.size):
        for _ in range(steps):
            s = lfsr_step(s, width, tm)
        out[i] = s & km
    return s


@njit(cache=True)
def lfsr_period(state, width, tap_mask, limit):
    """Number of clocks until ``state`` recurs, or ``-1`` if not within ``limit`` clocks.

    Returns ``-2`` if the register ever reaches the illegal all-zero state.  A test helper
    (and a cheap self-check of a custom tap set for small widths).
    """
    s0 = mask_u(np.uint64(state), width)
    s = s0
    tm = np.uint64(tap_mask)
    for n in range(1, limit + 1):
        s = lfsr_step(s, width, tm)
        if s == np.uint64(0):
            return np.int64(-2)
        if s == s0:
            return np.int64(n)
    return np.int64(-1)


# ----------------------------------------------------------------------------- seeding
@njit("uint64(uint64)", cache=True)
def splitmix64(x):
    """The splitmix64 finaliser of Steele, Lea and Flood (2014), arithmetic modulo 2^64.

    ::

        z = x + 0x9E3779B97F4A7C15
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB
        return z ^ (z >> 31)

    (``>>`` logical; ``+`` and ``*`` wrap modulo 2^64 by definition of the hash).  This is
    the first output of ``splitmix64.c`` (Vigna) seeded with ``x``.

    Compiled eagerly for ``uint64``, so a Python int up to 2^64 - 1 is accepted from Python
    (a lazily typed dispatcher would type small ints as int64 and then reject ints >= 2^63);
    negative ints raise ``OverflowError``.  Called from Python it returns a Python int.

    ==========  =====  ======
    signal      width  type
    ==========  =====  ======
    x           64     uint64
    return      64     uint64
    ==========  =====  ======
    """
    z = np.uint64(x) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit("uint64(uint64, uint64, uint64)", cache=True)
def _seed_prefix(root, block, layer):
    h = splitmix64(np.uint64(root))
    h = splitmix64(h ^ np.uint64(block))
    h = splitmix64(h ^ np.uint64(layer))
    return h


@njit("uint64(uint64, uint64, uint64, uint64, uint64, uint64, int64)", cache=True)
def _seed_suffix(h, head, row, col, phase, sample, width):
    h = splitmix64(h ^ np.uint64(head))
    h = splitmix64(h ^ np.uint64(row))
    h = splitmix64(h ^ np.uint64(col))
    h = splitmix64(h ^ np.uint64(phase))
    h = splitmix64(h ^ np.uint64(sample))
    s = mask_u(h, width)
    if s == np.uint64(0):
        s = np.uint64(1)
    return s


@njit("uint64(uint64, uint64, uint64, uint64, uint64, uint64, uint64, uint64, int64)", cache=True)
def lfsr_seed(root, block, layer, head, row, col, phase, sample, width):
    """Seed of the LFSR at one site (spec 2.3): a splitmix64 chain, non-zero, ``width`` bits.

    Definition (all words are unsigned 64-bit, ``^`` is XOR, ``splitmix64`` as documented
    in :func:`splitmix64`)::

        h = splitmix64(root)
        for w in (block, layer, head, row, col, phase, sample):
            h = splitmix64(h ^ w)
        seed = h & (2^width - 1)
        if seed == 0: seed = 1          # the all-zero state is illegal

    The site words and ``root`` are typed ``uint64`` (eager signature: Python ints up to
    2^64 - 1 are accepted, negative ones raise ``OverflowError``).  The tests pin the hash
    against a pure-Python twin (``tests/reference.py``, ``ref_seed``).

    Parameters
    ----------
    root : uint64
        Root seed of the run.
    block, layer, head, row, col, phase, sample : int >= 0
        The site.  ``row``/``col`` are the *register* coordinates (see :func:`lfsr_index`):
        a register shared by a row uses ``col = 0``, one shared by the array ``row = col = 0``.
        ``phase`` tells apart the LFSR banks of one layer (e.g. score vs output draws); the
        caller documents its numbering.
    width : int
        Register width n (1..64).

    Returns
    -------
    uint64
        Seed in ``1 .. 2^n - 1``.

    Notes
    -----
    ==============  =====  ===================================
    signal          width  type
    ==============  =====  ===================================
    root, words     64     uint64 (wrap-around is the hash)
    h               64     uint64
    seed            n      uint64, non-zero
    ==============  =====  ===================================
    """
    h = _seed_prefix(root, block, layer)
    return _seed_suffix(h, head, row, col, phase, sample, width)


_SEED_BANK_SIGS = [
    f"void(uint64, uint64, uint64, uint64, uint64, int64, int64, int64, int64, {arr})"
    for arr in ("uint64[::1]", "uint64[:, ::1]", "uint64[:, :, ::1]", "uint64[:, :, :, ::1]")
]


@njit(_SEED_BANK_SIGS, cache=True)
def lfsr_seed_bank(root, block, layer, phase, sample, n_head, n_row, n_col, width, out):
    """Seeds of a whole comparator-array bank, in (head, row, col) C order.

    ``out[(h * n_row + r) * n_col + c] = lfsr_seed(root, block, layer, h, r, c, phase,
    sample, width)``.  ``n_row, n_col`` are the *register* counts (for row sharing pass
    ``n_col = 1``, for array sharing ``n_row = n_col = 1``; see :func:`lfsr_bank_shape`).

    ==========  =====  ==============================================
    signal      width  type
    ==========  =====  ==============================================
    out         n      uint64 array of ``n_head * n_row * n_col``,
                       C-contiguous, 1 to 4 dimensions
    ==========  =====  ==============================================

    Eagerly compiled (root and words uint64, counts and width int64).
    """
    o_flat = out.reshape(out.size)
    h0 = _seed_prefix(root, block, layer)
    i = 0
    for h in range(n_head):
        for r in range(n_row):
            for c in range(n_col):
                o_flat[i] = _seed_suffix(h0, h, r, c, phase, sample, width)
                i += 1


# ----------------------------------------------------------------------------- sharing
@njit(cache=True)
def lfsr_index(sharing, row, col, n_cols):
    """Register that feeds comparator ``(row, col)`` of an array with ``n_cols`` columns.

    ``sharing``: 0 one register per comparator -> ``row * n_cols + col``; 1 one per row ->
    ``row``; 2 one per array -> ``0`` (values of :class:`bittrue.modes.Sharing`).
    """
    if sharing == SHARING_COMPARATOR:
        return np.int64(row) * np.int64(n_cols) + np.int64(col)
    if sharing == SHARING_ROW:
        return np.int64(row)
    return np.int64(0)


@njit(cache=True)
def lfsr_count(sharing, n_rows, n_cols):
    """Number of registers an ``n_rows x n_cols`` comparator array needs under ``sharing``."""
    if sharing == SHARING_COMPARATOR:
        return np.int64(n_rows) * np.int64(n_cols)
    if sharing == SHARING_ROW:
        return np.int64(n_rows)
    return np.int64(1)


def lfsr_bank_shape(sharing: int, n_rows: int, n_cols: int) -> tuple[int, int]:
    """Register grid ``(rows, cols)`` of a comparator array under ``sharing`` (plain Python).

    COMPARATOR -> ``(n_rows, n_cols)``, ROW -> ``(n_rows, 1)``, ARRAY -> ``(1, 1)``; so the
    register of comparator ``(r, c)`` sits at ``(r, c)``, ``(r, 0)`` or ``(0, 0)``, and
    its flat index is :func:`lfsr_index`.
    """
    sharing = int(sharing)
    if sharing == SHARING_COMPARATOR:
        return int(n_rows), int(n_cols)
    if sharing == SHARING_ROW:
        return int(n_rows), 1
    if sharing == SHARING_ARRAY:
        return 1, 1
    raise ValueError(f"sharing: {sharing!r} is not 0 (comparator), 1 (row) or 2 (array)")


@njit(cache=True)
def lfsr_expand(draws, sharing, n_rows, n_cols, out):
    """Fan register draws out to an ``(n_rows, n_cols)`` comparator array (spec 2.4).

    ``out[r, c] = draws[lfsr_index(sharing, r, c, n_cols)]``: a shared register gives the
    same draw to every comparator it feeds in that cycle.  ``draws`` is 1-D with
    ``lfsr_count(sharing, n_rows, n_cols)`` entries; ``out`` is ``(n_rows, n_cols)``.
    """
    for r in range(n_rows):
        for c in range(n_cols):
            out[r, c] = draws[lfsr_index(sharing, r, c, n_cols)]
