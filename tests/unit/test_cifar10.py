"""CIFAR-10 binary loader on small synthetic files in the real format."""
from __future__ import annotations

import numpy as np
import pytest

from bittrue.datasets.cifar10 import (RECORD, TEST_FILES, TRAIN_FILES, CifarFormatError, load_cifar10,
                                      read_batch_file, write_batch_file)


def _make(tmp_path, n=3, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for name in TRAIN_FILES + TEST_FILES:
        im = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        lb = rng.integers(0, 10, n)
        write_batch_file(tmp_path / name, im, lb)
        out[name] = (im, lb)
    return out


def test_roundtrip_and_layout(tmp_path):
    data = _make(tmp_path)
    im, lb = load_cifar10(tmp_path, "test")
    assert im.shape == (3, 32, 32, 3) and im.dtype == np.uint8
    assert np.array_equal(im, data["test_batch.bin"][0]) and np.array_equal(lb, data["test_batch.bin"][1])
    tr_im, tr_lb = load_cifar10(tmp_path, "train")
    assert tr_im.shape == (15, 32, 32, 3)
    # byte layout: label, then the R plane row-major, then G, then B
    raw = np.fromfile(tmp_path / "test_batch.bin", np.uint8)
    assert raw[0] == lb[0]
    assert raw[1] == im[0, 0, 0, 0] and raw[2] == im[0, 0, 1, 0] and raw[1 + 1024] == im[0, 0, 0, 1]


def test_truncated_and_missing(tmp_path):
    _make(tmp_path)
    p = tmp_path / "test_batch.bin"
    p.write_bytes(p.read_bytes()[: RECORD + 5])
    with pytest.raises(CifarFormatError, match="whole number"):
        load_cifar10(tmp_path, "test")
    (tmp_path / "data_batch_3.bin").unlink()
    with pytest.raises(CifarFormatError, match="missing data_batch_3.bin"):
        load_cifar10(tmp_path, "train")
    with pytest.raises(CifarFormatError, match="not found"):
        load_cifar10(tmp_path / "nope", "test")
    with pytest.raises(ValueError, match="unknown split"):
        load_cifar10(tmp_path, "valid")


def test_bad_label(tmp_path):
    p = tmp_path / "x.bin"
    rec = np.zeros(RECORD, np.uint8)
    rec[0] = 42
    rec.tofile(p)
    with pytest.raises(CifarFormatError, match="label byte 42"):
        read_batch_file(p)
