"""Datasets for bittrue (numpy only).  Installed as ``bittrue.datasets``.

Public: :func:`patchify` (images to patch tokens, shared by every image dataset, the workloads, the energy
baseline and the training tools); the datasets themselves are the modules ``digits``, ``mimo`` and ``cifar10``.
"""
from ._common import patchify

__all__ = ["patchify"]
