"""Naive pure-Python reference model of the XPK-1 kernels (the stumpy ``naive.py`` style).

Deliberately simple: Python ints, explicit loops, unpacked 0/1 lists, no numpy in the
arithmetic, no Numba, no import of ``bittrue`` internals.  Every kernel test compares the
JIT kernel *and* its ``.py_func`` against the function here; golden vectors are generated
from it too.  Written straight from docs/spec XPK1.md, not from the kernels.

Sections (append new blocks as new sections, keep the ``ref_`` prefix):

    1. integer helpers (spec 1)
    2. LFSR: stepping, draws, seed hash, sharing (spec 2)
    3. input encoder (spec 5.3)
    4. SSA engine (spec 3)
    5. LIF neuron and residual stream (spec 5.1, 5.2)
"""
from __future__ import annotations

MASK64 = (1 << 64) - 1


# =============================================================================
# 1. integer helpers (spec 1)
# =============================================================================
def ref_sat_s(x: int, width: int) -> int:
    """Clamp a Python int to the signed ``width``-bit range."""
    hi = (1 << (width - 1)) - 1
    lo = -(1 << (width - 1))
    return max(lo, min(hi, x))


def ref_popcount(x: int) -> int:
    return bin(x).count("1")


# =============================================================================
# 2. LFSR (spec 2)
# =============================================================================
def ref_lfsr_step(state: int, width: int, taps) -> int:
    """``s <= {s[n-2:0], fb}``, ``fb = XOR of s[t-1]`` over the taps (bit by bit)."""
    bits = [(state >> j) & 1 for j in range(width)]  # bits[j] = s[j]
    fb = 0
    for t in taps:
        fb ^= bits[t - 1]
    new_bits = [fb] + bits[: width - 1]
    return sum(b << j for j, b in enumerate(new_bits))


def ref_lfsr_draws(seed: int, n: int, k: int, width: int, taps, steps_per_draw: int | None = None):
    """``n`` k-bit draws: step ``steps_per_draw`` (default k) times, read ``s[k-1:0]``."""
    steps = k if steps_per_draw is None else steps_per_draw
    s = seed
    out = []
    for _ in range(n):
        for _ in range(steps):
            s = ref_lfsr_step(s, width, taps)
        out.append(s % (1 << k))
    return out


def ref_lfsr_states(seed: int, n: int, width: int, taps):
    s = seed
    out = []
    for _ in range(n):
        out.append(s)
        s = ref_lfsr_step(s, width, taps)
    return out


def ref_splitmix64(x: int) -> int:
    z = (x + 0x9E3779B97F4A7C15) % (1 << 64)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % (1 << 64)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % (1 << 64)
    return z ^ (z >> 31)


def ref_seed(root: int, block: int, layer: int, head: int, row: int, col: int, phase: int,
             sample: int, width: int) -> int:
    """The site hash of spec 2.3 as documented in ``kernels/lfsr.py``."""
    h = ref_splitmix64(root)
    for w in (block, layer, head, row, col, phase, sample):
        h = ref_splitmix64(h ^ w)
    s = h % (1 << width)
    return s if s else 1


def ref_lfsr_index(sharing: int, row: int, col: int, n_cols: int) -> int:
    return {0: row * n_cols + col, 1: row, 2: 0}[sharing]


# =============================================================================
# 3. input encoder (spec 5.3)
# =============================================================================
def ref_encoder(p_codes, draws):
    """Spike ``1`` where ``r < p``, element by element."""
    return [1 if int(r) < int(p) else 0 for p, r in zip(p_codes, draws)]


# =============================================================================
# 4. SSA engine (spec 3), one head, one time step
# =============================================================================
def ref_mask(mask: int, i: int, j: int) -> int:
    """m[i,j]: 1 if the score may fire (0 none, 1 diagonal, 2 causal)."""
    if mask == 1:
        return 0 if i == j else 1
    if mask == 2:
        return 0 if j > i else 1
    return 1


def ref_ssa_head(q, k, v, mask, k_s, k_o, draw_s, draw_o):
    """SSA on unpacked 0/1 lists of lists.

    q: N_q x d_k, k: N_k x d_k, v: N_k x d_v, draw_s: N_q x N_k, draw_o: N_q x d_v.
    Returns (C, S, P, O) as lists of lists; C is the unmasked counter.
    """
    n_q, n_k, d_v = len(q), len(k), len(v[0]) if v else 0
    C = [[0] * n_k for _ in range(n_q)]
    S = [[0] * n_k for _ in range(n_q)]
    P = [[0] * d_v for _ in range(n_q)]
    O = [[0] * d_v for _ in range(n_q)]
    for i in range(n_q):
        for j in range(n_k):
            cnt = sum(1 for a, b in zip(q[i], k[j]) if a and b)
            C[i][j] = min(cnt, k_s)
            S[i][j] = 1 if (draw_s[i][j] < C[i][j] and ref_mask(mask, i, j)) else 0
        for c in range(d_v):
            cnt = sum(1 for j in range(n_k) if S[i][j] and v[j][c])
            P[i][c] = min(cnt, k_o)
            O[i][c] = 1 if draw_o[i][c] < P[i][c] else 0
    return C, S, P, O


# =============================================================================
# 5. LIF neuron and residual stream (spec 5.1, 5.2)
# =============================================================================
def ref_lif_update(v, y, theta: int, leak_shift: int, reset: int, width: int):
    """Returns (new membranes, spikes) for lists of ints; reset 0 hard, 1 soft."""
    v_new, spikes = [], []
    for vi, yi in zip(v, y):
        vi = int(vi)
        vi = ref_sat_s(vi - (vi >> leak_shift) + int(yi), width)  # Python >> is floor
        if vi >= theta:
            spikes.append(1)
            vi = 0 if reset == 0 else ref_sat_s(vi - theta, width)
        else:
            spikes.append(0)
        v_new.append(vi)
    return v_new, spikes


def ref_residual_add(r, y, width: int):
    return [ref_sat_s(int(a) + int(b), width) for a, b in zip(r, y)]
