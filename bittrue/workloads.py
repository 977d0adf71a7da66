"""Datasets known to the CLI: name -> (architecture name, loader of 8-bit token codes and labels).

``digits``: the digits images, patch tokens, one class per image.

``mimo`` (spec 8, ``docs/mimo.md``): in-context MIMO symbol detection, 2 x 2 QPSK, 16 pilots, 4 queries.  One
sample is one prompt (20 tokens of 73 features); its labels are the joint 16-class symbols of its Q query tokens,
shape (n, Q).  Split ``test`` is the seeded evaluation sequence :func:`bittrue.datasets.mimo.eval_tasks` (SNR
0, 2, ..., 30 dB interleaved, seed ``TEST_SEED``): nominally :data:`MIMO_TEST_TASKS` tasks (250 per SNR), but a
caller that asks for more (``n``, e.g. ``infer --tasks-per-snr``) gets the longer prefix of the same sequence;
split ``train`` is :data:`MIMO_TRAIN_TASKS` tasks of the training distribution (SNR uniform 0..20 dB) from the
seeded generator with :data:`MIMO_TRAIN_SEED` (disjoint from the test set's seed): compile calibrates the ADCs of
the ``mimo-icl`` model on its first prompts.

``cifar10``: CIFAR-10 from the user's binary files (``data_dir``: the extracted ``cifar-10-batches-bin`` folder;
nothing ships and nothing is downloaded), 4 x 4 x 3 patch tokens of the pixel bytes; ``train`` is
``data_batch_1..5.bin``, ``test`` is ``test_batch.bin``.  No model ships: ``tools/train.py cifar10`` makes one
(docs/cifar10.md).
"""
from __future__ import annotations

import numpy as np

from .datasets.mimo import EVAL_SNR_DB
from .model import Architecture

DATASETS = ("digits", "mimo", "cifar10")
#: Datasets that need no user files (all but cifar10); ``sweep`` and ``energy`` take only these.
SHIPPED_DATASETS = ("digits", "mimo")
#: Shipped model used when ``--model`` is not given, per dataset.
DEFAULT_MODEL = {"digits": "digits", "mimo": "mimo-icl"}
#: Seed and size of the mimo ``train`` split (ADC calibration prompts); the test set uses ``TEST_SEED``.
MIMO_TRAIN_SEED = 8_080_808
MIMO_TRAIN_TASKS = 2000
#: Default tasks per SNR of the mimo ``test`` split (16 SNRs: 4,000 tasks, about a minute of emulation).
MIMO_TEST_TASKS_PER_SNR = 250
#: Nominal size of the mimo ``test`` split.
MIMO_TEST_TASKS = len(EVAL_SNR_DB) * MIMO_TEST_TASKS_PER_SNR


def dataset_error(dataset: str, allowed: tuple[str, ...] = DATASETS) -> str | None:
    """The one-line complaint about ``--dataset dataset`` for a command that takes ``allowed``, or None."""
    if dataset in allowed:
        return None
    if dataset in DATASETS:
        return (f"--dataset {dataset!r}: not available here, it needs --data-dir, which only infer and golden take; "
                f"choose one of {', '.join(allowed)}")
    return f"--dataset {dataset!r}: unknown; choose one of {', '.join(allowed)}"


def mimo_config(arch=None):
    """The :class:`~bittrue.datasets.mimo.MimoConfig` whose prompt tokens ``arch`` reads: the default task family
    with the model's copies of the ramp and one-hot blocks (``Architecture.ramp_copies`` / ``onehot_copies``).
    ``None``: the default one-copy tokens."""
    from .datasets.mimo import MimoConfig

    if arch is None:
        return MimoConfig()
    return MimoConfig(ramp_copies=arch.ramp_copies, onehot_copies=arch.onehot_copies)


def mimo_tasks(split: str, n: int | None = None) -> dict[str, np.ndarray]:
    """The tasks (``generate_tasks`` dict, task-first arrays) of a mimo split: ``test``, ``train`` or ``all``.

    ``n``: for ``test``, the number of tasks when more than the nominal :data:`MIMO_TEST_TASKS` are wanted (the
    longer prefix of the same seeded sequence); ignored for the other splits.
    """
    from .datasets.mimo import MimoConfig, eval_tasks, generate_tasks

    cfg = MimoConfig()
    if split == "test":
        return eval_tasks(cfg, max(MIMO_TEST_TASKS, n or 0))
    if split == "train":
        return generate_tasks(cfg, MIMO_TRAIN_TASKS, MIMO_TRAIN_SEED)
    if split == "all":
        a, b = mimo_tasks("train"), mimo_tasks("test")
        return {k: np.concatenate([a[k], b[k]]) for k in a}
    raise ValueError(f"unknown split {split!r}: choose train, test or all")


def check_data_dir(dataset: str, data_dir) -> None:
    """Raise ValueError (one line) unless ``data_dir`` holds ``dataset``'s files (cifar10; others need none)."""
    if dataset != "cifar10":
        return
    from pathlib import Path

    from .datasets.cifar10 import RECORD, TEST_FILES, TRAIN_FILES, CifarFormatError

    if data_dir is None:
        raise CifarFormatError("--dataset cifar10 needs --data-dir DIR (the extracted cifar-10-batches-bin folder; "
                               "nothing is downloaded)")
    d = Path(data_dir)
    if not d.is_dir():
        raise CifarFormatError(f"CIFAR-10 directory {d}: not found (give the extracted cifar-10-batches-bin folder)")
    missing = [n for n in TRAIN_FILES + TEST_FILES if not (d / n).is_file()]
    if missing:
        raise CifarFormatError(f"CIFAR-10 directory {d}: missing {', '.join(missing)}")
    for n in TRAIN_FILES + TEST_FILES:
        size = (d / n).stat().st_size
        if size == 0 or size % RECORD:
            raise CifarFormatError(f"CIFAR-10 file {d / n}: {size} bytes is not a whole number of {RECORD}-byte "
                                   f"records (truncated or not the binary version?)")


def load_tokens(dataset: str, split: str, arch: Architecture, data_dir=None,
                stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(feature_code uint8 (n, n_patches, token_features), labels int64) of ``dataset``/``split`` for ``arch``.

    Labels are (n,) classes for digits and cifar10 and (n, Q) joint query classes for mimo.  ``data_dir``: the
    cifar10 files (:func:`check_data_dir`).  ``stop``: the caller's last sample + 1; the mimo test split grows
    to it (:func:`mimo_tasks`), the other splits ignore it.
    """
    if dataset in ("digits", "cifar10"):
        from .datasets import patchify

        if dataset == "digits":
            from .datasets.digits import load_digits

            images, labels = load_digits(split)
        else:
            from .datasets.cifar10 import load_cifar10

            check_data_dir(dataset, data_dir)
            parts = [load_cifar10(data_dir, s) for s in (("train", "test") if split == "all" else (split,))]
            images, labels = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        if arch.image_shape and tuple(arch.image_shape) != images.shape[1:]:
            raise ValueError(f"dataset {dataset} has {images.shape[1:]} images; model {arch.name} expects "
                             f"{tuple(arch.image_shape)}")
        tokens = patchify(images, arch.patch or 2)
    elif dataset == "mimo":
        from .datasets.mimo import prompt_tokens, query_labels

        cfg = mimo_config(arch)
        tasks = mimo_tasks(split, stop)
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


def calibration_tokens(arch: Architecture, n: int, data_dir=None) -> np.ndarray | None:
    """Up to ``n`` training token codes to calibrate the ADC full scales of ``arch``, or None (no calibration).

    digits: the digits training images; mimo-icl: prompts of the mimo ``train`` split (never the test set);
    cifar10-vit-small: the first training images of ``data_dir`` (None without it).
    """
    dataset = {"digits": "digits", "mimo-icl": "mimo", "cifar10-vit-small": "cifar10"}.get(arch.name)
    if dataset is None or dataset == "cifar10" and data_dir is None:
        return None
    tokens, _ = load_tokens(dataset, "train", arch, data_dir)
    return tokens[:n]
