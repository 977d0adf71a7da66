"""The shipped digits data set and the patch helper."""
import numpy as np
import pytest

from bittrue.datasets import patchify
from bittrue.datasets.digits import load_digits, load_digits_tokens


def test_counts_and_stratification():
    xa, ya = load_digits("all")
    xtr, ytr = load_digits("train")
    xte, yte = load_digits("test")
    assert len(ya) == 1797 and len(ytr) == 1437 and len(yte) == 360
    assert np.array_equal(np.bincount(ytr) + np.bincount(yte), np.bincount(ya))
    # stratified: every class's test share is within one sample of 20 %
    frac = np.bincount(yte, minlength=10) / np.bincount(ya, minlength=10)
    assert np.all(np.abs(frac - 0.2) < 1.0 / np.bincount(ya).min() + 1e-9)
    # train and test are disjoint and together the whole set
    rows = {a.tobytes() + bytes([b]) for a, b in zip(xa, ya)}
    assert {a.tobytes() + bytes([b]) for a, b in zip(np.concatenate([xtr, xte]), np.concatenate([ytr, yte]))} == rows


def test_dtype_shape_range():
    for split in ("train", "test", "all"):
        x, y = load_digits(split)
        assert x.dtype == np.uint8 and x.shape[1:] == (8, 8, 1)
        assert y.dtype == np.int64 and set(np.unique(y)) == set(range(10))
        assert x.max() == 255 and x.min() == 0
    # the scaling is round(v * 255 / 16) of 0..16: 17 possible codes
    x, _ = load_digits("all")
    allowed = (255 * np.arange(17) + 8) // 16
    assert set(np.unique(x)) <= set(allowed.tolist())


def test_default_split_is_test_and_deterministic():
    x1, y1 = load_digits()
    x2, y2 = load_digits("test")
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    x1[0, 0, 0, 0] = 7  # a fresh copy each call
    x3, _ = load_digits("test")
    assert np.array_equal(x3, x2)


def test_unknown_split():
    with pytest.raises(ValueError, match="unknown split 'val'"):
        load_digits("val")


def test_patchify_order():
    img = np.arange(2 * 4 * 4 * 2).reshape(2, 4, 4, 2)
    p = patchify(img, 2)
    assert p.shape == (2, 4, 8)
    # token 1 = patch row 0, patch col 1; features (dy, dx, c) row-major
    expect = [img[0, dy, 2 + dx, c] for dy in range(2) for dx in range(2) for c in range(2)]
    assert p[0, 1].tolist() == expect
    assert p[1, 2].tolist() == [img[1, 2 + dy, dx, c] for dy in range(2) for dx in range(2) for c in range(2)]


def test_patchify_errors_and_tokens():
    with pytest.raises(ValueError):
        patchify(np.zeros((1, 5, 4, 1)), 2)
    with pytest.raises(ValueError):
        patchify(np.zeros((5, 4, 1)), 2)
    t, y = load_digits_tokens("test")
    x, _ = load_digits("test")
    assert t.shape == (360, 16, 4) and t.dtype == np.uint8
    assert np.array_equal(t, patchify(x, 2))
