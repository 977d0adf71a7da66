"""The spec-4.4 PCM device model in torch, shared by the training scripts (tools/train.py, tools/train_mimo.py).

Training-time twin of ``bittrue.program``'s numpy device model, applied to a weight matrix: used to make training
hardware-aware, never by inference.
"""
from __future__ import annotations

import math

import torch


def pcm_weight_noise(w: torch.Tensor, scale: float, t_s: float) -> torch.Tensor:
    """Noise to add to ``w`` (in, out) so that ``w + noise`` is ``w`` programmed on PCM and read at ``t_s``.

    Per-column mapping to G+/G- (spec 4.3), programming noise, drift with per-device exponents, 1/f read noise
    (each stochastic term scaled by ``scale``; 0 gives the drift mean only) and global drift compensation.
    """
    with torch.no_grad():
        wmax = w.abs().amax(0, keepdim=True).clamp_min(1e-12)
        t, t0, tr = t_s, 20.0, 250e-9

        def device(g):
            sig = (0.26348 + 1.9650 * g - 1.1731 * g * g) / 25.0
            g_prog = (g + scale * sig * torch.randn_like(g)).clamp_min(0)
            if t <= 0:
                return g_prog, g_prog
            lg = torch.log(g.clamp_min(1e-6))
            mu = (-0.0155 * lg + 0.0244).clamp(0.049, 0.1)
            sd = (-0.0125 * lg - 0.0059).clamp(0.008, 0.045)
            nu = (mu + scale * sd * torch.randn_like(g)).abs()
            g_d = g_prog * ((t + t0) / t0) ** (-nu)
            q = (0.0088 / (g_d.abs() ** 0.65).clamp_min(1e-3)).clamp_max(0.2)
            rn = math.sqrt(math.log((t + t0 + tr) / (2 * tr)))
            g_r = (g_d + g_d.abs() * scale * q * rn * torch.randn_like(g)).clamp_min(0)
            return g_prog, g_r

        pp, pt = device(w.clamp_min(0) / wmax)
        mp, mt = device((-w).clamp_min(0) / wmax)
        w_prog, w_t = pp - mp, pt - mt
        alpha = w_prog.sum(0).abs().sum() / w_t.sum(0).abs().sum().clamp_min(1e-12)
        return w_t * alpha * wmax - w
