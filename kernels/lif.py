"""LIF neurons and the residual stream of the digital periphery (spec 5.1, 5.2).

LIF neuron, per site, one time step::

    v_code ---+--> (v >> leak_shift) --(-)--+
              |                             v
              +---------------------------> (+) --> (+) --> sat_s(., width) --> v'
                                                     ^                          |
    y_code ------------------------------------------+          v' >= theta --> spike
                                                                 |
                                 hard: v <- 0 ; soft: v <- sat_s(v' - theta, width)

All arithmetic is int64 with one explicit saturation to the ``width``-bit register (spec
1.1); ``>>`` is arithmetic (floor, spec 1.2).  Membrane and residual share the fixed-point
format (default int16 with 8 fractional bits); the kernels see only raw codes.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._intops import sat_s

RESET_HARD = 0  #: same value as :class:`bittrue.modes.Reset.HARD`
RESET_SOFT = 1  #: same value as :class:`bittrue.modes.Reset.SOFT`


@njit(cache=True)
def lif_update(v_code, y_code, theta_code, leak_shift, reset, width, spikes_out):
    """One time step of a bank of LIF neurons (spec 5.1), membranes updated in place.

    ``v <- sat_s(v - (v >> leak_shift) + y, width)``; ``spike = v >= theta``; on a spike
    ``v <- 0`` (``reset = 0``, hard) or ``v <- sat_s(v - theta, width)`` (``reset = 1``,
    soft).

    Parameters
    ----------
    v_code : ndarray of int16/int32/int64, C-contiguous, any shape
        Membrane codes, updated in place.  Its dtype must hold ``width`` signed bits.
    y_code : ndarray of int32/int64, same size
        Input codes (requantised synaptic input) in the membrane format.
    theta_code : int
        Threshold code (fires when ``v >= theta``, spec 1.3).
    leak_shift : int
        ``s_leak`` >= 0; ``1`` is tau = 2.
    reset : int
        0 hard, 1 soft (:class:`bittrue.modes.Reset`).
    width : int
        Signed membrane register width (default 16).
    spikes_out : ndarray of uint8, same size
        Output spikes, 0 or 1.

    Notes
    -----
    =================  ============  ==========================================
    signal             width         type
    =================  ============  ==========================================
    v_code (in/out)    width         signed, stored in the caller's dtype
    y_code             <= 62         signed
    v - (v >> s) + y   <= 63         int64 intermediate (no wrap possible)
    theta_code         width         signed
    spikes_out         1             uint8 in {0, 1}
    =================  ============  ==========================================
    """
    v = v_code.reshape(v_code.size)
    y = y_code.reshape(y_code.size)
    sp = spikes_out.reshape(spikes_out.size)
    theta = np.int64(theta_code)
    s = np.int64(leak_shift)
    for i in range(v.size):
        vi = np.int64(v[i])
        vi = sat_s(vi - (vi >> s) + np.int64(y[i]), width)
        if vi >= theta:
            sp[i] = np.uint8(1)
            if reset == RESET_HARD:
                vi = np.int64(0)
            else:
                vi = sat_s(vi - theta, width)
        else:
            sp[i] = np.uint8(0)
        v[i] = vi


@njit(cache=True)
def lif_update_rows(v_code, y_code, y_col0, theta_code, leak_shift, reset, width, spikes_out, b0, b1):
    """:func:`lif_update` on batch rows ``b0 .. b1 - 1`` of ``(B, N, W)`` arrays (serial).

    ``y_code`` is ``(B, N, W_y)`` with ``W_y >= y_col0 + W``: the neurons read input columns
    ``y_col0 .. y_col0 + W - 1`` (e.g. the q, k or v third of a fused qkv output, without a copy).
    Same arithmetic and bit widths as :func:`lif_update`, written branch-free (the spike is a
    comparison, the reset a select) so that the inner loop vectorises.
    """
    nt = v_code.shape[1]
    nw = v_code.shape[2]
    theta = np.int64(theta_code)
    s = np.int64(leak_shift)
    hard = reset == RESET_HARD  # loop-invariant: the compiler unswitches it
    for b in range(b0, b1):
        for n in range(nt):
            v_row = v_code[b, n]  # 1-D views: the loop vectorises (3-D indexing did not, 1.8x slower)
            y_row = y_code[b, n, y_col0:y_col0 + nw]
            s_row = spikes_out[b, n]
            for i in range(nw):
                vi = np.int64(v_row[i])
                vi = sat_s(vi - (vi >> s) + np.int64(y_row[i]), width)
                fire = vi >= theta
                s_row[i] = np.uint8(fire)
                v_row[i] = (np.int64(0) if hard else sat_s(vi - theta, width)) if fire else vi


@njit(cache=True, parallel=True)
def lif_update_batch(v_code, y_code, y_col0, theta_code, leak_shift, reset, width, spikes_out):
    """:func:`lif_update_rows` over the whole batch, ``prange`` over batch rows (disjoint writes).

    Worth a parallel launch only for large populations; callers use :func:`lif_update_rows` on
    small ones (identical results).
    """
    for b in prange(v_code.shape[0]):
        lif_update_rows(v_code, y_code, y_col0, theta_code, leak_shift, reset, width, spikes_out, b, b + 1)


@njit(cache=True)
def residual_add(r_code, y_code, width):
    """Residual stream update ``r <- sat_s(r + y, width)`` in place (spec 5.2; also the saturating int32
    logit accumulator of spec 5.4).

    =========  ======  =============================================
    signal     width   type
    =========  ======  =============================================
    r_code     width   signed, in/out, caller's dtype (default int16)
    y_code     <= 62   signed
    r + y      <= 63   int64 intermediate
    =========  ======  =============================================
    """
    r = r_code.reshape(r_code.size)
    y = y_code.reshape(y_code.size)
    for i in range(r.size):
        r[i] = sat_s(np.int64(r[i]) + np.int64(y[i]), width)
