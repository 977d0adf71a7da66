"""Unit tests of the input encoder (spec 5.3)."""
from __future__ import annotations

import numpy as np
import pytest

from bittrue import lfsr_draws
from bittrue.kernels.encoder import encoder_spikes


@pytest.mark.parametrize("kernel", [encoder_spikes, encoder_spikes.py_func], ids=["jit", "py"])
def test_table(kernel):
    p = np.array([0, 0, 1, 1, 128, 255, 255], dtype=np.uint8)
    r = np.array([0, 255, 0, 1, 127, 254, 255], dtype=np.int64)
    out = np.full(p.size, 7, dtype=np.uint8)
    kernel(p, r, out)
    assert out.tolist() == [0, 0, 1, 0, 1, 1, 0]


def test_any_shape():
    p = np.arange(12, dtype=np.uint8).reshape(3, 4)
    r = np.full((3, 4), 5, dtype=np.uint32)
    out = np.zeros((3, 4), dtype=np.uint8)
    encoder_spikes(p, r, out)
    np.testing.assert_array_equal(out, (p > 5).astype(np.uint8))


def test_rate_exact_over_full_period():
    """Width-12 LFSR, 8-bit draws, 8 clocks each (gcd(8, 4095) = 1): over 4095 draws every
    non-zero byte appears 16 times and zero 15 times, so code p fires exactly 16 p - 1 times
    (p >= 1) and never for p = 0: P = p / 256 up to the LFSR's one missing zero."""
    draws = lfsr_draws(0x9A, 4095, 8, width=12)
    p = np.arange(256, dtype=np.uint8)
    counts = np.zeros(256, dtype=np.int64)
    out = np.zeros(256, dtype=np.uint8)
    for r in draws:
        encoder_spikes(p, np.full(256, r, dtype=np.uint64), out)
        counts += out
    expect = 16 * np.arange(256) - 1
    expect[0] = 0
    np.testing.assert_array_equal(counts, expect)
