"""Small torch spiking networks shared by the tests of ``tests/training`` (torch is imported by the caller's
``pytest.importorskip``; ``tools/`` is on ``sys.path`` there, tests/training/conftest.py)."""
from __future__ import annotations

import numpy as np


def spiking_net(arch, seed: int = 0, k_o: int = 16, **kw):
    """``tools/_torch_net.SpikingTransformer`` of ``arch`` (K_S = 16, K_O = ``k_o``, default hardware options),
    its weights drawn after ``torch.manual_seed(seed)``; ``kw`` go to the network (``timesteps``, LIF options)."""
    import torch
    from _torch_hw import HWOptions
    from _torch_net import SpikingTransformer

    torch.manual_seed(seed)
    return SpikingTransformer(arch, 16, k_o, HWOptions(), qkv_beta_init=1.5, **kw)


def codes_warm_bn(net, arch, n: int = 5):
    """``n`` random token-code inputs (uint8 codes and ``code / 256``, float64); three training-mode forwards on
    them move the network's BN running statistics away from (0, 1).  The network is left in training mode."""
    import torch

    rng = np.random.default_rng(3)
    codes = rng.integers(0, 256, (n, arch.n_patches, arch.token_features), dtype=np.uint8)
    p = torch.from_numpy(codes.astype(np.float64) / 256.0)
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(p)
    return codes, p
