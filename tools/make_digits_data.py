#!/usr/bin/env python
"""Regenerate ``datasets/data/digits.npz`` from scikit-learn's copy of the UCI digits.

Source: UCI Optical Recognition of Handwritten Digits (E. Alpaydin, C. Kaynak, 1998), CC BY 4.0,
as shipped by scikit-learn (``sklearn.datasets.load_digits``: 1797 images of 8x8 pixels, values 0..16).

The npz holds (all plain arrays, no pickle):

``images``    uint8 (1797, 8, 8, 1)  pixel codes 0..255, ``p = (255 * v + 8) // 16`` = round(v * 255 / 16)
``labels``    int64 (1797,)           digit 0..9
``train_idx`` int64 (1437,)           sorted indices of the fixed stratified 80/20 split, seed 0
``test_idx``  int64 (360,)            sorted indices of the test part

The split is ``sklearn.model_selection.train_test_split(arange(1797), test_size=0.2, stratify=labels,
random_state=0)``.  The file is written with a fixed zip timestamp, so its bytes are reproducible.

Usage: ``python tools/make_digits_data.py [--out datasets/data/digits.npz]``
"""
from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import numpy as np

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "datasets" / "data" / "digits.npz"


def scale_pixels(v: np.ndarray) -> np.ndarray:
    """0..16 pixel values -> 0..255 codes: round(v * 255 / 16) = (255 v + 8) // 16, in integers."""
    v = np.asarray(v).astype(np.int64)
    if v.min() < 0 or v.max() > 16:
        raise ValueError("digits pixels must lie in 0..16")
    return ((255 * v + 8) // 16).astype(np.uint8)


def build() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    v = np.rint(d.images).astype(np.int64)
    assert np.array_equal(v, d.images)
    images = scale_pixels(v).reshape(-1, 8, 8, 1)
    labels = d.target.astype(np.int64)
    idx = np.arange(len(labels), dtype=np.int64)
    tr, te = train_test_split(idx, test_size=0.2, stratify=labels, random_state=0)
    return {"images": images, "labels": labels,
            "train_idx": np.sort(tr).astype(np.int64), "test_idx": np.sort(te).astype(np.int64)}


def save_npz_reproducible(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like ``np.savez_compressed`` but with a fixed member timestamp (byte-reproducible)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output npz (default: %(default)s)")
    args = ap.parse_args(argv)
    arrays = build()
    save_npz_reproducible(args.out, arrays)
    print(f"wrote {args.out}: {len(arrays['labels'])} images, "
          f"{len(arrays['train_idx'])} train / {len(arrays['test_idx'])} test")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
