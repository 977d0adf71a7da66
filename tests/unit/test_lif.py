"""Unit tests of the LIF neuron and the residual add (spec 5.1, 5.2)."""
from __future__ import annotations

import numpy as np
import pytest

from bittrue.kernels.lif import lif_update, lif_update_batch, lif_update_rows, residual_add


def _as_single(batched, rows):
    """A (B, N, W) kernel (the runner's) called like :func:`lif_update` on a 1-D population (views: in place)."""
    def kernel(v, y, theta, leak, reset, width, sp):
        args = (v.reshape(1, 1, -1), y.reshape(1, 1, -1), 0, theta, leak, reset, width, sp.reshape(1, 1, -1))
        batched(*args, 0, 1) if rows else batched(*args)
    return kernel


#: the spec-form kernel and the two the runner uses (rows: small populations, batch: prange), JIT and Python
KERNELS = [lif_update, lif_update.py_func, _as_single(lif_update_rows, True), _as_single(lif_update_rows.py_func, True),
           _as_single(lif_update_batch, False), _as_single(lif_update_batch.py_func, False)]
IDS = ["jit", "py", "rows-jit", "rows-py", "batch-jit", "batch-py"]


def _run(kernel, v, y, theta, leak, reset, width, dtype=np.int16):
    v = np.array(v, dtype=dtype)
    sp = np.full(v.size, 9, dtype=np.uint8)
    kernel(v, np.array(y, dtype=np.int64), theta, leak, reset, width, sp)
    return v.tolist(), sp.tolist()


@pytest.mark.parametrize("kernel", KERNELS, ids=IDS)
def test_hand_table_hard_reset(kernel):
    # theta = 256 (1.0 in Q8), leak_shift 1 (tau 2)
    v, s = _run(kernel, [100, -5, 30000, 255, 0, -32768, 512],
                [200, 3, 30000, 129, 255, -1, 0], 256, 1, 0, 16)
    # 100-50+200=250; -5-(-3)+3=1; sat(45000)=32767 fires; 255-127+129=257 fires; 255; sat(-32768+16384-1)=-16385; 512-256=256 fires
    assert s == [0, 0, 1, 1, 0, 0, 1]
    assert v == [250, 1, 0, 0, 255, -16385, 0]


@pytest.mark.parametrize("kernel", KERNELS, ids=IDS)
def test_soft_reset_and_saturation(kernel):
    v, s = _run(kernel, [30000, 255, -32768], [30000, 129, -32768], 256, 1, 1, 16)
    assert s == [1, 1, 0]
    assert v == [32767 - 256, 1, -32768]
    # negative threshold: soft reset saturates upward
    v, s = _run(kernel, [32767], [0], -32768, 0, 1, 16)
    assert s == [1] and v == [32767]


@pytest.mark.parametrize("kernel", KERNELS, ids=IDS)
def test_fires_at_threshold_exactly(kernel):
    v, s = _run(kernel, [0, 0], [256, 255], 256, 1, 0, 16)
    assert s == [1, 0] and v == [0, 255]


def test_leak_shift_zero_forgets():
    v, s = _run(lif_update, [1000, -1000], [7, -7], 10**4, 0, 0, 16)
    assert v == [7, -7] and s == [0, 0]


def test_width_narrower_than_storage():
    v, s = _run(lif_update, [100], [100], 1000, 4, 0, 8, dtype=np.int32)
    assert v == [127] and s == [0]


@pytest.mark.parametrize("kernel", [residual_add, residual_add.py_func], ids=["jit", "py"])
def test_residual_add(kernel):
    r = np.array([[1, -1], [32000, -32000]], dtype=np.int16)
    kernel(r, np.array([[5, -5], [1000, -1000]], dtype=np.int32), 16)
    assert r.tolist() == [[6, -6], [32767, -32768]]
