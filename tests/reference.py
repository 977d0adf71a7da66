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
    6. AIMC crossbar, output noise, ADC, requantisation (spec 4)
    7. batched drivers: seed banks, encoder layer, SSA layer
"""
from __future__ import annotations

import math

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
def ref_encoder(prob_codes, draws):
    """Spike ``1`` where ``r < p``, element by element."""
    return [1 if int(r) < int(p) else 0 for p, r in zip(prob_codes, draws)]


def ref_encoder_bitplanes(prob_codes, bits: int):
    """Bit-serial mode: plane j lists bit j of every code (``[[(p >> j) & 1 for p in codes] for j in range(bits)]``)."""
    return [[(int(p) >> j) & 1 for p in prob_codes] for j in range(bits)]


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


def ref_pack_bits(rows):
    """Pack 0/1 rows (lists) into 64-bit words: word ``w`` of a row has bit ``b`` = ``row[64 w + b]``.

    Returns a list of lists of Python ints (``ceil(len(row) / 64)`` words per row, high bits of the last word 0).
    The transposed packing of ``v`` is ``ref_pack_bits`` of the transposed lists.
    """
    out = []
    for row in rows:
        words = [0] * ((len(row) + 63) // 64)
        for c, bit in enumerate(row):
            if bit:
                words[c // 64] += 1 << (c % 64)
        out.append(words)
    return out


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


# =============================================================================
# 6. AIMC crossbar, output noise, ADC, requantisation (spec 4.1, 4.2, 4.4, 4.6, 4.7)
# =============================================================================
def ref_div_round(x: int, d: int) -> int:
    """floor(x / d + 1/2) for d > 0 (Python ints: // is floor)."""
    return (2 * x + d) // (2 * d)


def ref_noise_key_prefix(root: int, sample: int, layer: int, t: int, token: int) -> int:
    h = ref_splitmix64(root & MASK64)
    for w in (sample, layer, t, token):
        h = ref_splitmix64(h ^ (w & MASK64))
    return h


def ref_noise_row_key(prefix: int, tile: int) -> int:
    return ref_splitmix64(prefix ^ (tile & MASK64))


def ref_lowbias32(x: int) -> int:
    """lowbias32 (C. Wellons): xorshift 16, * 0x7feb352d, xorshift 15, * 0x846ca68b, xorshift 16, mod 2^32."""
    x &= 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    return x ^ (x >> 16)


def ref_noise_scale(sigma_code: int) -> tuple[int, int]:
    """(mult, shift): the largest shift <= 31 with mult = round(sigma_code 2^(shift-8) / sqrt(170)) < 2^24,
    the 1 / sqrt(170) taken as round(2^32 / sqrt(170)) (found here by exact integer comparison)."""
    inv = math.isqrt((1 << 64) // 170)
    while not (2 * inv - 1) ** 2 * 170 < 4 << 64 < (2 * inv + 1) ** 2 * 170:
        inv += 1
    for shift in range(31, -1, -1):
        mult = (sigma_code * inv + (1 << (39 - shift))) >> (40 - shift)
        if mult < 1 << 24:
            return mult, shift
    raise ValueError("sigma_code out of range")


def ref_noise(row_key: int, column: int, sigma_code: int) -> int:
    """weyl-lowbias32-ih8: x = a + column * (g | 1) mod 2^32 (a, g the low and high halves of the row key),
    h = lowbias32(x), s = sum of the eight nibbles of h, noise = round((s - 60) * sigma_code / 2^8 / sqrt(170))
    in the kernel's fixed point: floor(((s - 60) mult + 2^(shift-1)) / 2^shift)."""
    a, g = row_key & 0xFFFFFFFF, (row_key >> 32) | 1
    h = ref_lowbias32(a + column * g)
    s = sum((h >> (4 * q)) & 0xF for q in range(8))
    mult, shift = ref_noise_scale(sigma_code)
    return ((s - 60) * mult + (1 << (shift - 1))) >> shift


def ref_adc(i: int, i_fs: int, bits: int) -> int:
    """clamp(round(I * 2^(b-1) / I_fs), -2^(b-1), 2^(b-1)-1)."""
    return ref_sat_s(ref_div_round(i * (1 << (bits - 1)), i_fs), bits)


def ref_requant(acc: int, m: int, b: int, s: int, width: int) -> int:
    return ref_sat_s((acc * m + b) >> s, width)


def ref_crossbar_layer(spikes, g_diff, rows: int, cols: int, i_fs, sigma, bits: int, noise_on: int,
                       root: int, sample_ids, layer_id: int, t: int, m, b, s: int, width: int):
    """Naive crossbar layer: spikes[b][n][r] (0/1), g_diff[r][c] -> (y, i_log, noise_log, adc_log).

    Tiles of ``rows x cols``; per row tile the column current, noise and ADC code; codes summed over row
    tiles, then requantised.  Logs are nested lists indexed [b][n][row_tile][c].
    """
    nb, nt, n_in = len(spikes), len(spikes[0]), len(spikes[0][0])
    n_out = len(g_diff[0])
    n_rt = -(-n_in // rows)
    n_ct = -(-n_out // cols)
    y = [[[0] * n_out for _ in range(nt)] for _ in range(nb)]
    i_log = [[[[0] * n_out for _ in range(n_rt)] for _ in range(nt)] for _ in range(nb)]
    n_log = [[[[0] * n_out for _ in range(n_rt)] for _ in range(nt)] for _ in range(nb)]
    a_log = [[[[0] * n_out for _ in range(n_rt)] for _ in range(nt)] for _ in range(nb)]
    for bi in range(nb):
        for tok in range(nt):
            prefix = ref_noise_key_prefix(root, int(sample_ids[bi]), layer_id, t, tok)
            for c in range(n_out):
                ct = c // cols
                acc = 0
                for rt in range(n_rt):
                    cur = 0
                    for r in range(rt * rows, min(n_in, (rt + 1) * rows)):
                        if spikes[bi][tok][r]:
                            cur += int(g_diff[r][c])
                    nz = ref_noise(ref_noise_row_key(prefix, rt * n_ct + ct), c, int(sigma[ct])) if noise_on else 0
                    code = ref_adc(cur + nz, int(i_fs[ct]), bits)
                    acc += code
                    i_log[bi][tok][rt][c] = cur
                    n_log[bi][tok][rt][c] = nz
                    a_log[bi][tok][rt][c] = code
                y[bi][tok][c] = ref_requant(acc, int(m[c]), int(b[c]), s, width)
    return y, i_log, n_log, a_log


def ref_bitserial_layer(planes, g_diff, rows: int, cols: int, i_fs, sigma, bits: int, noise_on: int,
                        root: int, sample_ids, layer_id: int, t: int, m, b, s: int, width: int):
    """Naive bit-serial crossbar layer (spec 5.3): planes[b][j][n][r] (plane j of the codes), one read pass each.

    Pass j is :func:`ref_crossbar_layer` on plane j with its noise keyed by step ``t * k + j`` and no
    requantisation (its codes summed over the row tiles); the passes add as ``sum_j codes_j 2^j``, requantised once.
    """
    nb, k = len(planes), len(planes[0])
    nt, n_out = len(planes[0][0]), len(g_diff[0])
    acc = [[[0] * n_out for _ in range(nt)] for _ in range(nb)]
    for j in range(k):
        plane = [planes[bi][j] for bi in range(nb)]
        _, _, _, a_log = ref_crossbar_layer(plane, g_diff, rows, cols, i_fs, sigma, bits, noise_on, root, sample_ids,
                                            layer_id, t * k + j, [1] * n_out, [0] * n_out, 0, 32)
        for bi in range(nb):
            for tok in range(nt):
                for c in range(n_out):
                    acc[bi][tok][c] += sum(a_log[bi][tok][rt][c] for rt in range(len(a_log[bi][tok]))) << j
    return [[[ref_requant(acc[bi][tok][c], int(m[c]), int(b[c]), s, width) for c in range(n_out)]
             for tok in range(nt)] for bi in range(nb)]


# =============================================================================
# 7. batched drivers (kernels/batch.py): seeds, encoder layer, SSA layer over a batch
# =============================================================================
def ref_register_draw(state: int, width: int, taps, k: int, steps: int):
    """(new state, draw): clock ``steps`` times, read the low k bits."""
    s = state
    for _ in range(steps):
        s = ref_lfsr_step(s, width, taps)
    return s, s % (1 << k)


def ref_bank_draws(states, width: int, taps, k: int, steps: int):
    """Draw once from every register of a bank (list of ints); returns (new states, draws)."""
    pairs = [ref_register_draw(int(s), width, taps, k, steps) for s in states]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def ref_seed_bank_batch(root: int, block: int, layer: int, phase: int, sample_ids, n_head: int, n_row: int,
                        n_col: int, width: int):
    return [[ref_seed(root, block, layer, h, r, c, phase, int(sid), width)
             for h in range(n_head) for r in range(n_row) for c in range(n_col)] for sid in sample_ids]


def ref_encoder_layer(prob_code, states, width: int, taps, k: int, steps: int, sharing: int):
    """prob_code[b][n][f]; states[b][reg] -> (new states, spikes[b][n][f], draws[b][n][f])."""
    new_states, spikes, draws = [], [], []
    for b, pb in enumerate(prob_code):
        st, rd = ref_bank_draws(states[b], width, taps, k, steps)
        n_f = len(pb[0])
        dr = [[rd[ref_lfsr_index(sharing, n, f, n_f)] for f in range(n_f)] for n in range(len(pb))]
        new_states.append(st)
        draws.append(dr)
        spikes.append([ref_encoder(pb[n], dr[n]) for n in range(len(pb))])
    return new_states, spikes, draws


def ref_ssa_layer(q, k, v, n_heads: int, d_k: int, mask: int, k_s: int, k_o: int, states_s, states_o, width: int,
                  taps, bits_s: int, bits_o: int, steps_s: int, steps_o: int, sharing: int):
    """Batched SSA: q/k/v[b][n][D]; states_*[b][H * n_reg] -> (new states_s, new states_o, O[b][n][D], logs).

    ``logs`` is a list over samples of lists over heads of (C, S, P, O, draw_s, draw_o).
    """
    out_o, new_s, new_o, logs = [], [], [], []
    n = len(q[0])
    n_reg_s = {0: n * n, 1: n, 2: 1}[sharing]
    n_reg_o = {0: n * d_k, 1: n, 2: 1}[sharing]
    for b in range(len(q)):
        ob = [[0] * (n_heads * d_k) for _ in range(n)]
        ss, so, lb = list(states_s[b]), list(states_o[b]), []
        for h in range(n_heads):
            c0 = h * d_k
            qh = [row[c0:c0 + d_k] for row in q[b]]
            kh = [row[c0:c0 + d_k] for row in k[b]]
            vh = [row[c0:c0 + d_k] for row in v[b]]
            st, rd = ref_bank_draws(ss[h * n_reg_s:(h + 1) * n_reg_s], width, taps, bits_s, steps_s)
            ss[h * n_reg_s:(h + 1) * n_reg_s] = st
            ds = [[rd[ref_lfsr_index(sharing, i, j, n)] for j in range(n)] for i in range(n)]
            st, rd = ref_bank_draws(so[h * n_reg_o:(h + 1) * n_reg_o], width, taps, bits_o, steps_o)
            so[h * n_reg_o:(h + 1) * n_reg_o] = st
            do = [[rd[ref_lfsr_index(sharing, i, c, d_k)] for c in range(d_k)] for i in range(n)]
            C, S, P, O = ref_ssa_head(qh, kh, vh, mask, k_s, k_o, ds, do)
            for i in range(n):
                ob[i][c0:c0 + d_k] = O[i]
            lb.append((C, S, P, O, ds, do))
        out_o.append(ob)
        new_s.append(ss)
        new_o.append(so)
        logs.append(lb)
    return new_s, new_o, out_o, logs
