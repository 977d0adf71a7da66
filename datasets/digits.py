"""The UCI handwritten digits (8x8 gray) with a fixed stratified 80/20 split.

Data: "Optical Recognition of Handwritten Digits", Alpaydin & Kaynak (UCI), CC BY 4.0, via scikit-learn;
see ``data/DIGITS-LICENSE.txt``.  1797 images; 1437 train / 360 test, stratified, seed 0 (computed once
by ``tools/make_digits_data.py`` and stored in ``data/digits.npz``, so no scikit-learn is needed here).

Pixel scaling: the original values v in 0..16 become 8-bit codes ``p = round(v * 255 / 16)``, computed
in integers as ``(255 * v + 8) // 16`` (0 -> 0, 8 -> 128, 16 -> 255).  The spike encoder (spec 5.3)
fires with probability p / 256.
"""
from __future__ import annotations

import numpy as np

from ._common import load_npz, patchify

SPLITS = ("train", "test", "all")
IMAGE_SHAPE = (8, 8, 1)
N_CLASSES = 10

_CACHE: dict[str, np.ndarray] = {}


def _data() -> dict[str, np.ndarray]:
    if not _CACHE:
        _CACHE.update(load_npz("digits.npz"))
    return _CACHE


def load_digits(split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images, labels)`` of one split.

    Parameters
    ----------
    split : {"train", "test", "all"}

    Returns
    -------
    images : uint8 ndarray (n, 8, 8, 1), pixel codes 0..255
    labels : int64 ndarray (n,), digits 0..9

    Sample order is fixed (increasing index in the original scikit-learn order).  Fresh copies are returned.
    """
    if split not in SPLITS:
        raise ValueError(f"load_digits: unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    d = _data()
    if split == "all":
        idx = np.arange(len(d["labels"]))
    else:
        idx = d[f"{split}_idx"]
    return d["images"][idx].copy(), d["labels"][idx].copy()


def load_digits_tokens(split: str = "test", patch: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """``(tokens uint8 (n, 64 / patch^2, patch^2), labels)``: :func:`load_digits` then :func:`patchify`."""
    images, labels = load_digits(split)
    return patchify(images, patch), labels
