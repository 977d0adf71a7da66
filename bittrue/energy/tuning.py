"""Random models for energy studies: random 8-bit inputs, and a random model tuned to a spike density."""
from __future__ import annotations

import math

import numpy as np

from ..config import HardwareConfig
from ..model import Architecture


# =============================================================================== random model helper
def random_tokens(arch: Architecture, n: int, seed: int = 0) -> np.ndarray:
    """``n`` uniformly random 8-bit inputs of ``arch`` (random images, patchified), uint8."""
    rng = np.random.default_rng(seed)
    if arch.image_shape and arch.patch:
        from ..datasets import patchify

        img = rng.integers(0, 256, size=(n,) + tuple(arch.image_shape), dtype=np.uint8)
        tok = patchify(img, arch.patch)
    else:
        tok = rng.integers(0, 256, size=(n, arch.n_patches, arch.token_features), dtype=np.uint8)
    return np.ascontiguousarray(tok, dtype=np.uint8)


def tune_random_model(arch: Architecture, density: float = 0.15, *, seed: int = 0, n_images: int = 2,
                      timesteps: int | None = None, cfg: HardwareConfig | None = None, iters: int = 10):
    """A random float model of ``arch`` whose one common LIF threshold is bisected (in log space)
    so that the float SNN's mean spike density at the crossbar inputs (all layers but ``embed``)
    on ``n_images`` random images is ``density``.  Returns (model, measured density)."""
    from ..floatmodel import float_forward
    from ..model import random_float_model

    cfg = cfg or HardwareConfig()
    T = int(timesteps or cfg.run.timesteps or arch.timesteps)
    x = random_tokens(arch, n_images, seed=seed + 1)
    base = random_float_model(arch, seed, threshold=1.0)

    def measure(th: float) -> float:
        base.lif_threshold = {k: th for k in base.lif_threshold}
        ones = [0.0, 0.0]

        def rec(name: str, t: int, s: np.ndarray) -> None:
            if not name.startswith("lif:") and name != "embed":
                ones[0] += float(s.sum())
                ones[1] += s.size

        float_forward(base, x, timesteps=T, rng=np.random.default_rng(seed), k_s=cfg.resolved_k_s(arch.d_k),
                      k_o=cfg.resolved_k_o(arch.n_tokens), leak_shift=cfg.lif.leak_shift, reset=cfg.lif.reset,
                      record=rec)
        return ones[0] / max(ones[1], 1.0)

    lo, hi = math.log(1e-2), math.log(1e1)
    best = (float("inf"), 1.0, 0.0)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        d = measure(math.exp(mid))
        if abs(d - density) < best[0]:
            best = (abs(d - density), math.exp(mid), d)
        if d > density:
            lo = mid
        else:
            hi = mid
    base.lif_threshold = {k: best[1] for k in base.lif_threshold}
    base.training = {"kind": "random", "seed": seed, "target_density": density, "threshold": best[1]}
    return base.validate(), best[2]
