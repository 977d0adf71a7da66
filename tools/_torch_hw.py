"""Torch pieces of the XPK-1 datapath shared by the training scripts (tools/train.py, tools/train_mimo.py).

The expectation form the float SNN (``bittrue.floatmodel``) computes, with surrogate / straight-through gradients:
LIF neurons, Bernoulli sampling, the crossbar layer with the spec-4.4 PCM device model (the training-time twin of
``bittrue.program``'s numpy model) and an ADC model.  Used to make training hardware-aware, never by inference.
"""
from __future__ import annotations

import math

import torch


class SpikeFn(torch.autograd.Function):
    """Heaviside(x >= 0) forward, atan surrogate backward (alpha = 2)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        alpha = 2.0
        return g * (alpha / 2) / (1 + (math.pi / 2 * alpha * x) ** 2)


def bern_ste(p: torch.Tensor) -> torch.Tensor:
    """Bernoulli(p) sample forward, straight-through gradient of p backward."""
    return (torch.rand_like(p) < p).to(p.dtype) + p - p.detach()


class LIF(torch.nn.Module):
    """Float LIF of spec 5.1: ``v <- v (1 - 2^-leak_shift) + y``, fire at ``v >= theta``, hard or soft reset.

    ``theta`` is stored as a log (learnable when ``learn``); the reset is excluded from the gradient.
    """

    def __init__(self, theta: float, learn: bool, leak_shift: int = 1, hard_reset: bool = True):
        super().__init__()
        self.log_theta = torch.nn.Parameter(torch.tensor(math.log(theta)), requires_grad=learn)
        self.decay = 1.0 - 2.0 ** (-leak_shift)
        self.hard_reset = hard_reset
        self.v = None

    def theta(self):
        return self.log_theta.exp()

    def forward(self, y):
        th = self.theta()
        v = y if self.v is None else self.v * self.decay + y
        s = SpikeFn.apply(v - th)
        self.v = v * (1 - s.detach()) if self.hard_reset else v - s.detach() * th
        return s


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


def hw_linear_class(state, args):
    """The training-time crossbar layer ``BN(x @ W)`` with PCM weight noise and an ADC model.

    ``state`` carries ``noise`` (the current noise scale) and ``forward_id`` (one PCM draw per network forward);
    ``args`` the options ``pcm_noise``, ``pcm_time``, ``adc_bits`` and ``out_noise``.
    """
    import torch.nn as nn

    def round_ste(x):
        return x + (torch.round(x) - x).detach()

    class HWLinear(nn.Module):
        """BN(x @ W) with PCM weight noise and an ADC model in training."""

        def __init__(self, fin, fout):
            super().__init__()
            self.weight = nn.Parameter(torch.empty(fin, fout))
            nn.init.kaiming_uniform_(self.weight.T, a=math.sqrt(5))
            self.bn = nn.BatchNorm1d(fout)

        def forward(self, x):
            w = self.weight
            hw = self.training and state.noise > 0
            if hw and args.pcm_noise > 0:
                if getattr(self, "_noise_id", None) != state.forward_id:
                    self._noise = pcm_weight_noise(w, state.noise * args.pcm_noise, args.pcm_time)
                    self._noise_id = state.forward_id
                w = w + self._noise
            y = x @ w
            if hw and args.adc_bits > 0:
                wmax = self.weight.detach().abs().amax(0).clamp_min(1e-12)
                cur = y / wmax
                half = 2 ** (args.adc_bits - 1)
                lsb = (cur.detach().abs().amax().clamp_min(1e-6)) / half
                code = cur / lsb
                code = code + state.noise * args.out_noise * torch.randn_like(code)
                code = round_ste(code)
                code = code + (code.clamp(-half, half - 1) - code).detach()
                y = code * lsb * wmax
            shp = y.shape
            return self.bn(y.reshape(-1, shp[-1])).reshape(shp)

    return HWLinear
