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


def pcm_weight_noise(w: torch.Tensor, scale: float, t_s: float, pcm=None, tile_cols: int = 256,
                     per_tile: bool = False) -> torch.Tensor:
    """Noise to add to ``w`` (in, out) so that ``w + noise`` is ``w`` programmed on PCM and read at ``t_s``.

    The numpy device model of ``bittrue.program`` in torch, from the same ``PCMConfig`` (default: the spec's):
    mapping to G+/G- (spec 4.3; per column, or per tile of ``tile_cols`` columns with ``per_tile``),
    ``bittrue.program.device_conductance`` itself (programming noise, drift with per-device nu, 1/f read
    noise; each standard-normal draw scaled by ``scale``, 0 gives the drift mean only) and global drift
    compensation with the same granularity as ``program``: one gain per column tile, the sum of both
    polarities' conductances at programming over their sum at ``t_s``.  Not quantised (training only).
    """
    from bittrue.config import PCMConfig
    from bittrue.program import device_conductance

    pcm = PCMConfig() if pcm is None else pcm
    with torch.no_grad():
        n_out = w.shape[1]
        wmax = w.abs().amax(0, keepdim=True).clamp_min(1e-12)
        if per_tile:
            for c0 in range(0, n_out, tile_cols):
                wmax[:, c0:c0 + tile_cols] = wmax[:, c0:c0 + tile_cols].amax()
        g_t = torch.stack([w.clamp_min(0), (-w).clamp_min(0)]) / wmax * pcm.g_max_uS
        xi = [scale * torch.randn_like(g_t) for _ in range(3)]
        g_p, g_now = device_conductance(g_t, pcm, float(t_s), *xi)
        if pcm.drift_compensation:
            for c0 in range(0, n_out, tile_cols):
                sp = g_p[:, :, c0:c0 + tile_cols].sum()
                st = g_now[:, :, c0:c0 + tile_cols].sum()
                if st > 0:
                    g_now[:, :, c0:c0 + tile_cols] *= sp / st
        w_t = (g_now[0] - g_now[1]) / pcm.g_max_uS * wmax
        return w_t - w


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
                    self._noise = pcm_weight_noise(w, state.noise * args.pcm_noise, args.pcm_time,
                                                   getattr(state, "pcm", None), getattr(state, "tile_cols", 256))
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
