"""CIFAR-10 from the binary distribution (``cifar-10-batches-bin``), read from a user-given directory.

Nothing is downloaded and nothing is unpickled: the binary version is a flat byte format.  Each record is
3,073 bytes: one label byte (0..9), then 1,024 red, 1,024 green and 1,024 blue bytes, each plane 32 x 32
row-major.  Files: ``data_batch_1.bin`` .. ``data_batch_5.bin`` (train, 10,000 records each) and
``test_batch.bin`` (test, 10,000 records).  Any number of whole records per file is accepted, so small
synthetic files in the same format work (the tests use them).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

RECORD = 1 + 3 * 32 * 32
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILES = ("test_batch.bin",)
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class CifarFormatError(ValueError):
    """A CIFAR-10 directory or file that cannot be read; the message says which and why."""


def read_batch_file(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (n, 32, 32, 3), labels int64 (n,)) of one ``.bin`` file."""
    path = Path(path)
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise CifarFormatError(f"CIFAR-10 file {path}: not found") from None
    except OSError as exc:
        raise CifarFormatError(f"CIFAR-10 file {path}: cannot read ({exc})") from None
    if raw.size == 0 or raw.size % RECORD:
        raise CifarFormatError(f"CIFAR-10 file {path}: {raw.size} bytes is not a whole number of "
                               f"{RECORD}-byte records (truncated or not the binary version?)")
    rec = raw.reshape(-1, RECORD)
    labels = rec[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise CifarFormatError(f"CIFAR-10 file {path}: label byte {int(labels.max())} outside 0..9")
    images = rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def load_cifar10(directory: str | Path, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Load a split from ``directory`` (the extracted ``cifar-10-batches-bin`` folder).

    Returns ``(images uint8 (n, 32, 32, 3) in 0..255, labels int64 (n,))``; the pixel bytes are the
    encoder's 8-bit codes directly.
    """
    if split not in ("train", "test"):
        raise ValueError(f"load_cifar10: unknown split {split!r}; expected 'train' or 'test'")
    directory = Path(directory)
    if not directory.is_dir():
        raise CifarFormatError(f"CIFAR-10 directory {directory}: not found (give the extracted "
                               f"cifar-10-batches-bin folder)")
    names = TRAIN_FILES if split == "train" else TEST_FILES
    missing = [n for n in names if not (directory / n).exists()]
    if missing:
        raise CifarFormatError(f"CIFAR-10 directory {directory}: missing {', '.join(missing)}")
    parts = [read_batch_file(directory / n) for n in names]
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


def write_batch_file(path: str | Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write images (n, 32, 32, 3) uint8 and labels in the binary format (for tests and tools)."""
    images = np.asarray(images, np.uint8)
    labels = np.asarray(labels, np.uint8)
    rec = np.empty((len(labels), RECORD), np.uint8)
    rec[:, 0] = labels
    rec[:, 1:] = images.transpose(0, 3, 1, 2).reshape(len(labels), -1)
    rec.tofile(path)
