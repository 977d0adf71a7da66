"""Datasets known to the CLI: name -> (architecture name, loader of 8-bit token codes and labels).

``digits``: the digits images, patch tokens, one class per image.

``mimo`` (spec 8, ``docs/mimo.md``): in-context MIMO symbol detection, 2 x 2 QPSK, 16 pilots, 4 queries.  One
sample is one prompt (20 tokens of 73 features); its labels are the joint 16-class symbols of its Q query tokens,
shape (n, Q).  Split ``test`` is the fixed test set :func:`bittrue.datasets.mimo.test_set` (2,000 tasks, SNR
0, 2, ..., 20 dB interleaved); split ``train`` is :data:`MIMO_TRAIN_TASKS` tasks of the training distribution
(SNR uniform 0..20 dB) from the seeded generator with :data:`MIMO_TRAIN_SEED` (disjoint from the test set's
seed): compile calibrates the ADCs of the ``mimo-icl`` model on its first prompts.
"""
from __future__ import annotations

import numpy as np

from .model import Architecture

DATASETS = ("digits", "mimo")
#: Shipped model used when ``--model`` is not given, per dataset.
DEFAULT_MODEL = {"digits": "digits", "mimo": "mimo-icl"}
#: Seed and size of the mimo ``train`` split (ADC calibration prompts); the test set uses ``TEST_SEED``.
MIMO_TRAIN_SEED = 8_080_808
MIMO_TRAIN_TASKS = 2000


def mimo_tasks(split: str) -> dict[str, np.ndarray]:
    """The tasks (``generate_tasks`` dict, task-first arrays) of a mimo split: ``test``, ``train`` or ``all``."""
    from .datasets.mimo import MimoConfig, generate_tasks, test_set

    cfg = MimoConfig()
    if split == "test":
        return test_set(cfg)
    if split == "train":
        return generate_tasks(cfg, MIMO_TRAIN_TASKS, MIMO_TRAIN_SEED)
    if split == "all":
        a, b = mimo_tasks("train"), mimo_tasks("test")
        return {k: np.concatenate([a[k], b[k]]) for k in a}
    raise ValueError(f"unknown split {split!r}: choose train, test or all")


def load_tokens(dataset: str, split: str, arch: Architecture) -> tuple[np.ndarray, np.ndarray]:
    """(p_code uint8 (n, n_patches, token_features), labels int64) of ``dataset``/``split`` for ``arch``.

    Labels are (n,) classes for digits and (n, Q) joint query classes for mimo.
    """
    if dataset == "digits":
        from .datasets.digits import load_digits
        from .datasets._common import patchify

        images, labels = load_digits(split)
        if arch.image_shape and tuple(arch.image_shape) != images.shape[1:]:
            raise ValueError(f"dataset digits has {images.shape[1:]} images; model {arch.name} expects "
                             f"{tuple(arch.image_shape)}")
        tokens = patchify(images, arch.patch or 2)
    elif dataset == "mimo":
        from .datasets.mimo import MimoConfig, prompt_tokens, query_labels

        cfg = MimoConfig()
        tasks = mimo_tasks(split)
        tokens = prompt_tokens(tasks, cfg)
        labels = query_labels(tasks, cfg)
        if arch.readout_tokens != cfg.queries or arch.n_classes != cfg.n_classes:
            raise ValueError(f"dataset mimo has {cfg.queries} queries of {cfg.n_classes} joint classes; model "
                             f"{arch.name} reads out {arch.n_readout} token(s) of {arch.n_classes} classes")
    else:
        raise ValueError(f"unknown dataset {dataset!r}: choose one of {', '.join(DATASETS)}")
    if tokens.shape[1:] != (arch.n_patches, arch.token_features):
        raise ValueError(f"dataset {dataset} gives tokens {tokens.shape[1:]}, model {arch.name} expects "
                         f"({arch.n_patches}, {arch.token_features})")
    return np.ascontiguousarray(tokens, dtype=np.uint8), labels.astype(np.int64)


def calibration_tokens(arch: Architecture, n: int) -> np.ndarray | None:
    """Up to ``n`` training token codes to calibrate the ADC full scales of ``arch``, or None (no calibration).

    digits: the digits training images; mimo-icl: prompts of the mimo ``train`` split (never the test set).
    """
    dataset = {"digits": "digits", "mimo-icl": "mimo"}.get(arch.name)
    if dataset is None:
        return None
    tokens, _ = load_tokens(dataset, "train", arch)
    return tokens[:n]
