"""Helpers shared by the dataset loaders (numpy only)."""
from __future__ import annotations

from importlib.resources import files

import numpy as np


def patchify(images: np.ndarray, patch: int) -> np.ndarray:
    """Cut images into non-overlapping square patches, one token per patch.

    Parameters
    ----------
    images : ndarray (n, H, W, C)
        Any dtype; H and W must be multiples of ``patch``.
    patch : int
        Patch side in pixels.

    Returns
    -------
    ndarray (n, (H/patch) * (W/patch), patch * patch * C)
        Same dtype.  Patches are ordered row-major over the patch grid; inside a patch the features are
        row-major pixels, then channels: feature ``(dy * patch + dx) * C + c``.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"patchify: images must have shape (n, H, W, C), got {images.shape}")
    if not isinstance(patch, (int, np.integer)) or isinstance(patch, bool) or patch < 1:
        raise ValueError(f"patchify: patch = {patch!r} must be a positive integer")
    n, h, w, c = images.shape
    if h % patch or w % patch:
        raise ValueError(f"patchify: image size {h}x{w} is not a multiple of patch {patch}")
    x = images.reshape(n, h // patch, patch, w // patch, patch, c).transpose(0, 1, 3, 2, 4, 5)
    return np.ascontiguousarray(x.reshape(n, (h // patch) * (w // patch), patch * patch * c))


def load_npz(name: str) -> dict[str, np.ndarray]:
    """Read ``data/<name>`` shipped with this package (no pickle)."""
    res = files(__package__) / "data" / name
    with res.open("rb") as fh, np.load(fh, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
