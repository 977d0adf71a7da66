"""Stochastic spiking attention (SSA) engine, one head, one time step (spec 3.1-3.5).

Inputs are bit-packed spike matrices (:func:`pack_bits`): token ``i``'s d_k query bits are
``W = ceil(d_k / 64)`` uint64 words, bit ``d % 64`` of word ``d // 64``.  ``v`` is packed
*transposed* (:func:`pack_bits_t`): channel ``c`` holds the spikes of all N_k tokens.

::

    q_i ---AND--- k_j --> popcount --> min(., K_S) = C[i,j] --> r_s < C --> AND m[i,j] --> S[i,j]
                                                                                          |
    S[i,:] ---AND--- v[:,c] --> popcount --> min(., K_O) = P[i,c] --> r_o < P --> O[i,c]

Draws ``r_s`` (log2 K_S bits) and ``r_o`` (log2 K_O bits) are supplied by the caller, who
takes them from LFSR banks honouring the sharing mode (:mod:`.lfsr`); this module holds no
random source.  Counters are cleared every call (spec 3.5): nothing carries over.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._intops import popcount64

MASK_NONE = 0  #: :class:`bittrue.modes.Mask` values
MASK_DIAGONAL = 1
MASK_CAUSAL = 2


@njit(cache=True)
def pack_bits(spikes, out):
    """Pack a spike matrix along its columns: ``out[r, c // 64]`` bit ``c % 64`` = ``spikes[r, c]``.

    Parameters
    ----------
    spikes : ndarray (rows, cols) of uint8
        Any non-zero entry counts as a 1.
    out : ndarray (rows, ceil(cols / 64)) of uint64
        Overwritten (unused high bits of the last word are 0).

    Notes
    -----
    ========  =====  ==============================
    signal    width  type
    ========  =====  ==============================
    spikes    1      uint8
    out       64     uint64, LSB = lowest column
    ========  =====  ==============================
    """
    rows = spikes.shape[0]
    cols = spikes.shape[1]
    nw = out.shape[1]
    for r in range(rows):
        for w in range(nw):
            word = np.uint64(0)
            for bit in range(min(64, cols - 64 * w)):  # branch-free: spikes are random
                word |= np.uint64(spikes[r, 64 * w + bit] != 0) << np.uint64(bit)
            out[r, w] = word


@njit(cache=True)
def pack_bits_t(spikes, out):
    """Pack the transpose: ``out[c, r // 64]`` bit ``r % 64`` = ``spikes[r, c]``.

    Parameters
    ----------
    spikes : ndarray (rows, cols) of uint8
    out : ndarray (cols, ceil(rows / 64)) of uint64
        Overwritten.

    Notes
    -----
    Same bit widths as :func:`pack_bits`; used for ``v`` (rows = tokens, cols = channels).
    It is :func:`pack_bits` of the transposed view.
    """
    pack_bits(spikes.T, out)


@njit(cache=True)
def ssa_head(q_words, k_words, vt_words, mask, k_s, k_o, draw_s, draw_o,
             c_out, s_out, p_out, o_out):
    """SSA of one head for one time step on packed spikes (spec 3.1-3.4).

    ``C[i,j] = min(popcount(q_i AND k_j), K_S)``; ``S[i,j] = (draw_s[i,j] < C[i,j]) AND
    m[i,j]``; ``P[i,c] = min(popcount_j(S[i,j] AND v[j,c]), K_O)``; ``O[i,c] = draw_o[i,c] <
    P[i,c]``.  ``c_out`` holds the *unmasked* score counter (the counter counts; the mask
    only gates the comparator output), so masked entries may have ``C > 0`` and ``S = 0``.

    Parameters
    ----------
    q_words : ndarray (N_q, W) of uint64
        Query spikes packed over d_k (:func:`pack_bits`).
    k_words : ndarray (N_k, W) of uint64
        Key spikes packed the same way.
    vt_words : ndarray (d_v, ceil(N_k / 64)) of uint64
        Value spikes packed over tokens (:func:`pack_bits_t` of ``v``, shape (N_k, d_v)).
    mask : int
        0 none, 1 diagonal (``j == i`` masked), 2 causal (``j > i`` masked).
    k_s, k_o : int
        Counter saturation values K_S, K_O (powers of two in the hardware).
    draw_s : ndarray (N_q, N_k) of int
        Score draws, ``log2(K_S)`` bits each.
    draw_o : ndarray (N_q, d_v) of int
        Output draws, ``log2(K_O)`` bits each.
    c_out : ndarray (N_q, N_k) of int32
    s_out : ndarray (N_q, N_k) of uint8
    p_out : ndarray (N_q, d_v) of int32
    o_out : ndarray (N_q, d_v) of uint8
        Outputs, overwritten.

    Notes
    -----
    ==========  ======================  ==============================
    signal      width                   type
    ==========  ======================  ==============================
    q, k, v     1 per bit               packed in uint64 words
    C           log2(K_S) + 1           int32, ``0 .. K_S``
    draw_s      log2(K_S)               unsigned value in int64
    S           1                       uint8
    P           log2(K_O) + 1           int32, ``0 .. K_O``
    draw_o      log2(K_O)               unsigned value in int64
    O           1                       uint8
    ==========  ======================  ==============================

    Popcounts are exact in int64 before the single saturation ``min(., K)``.  The key and value words
    are copied word-major once per call, so that the popcount loops run over tokens (scores) and
    channels (outputs) and vectorise; the comparators and the mask gate are branch-free.
    """
    n_q = q_words.shape[0]
    n_k = k_words.shape[0]
    d_v = vt_words.shape[0]
    nwt = vt_words.shape[1]
    ks = np.int64(k_s)
    ko = np.int64(k_o)
    kt = np.ascontiguousarray(k_words.T)  # word-major copies: the popcount loops run over tokens / channels
    vtt = np.ascontiguousarray(vt_words.T)
    cnt = np.empty(n_k, dtype=np.int64)
    pc = np.empty(d_v, dtype=np.int64)
    srow = np.empty((1, nwt), dtype=np.uint64)
    for i in range(n_q):
        _and_popcounts(q_words[i], kt, cnt)
        c_row = c_out[i]
        s_row = s_out[i]
        ds_row = draw_s[i]
        for j in range(n_k):
            cj = min(cnt[j], ks)
            c_row[j] = np.int32(cj)
            if mask == MASK_DIAGONAL:
                ok = j != i
            elif mask == MASK_CAUSAL:
                ok = j <= i
            else:
                ok = True
            s_row[j] = np.uint8((np.int64(ds_row[j]) < cj) & ok)
        pack_bits(s_out[i:i + 1], srow)
        _and_popcounts(srow[0], vtt, pc)
        p_row = p_out[i]
        o_row = o_out[i]
        do_row = draw_o[i]
        for c in range(d_v):
            pcc = min(pc[c], ko)
            p_row[c] = np.int32(pcc)
            o_row[c] = np.uint8(np.int64(do_row[c]) < pcc)


@njit(cache=True, inline="always")
def _and_popcounts(a_words, b_words_t, out):
    """``out[j] = sum_w popcount(a_words[w] & b_words_t[w, j])``: one row's AND + popcount against every
    column of a word-major matrix (the inner loop runs over ``j`` and vectorises)."""
    out[:] = 0
    for w in range(a_words.shape[0]):
        a = a_words[w]
        b_row = b_words_t[w]
        for j in range(out.shape[0]):
            out[j] += popcount64(a & b_row[j])


@njit(cache=True)
def ssa_heads(q_words, k_words, vt_words, mask, k_s, k_o, draw_s, draw_o,
              c_out, s_out, p_out, o_out):
    """:func:`ssa_head` over a leading batch axis (e.g. heads): every array gains axis 0.

    ``q_words (B, N_q, W)``, ``k_words (B, N_k, W)``, ``vt_words (B, d_v, WN)``,
    ``draw_s (B, N_q, N_k)``, ``draw_o (B, N_q, d_v)``, outputs likewise.  Serial, so it
    can run inside a caller's ``prange`` over samples.  Widths as in :func:`ssa_head`.
    """
    for b in range(q_words.shape[0]):
        ssa_head(q_words[b], k_words[b], vt_words[b], mask, k_s, k_o, draw_s[b], draw_o[b],
                 c_out[b], s_out[b], p_out[b], o_out[b])
