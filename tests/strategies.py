"""Hypothesis strategies shared by the property tests (built on ``hypothesis.extra.numpy``).

Import as ``import strategies as sts`` (conftest puts ``tests/`` on ``sys.path``).
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bittrue.kernels.lfsr import LFSR_TAPS

#: every supported LFSR width
widths = st.integers(min_value=8, max_value=32)
#: small widths, where a full period is cheap
small_widths = st.integers(min_value=8, max_value=12)
root_seeds = st.integers(min_value=0, max_value=(1 << 64) - 1)
site_words = st.integers(min_value=0, max_value=(1 << 20))
masks = st.sampled_from([0, 1, 2])
resets = st.sampled_from([0, 1])
sharings = st.sampled_from([0, 1, 2])


@st.composite
def lfsr_seeds(draw, width):
    """A legal (non-zero, width-bit) seed."""
    return draw(st.integers(min_value=1, max_value=(1 << width) - 1))


@st.composite
def width_seed(draw, widths=widths):
    w = draw(widths)
    return w, draw(lfsr_seeds(w))


@st.composite
def lfsr_bank(draw, max_size=40):
    """(width, tap_mask-ready taps, states uint64 1-D, k, steps)."""
    w = draw(widths)
    n = draw(st.integers(min_value=0, max_value=max_size))
    states = draw(hnp.arrays(np.uint64, n, elements=st.integers(1, (1 << w) - 1)))
    k = draw(st.integers(1, w))
    steps = draw(st.one_of(st.just(k), st.just(1), st.integers(0, 3 * w)))
    return w, LFSR_TAPS[w], states, k, steps


@st.composite
def spike_matrix(draw, rows, cols):
    """0/1 uint8 matrix with a drawn density (all-zero and all-one are reachable)."""
    density = draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return (rng.random((rows, cols)) < density).astype(np.uint8)


@st.composite
def ssa_case(draw, max_tokens=70, max_dk=130):
    """Inputs of one SSA head: spikes, mask, K_S, K_O and in-range draws."""
    n_q = draw(st.integers(1, max_tokens))
    n_k = draw(st.one_of(st.just(n_q), st.integers(1, max_tokens)))
    d_k = draw(st.integers(1, max_dk))
    d_v = draw(st.integers(1, 40))
    q = draw(spike_matrix(n_q, d_k))
    k = draw(spike_matrix(n_k, d_k))
    v = draw(spike_matrix(n_k, d_v))
    mask = draw(masks)
    k_s = 1 << draw(st.integers(1, 8))
    k_o = 1 << draw(st.integers(1, 8))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    draw_s = rng.integers(0, k_s, size=(n_q, n_k), dtype=np.int64)
    draw_o = rng.integers(0, k_o, size=(n_q, d_v), dtype=np.int64)
    return q, k, v, mask, k_s, k_o, draw_s, draw_o


@st.composite
def lif_case(draw, max_size=64):
    """(v int16/int32 codes in range, y codes, theta, leak_shift, reset, width)."""
    width = draw(st.sampled_from([8, 12, 16, 24, 32]))
    dtype = np.int16 if width <= 16 else np.int32
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    n = draw(st.integers(0, max_size))
    v = draw(hnp.arrays(dtype, n, elements=st.integers(lo, hi)))
    y = draw(hnp.arrays(np.int64, n, elements=st.integers(4 * lo, 4 * hi)))
    theta = draw(st.integers(1, hi))
    leak = draw(st.integers(0, width - 1))
    reset = draw(resets)
    return v, y, theta, leak, reset, width
