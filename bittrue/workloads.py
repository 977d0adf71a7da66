"""Datasets known to the CLI: name -> (architecture name, loader of 8-bit token codes and labels)."""
from __future__ import annotations

import numpy as np

from .model import Architecture

DATASETS = ("digits",)


def load_tokens(dataset: str, split: str, arch: Architecture) -> tuple[np.ndarray, np.ndarray]:
    """(p_code uint8 (n, n_patches, token_features), labels int64) of ``dataset``/``split`` for ``arch``."""
    if dataset == "digits":
        from .datasets.digits import load_digits
        from .datasets._common import patchify

        images, labels = load_digits(split)
        if arch.image_shape and tuple(arch.image_shape) != images.shape[1:]:
            raise ValueError(f"dataset digits has {images.shape[1:]} images; model {arch.name} expects "
                             f"{tuple(arch.image_shape)}")
        tokens = patchify(images, arch.patch or 2)
    else:
        raise ValueError(f"unknown dataset {dataset!r}: choose one of {', '.join(DATASETS)}")
    if tokens.shape[1:] != (arch.n_patches, arch.token_features):
        raise ValueError(f"dataset {dataset} gives tokens {tokens.shape[1:]}, model {arch.name} expects "
                         f"({arch.n_patches}, {arch.token_features})")
    return np.ascontiguousarray(tokens, dtype=np.uint8), labels.astype(np.int64)
