"""Batched drivers: one hardware block over a whole batch of samples at one time step.

The seed and SSA drivers run ``prange`` over samples; every iteration writes only its own sample's
slice (seeds, outputs, LFSR registers, logs), so results are identical for any thread count.  The
encoder driver does so little work per call that a parallel launch would cost more than it saves
(and a loaded machine makes thread barriers expensive), so it loops serially.  The
per-sample work calls the single-block kernels (``lfsr``, ``encoder``, ``ssa``), which stay the
unit of testing against ``tests/reference.py``.

Logs: optional arrays whose first dimension is 0 when not wanted.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .encoder import encoder_bitplanes, encoder_spikes
from .lfsr import (SHARING_COMPARATOR, lfsr_count, lfsr_draw_bank_fast, lfsr_draw_bank_jump, lfsr_expand,
                   lfsr_seed_bank)
from .ssa import pack_bits, pack_bits_t, ssa_head


@njit(cache=True, parallel=True)
def seed_bank_batch(root, block, layer, phase, sample_ids, n_head, n_row, n_col, width, out):
    """``out[b]`` = seeds of one LFSR bank (``lfsr_seed_bank``) for sample ``sample_ids[b]``.

    out : uint64 (B, n_head * n_row * n_col); ``prange`` over samples (disjoint rows).
    """
    for b in prange(out.shape[0]):
        lfsr_seed_bank(root, block, layer, phase, sample_ids[b], n_head, n_row, n_col, width, out[b])


@njit(cache=True)
def encoder_layer(prob_code, states, table, k, sharing, spikes_out, draw_log):
    """Input encoder of spec 5.3 for a batch at one step.

    ===========  ======================  ===========================================
    argument     dtype / shape           meaning
    ===========  ======================  ===========================================
    prob_code    int32 (B, NP, F)        k-bit feature codes (firing probability p / 2^k)
    states       uint64 (B, n_reg)       LFSR registers (updated in place)
    table        uint64 (bytes, 256)     jump table of one draw (``lfsr_jump_table``)
    spikes_out   uint8 (B, NP, F)        spikes ``draw < p``
    draw_log     int64 (B, NP, F) or 0   the draw each comparator saw (optional)
    ===========  ======================  ===========================================
    """
    nb, n_p, n_f = prob_code.shape
    n_reg = states.shape[1]
    log = draw_log.shape[0] > 0
    for b in range(nb):
        rd = np.empty(n_reg, dtype=np.int64)
        lfsr_draw_bank_jump(states[b], table, k, rd)
        dr = np.empty((n_p, n_f), dtype=np.int64)
        lfsr_expand(rd, sharing, n_p, n_f, dr)
        encoder_spikes(prob_code[b], dr, spikes_out[b])
        if log:
            draw_log[b] = dr


@njit(cache=True)
def encoder_bitplane_layer(prob_code, bits, planes_out):
    """Bit-serial input encoder of spec 5.3 for a batch (the same every time step: no random source).

    ===========  ======================  ===========================================
    argument     dtype / shape           meaning
    ===========  ======================  ===========================================
    prob_code    int32 (B, NP, F)        k-bit feature codes
    bits         int                     k, the number of planes (read passes)
    planes_out   uint8 (B, k, NP, F)     ``planes_out[b, j] = (prob_code[b] >> j) & 1``
    ===========  ======================  ===========================================
    """
    for b in range(prob_code.shape[0]):
        encoder_bitplanes(prob_code[b], bits, planes_out[b])


@njit(cache=True, parallel=True)
def ssa_layer(q, k, v, n_heads, d_k, mask, k_s, k_o, states_s, states_o, table_s, table_o, form_s, form_o,
              bits_s, bits_o, sharing, o_out,
              c_log, s_log, p_log, o_log, draw_s_log, draw_o_log):
    """SSA engine of spec 3 for a batch at one step, all heads.

    ===========  ===========================  =========================================
    argument     dtype / shape                meaning
    ===========  ===========================  =========================================
    q, k, v      uint8 (B, N, D)              spikes, head h = columns h*d_k .. +d_k
    states_s     uint64 (B, H * n_reg_s)      score-comparator LFSRs (in place)
    states_o     uint64 (B, H * n_reg_o)      output-comparator LFSRs (in place)
    table_s/_o   uint64 (bytes, 256)          jump tables of one score / output draw
    form_s/_o    int64 (6,) or (0,)           shift form of the same draws (lfsr_shift_form), used
                                              instead of the table when not empty
    o_out        uint8 (B, N, D)              output spikes, heads concatenated
    c_log        int32 (B, H, N, N) or 0      score counters C
    s_log        uint8 (B, H, N, N) or 0      score spikes S
    p_log        int32 (B, H, N, d_k) or 0    output counters P
    o_log        uint8 (B, H, N, d_k) or 0    output spikes O (per head)
    draw_*_log   int64, as C / P, or 0        comparator draws
    ===========  ===========================  =========================================
    """
    nb, n_tok, _ = q.shape
    n_reg_s = lfsr_count(sharing, n_tok, n_tok)
    n_reg_o = lfsr_count(sharing, n_tok, d_k)
    w_d = (d_k + 63) // 64
    w_n = (n_tok + 63) // 64
    log = c_log.shape[0] > 0
    for b in prange(nb):
        qw = np.empty((n_tok, w_d), dtype=np.uint64)
        kw = np.empty((n_tok, w_d), dtype=np.uint64)
        vtw = np.empty((d_k, w_n), dtype=np.uint64)
        rd_s = np.empty(n_reg_s, dtype=np.int64)
        rd_o = np.empty(n_reg_o, dtype=np.int64)
        ds = np.empty((n_tok, n_tok), dtype=np.int64)
        do = np.empty((n_tok, d_k), dtype=np.int64)
        cc = np.empty((n_tok, n_tok), dtype=np.int32)
        ss = np.empty((n_tok, n_tok), dtype=np.uint8)
        pp = np.empty((n_tok, d_k), dtype=np.int32)
        oo = np.empty((n_tok, d_k), dtype=np.uint8)
        for h in range(n_heads):
            c0 = h * d_k
            pack_bits(q[b, :, c0:c0 + d_k], qw)
            pack_bits(k[b, :, c0:c0 + d_k], kw)
            pack_bits_t(v[b, :, c0:c0 + d_k], vtw)
            lfsr_draw_bank_fast(states_s[b, h * n_reg_s:(h + 1) * n_reg_s], form_s, table_s, bits_s, rd_s)
            lfsr_draw_bank_fast(states_o[b, h * n_reg_o:(h + 1) * n_reg_o], form_o, table_o, bits_o, rd_o)
            if sharing == SHARING_COMPARATOR:  # one register per comparator: the bank is the array
                dsv = rd_s.reshape((n_tok, n_tok))
                dov = rd_o.reshape((n_tok, d_k))
            else:
                lfsr_expand(rd_s, sharing, n_tok, n_tok, ds)
                lfsr_expand(rd_o, sharing, n_tok, d_k, do)
                dsv = ds
                dov = do
            ssa_head(qw, kw, vtw, mask, k_s, k_o, dsv, dov, cc, ss, pp, oo)
            o_out[b, :, c0:c0 + d_k] = oo
            if log:
                c_log[b, h] = cc
                s_log[b, h] = ss
                p_log[b, h] = pp
                o_log[b, h] = oo
                draw_s_log[b, h] = dsv
                draw_o_log[b, h] = dov
