"""Program: hardware image + PCM device model at inference time t -> integer chip (spec 4.4, 4.5, 4.7).

For each device (every G+ and G- of every crossbar) with target ``g_T``, in this order, using
``numpy.random.default_rng([program_seed, layer_id])`` with draws in a fixed order
(programming noise of G+, of G-, drift exponent of G+, of G-, read noise of G+, of G-):

1. programming noise: ``g_P = max(0, g_T + sigma_P(g) xi)``,
   ``sigma_P = c0 + c1 g + c2 g^2`` uS, ``g = g_T / g_max``;
2. drift: ``g_D = g_P ((t + t0) / t0)^(-nu)``, ``nu = |mu + sigma xi|``, ``mu``, ``sigma`` clipped
   affine functions of ``ln g`` (``g = max(g_T / g_max, 1e-7)`` as in aihwkit);
3. 1/f read noise frozen at t: ``g = max(0, g_D + |g_D| Q sqrt(ln((t + t0 + t_r)/(2 t_r))) xi)``,
   ``Q = min(c / max(g^e, 1e-3), Q_max)`` with ``g = g_P / g_max`` the *programmed* conductance (as aihwkit).

The conductances are then quantised once to the integer image (units ``g_max / 2^g_bits``); from
here on everything is integer.  Global drift compensation (per column-tile group): the gain
``alpha = sum(image at programming) / sum(image at t)`` over all devices of the group, both
polarities (the column-sum reads of G+ and G- bit lines with all word lines on), is folded into
the requantisation multiplier.  ``device="ideal"`` skips 1-3 and the output noise (alpha = 1).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .compile import HardwareImage, LayerImage, n_tiles, quantise_conductance
from .config import ConfigError, HardwareConfig, PCMConfig

DEVICES = ("ideal", "pcm")


@dataclass
class LayerChip:
    name: str
    layer_id: int
    g_pos_code: np.ndarray  #: int16 (in, out)
    g_neg_code: np.ndarray  #: int16 (in, out)
    g_diff_code: np.ndarray  #: int16 (in, out) = G+ - G-
    i_fs_code: np.ndarray  #: int64 (n_col_tiles,)
    sigma_code: np.ndarray  #: int64 (n_col_tiles,)
    m_code: np.ndarray  #: int64 (out,)
    b_code: np.ndarray  #: int64 (out,)
    s_shift: int
    alpha: np.ndarray  #: float64 (n_col_tiles,) drift-compensation gain (informational)


@dataclass
class Chip:
    """A programmed XPK-1: every integer the run needs."""

    image: HardwareImage
    layers: list[LayerChip]
    device: str
    t_inference_s: float
    drift_compensation: bool
    program_seed: int
    output_noise: bool

    @property
    def arch(self):
        return self.image.arch

    @property
    def config(self) -> HardwareConfig:
        return self.image.config

    def layer(self, name: str) -> LayerChip:
        for lay in self.layers:
            if lay.name == name:
                return lay
        raise KeyError(name)


def device_conductance(g_t, p: PCMConfig, t_s: float, xi_p, xi_d, xi_r):
    """(g at programming, g at time t) in uS of targets ``g_t`` (uS), given the three standard-normal draws.

    The spec-4.4 device model as one formula for numpy arrays and torch tensors alike (the training-time noise
    of ``tools/_torch_hw.py`` calls this same function with torch tensors, so the two cannot drift apart).
    ``xi_p``, ``xi_d``, ``xi_r`` are the programming, drift-exponent and read-noise draws, shaped like ``g_t``
    (a training run passes them scaled).  As in aihwkit's ``PCMLikeNoiseModel``: the drift coefficients come
    from the target (``g = max(g_T / g_max, 1e-7)``), the 1/f factor Q from the *programmed* conductance
    ``g_P / g_max``, and the read noise is applied at every t (its log argument is at least 1).
    """
    g_max = p.g_max_uS
    g_rel = g_t / g_max
    if p.programming_noise:
        sig = p.prog_noise_c0_uS + p.prog_noise_c1_uS * g_rel + p.prog_noise_c2_uS * g_rel ** 2
        g_p = (g_t + sig.clip(0.0, None) * xi_p).clip(0.0, None)
    else:
        g_p = g_t * 1.0
    g_now = g_p
    if p.drift and t_s > 0:
        lg = (g_rel.clip(1e-7, None)).log() if hasattr(g_rel, "log") else np.log(np.maximum(g_rel, 1e-7))
        mu = (p.drift_mu_slope * lg + p.drift_mu_offset).clip(p.drift_mu_min, p.drift_mu_max)
        sd = (p.drift_sigma_slope * lg + p.drift_sigma_offset).clip(p.drift_sigma_min, p.drift_sigma_max)
        nu = abs(mu + sd * xi_d)
        g_now = g_p * ((t_s + p.t0_s) / p.t0_s) ** (-nu)
    if p.read_noise:
        gp_rel = abs(g_p) / g_max
        q = (p.read_noise_q / (gp_rel ** p.read_noise_exp).clip(1e-3, None)).clip(None, p.read_noise_q_max)
        arg = max((t_s + p.t0_s + p.t_read_s) / (2 * p.t_read_s), 1.0)
        g_now = (g_now + abs(g_now) * q * math.sqrt(math.log(arg)) * xi_r).clip(0.0, None)
    return g_p, g_now


def _device_conductance(g_t: np.ndarray, p: PCMConfig, t_s: float, rng: np.random.Generator
                        ) -> tuple[np.ndarray, np.ndarray]:
    """(g at programming, g at time t) in uS for stacked targets g_t (2, in, out); draws in a fixed order."""
    xi_p = rng.standard_normal(g_t.shape)
    xi_d = rng.standard_normal(g_t.shape)
    xi_r = rng.standard_normal(g_t.shape)
    return device_conductance(g_t, p, t_s, xi_p, xi_d, xi_r)


def requant_params(lay: LayerImage, alpha_cols: np.ndarray, cfg: HardwareConfig) -> tuple[np.ndarray, np.ndarray, int]:
    """Integer (M, B, S) with y_code = (acc * M + B) >> S ~ a * (W x) + b in fixed point (spec 4.7).

    For a bit-serial layer ``acc`` is the shift-added sum of the k passes' codes, ``2^k`` times the code sum
    of one spike vector of the same expectation, so ``M`` carries the factor ``2^-k`` (spec 5.3).
    """
    t = cfg.tile
    fb = cfg.lif.frac_bits
    ifs_cols = np.repeat(lay.i_fs_code, t.cols)[: lay.n_out].astype(np.float64)
    bitserial = cfg.bitserial_layer(lay.name)
    passes = cfg.read_passes(lay.name)
    in_scale = 2.0 ** -passes if bitserial else 1.0  # a bit-serial sum is 2^k times the spike-vector sum
    m_real = (lay.affine_a * lay.w_max * ifs_cols * alpha_cols * 2.0 ** fb * in_scale
              / 2.0 ** (t.g_bits + t.adc_bits - 1))
    b_real = lay.affine_b * 2.0 ** fb
    m_lim = 2.0 ** (t.requant_m_bits - 1) - 1
    m_abs = float(np.max(np.abs(m_real))) if m_real.size else 0.0
    b_abs = float(np.max(np.abs(b_real))) if b_real.size else 0.0
    if m_abs > m_lim:  # even at S = 0 the multiplier would not fit its register
        raise ConfigError(f"tile.requant_m_bits = {t.requant_m_bits}: layer {lay.name} needs a requantisation "
                          f"multiplier of {m_abs:.4g}, above {m_lim:.0f}; raise tile.requant_m_bits, tile.adc_bits "
                          f"or tile.g_bits, or lower lif.frac_bits")
    s = 0
    while s < 48 and m_abs * 2.0 ** (s + 1) <= m_lim and b_abs * 2.0 ** (s + 1) < 2.0 ** 52:
        s += 1
    m = np.floor(m_real * 2.0 ** s + 0.5).astype(np.int64)
    b = np.floor(b_real * 2.0 ** s + 0.5).astype(np.int64)
    if bitserial:  # acc reaches (2^k - 1) n_rt 2^(b-1); acc * M + B must fit int64
        acc_max = ((1 << passes) - 1) * n_tiles(lay.n_in, t.rows) * (1 << (t.adc_bits - 1))
        if acc_max * int(np.max(np.abs(m), initial=0)) + int(np.max(np.abs(b), initial=0)) + (1 << s) >= 1 << 63:
            raise ConfigError(f"encoder.mode = bitserial: the requantisation of layer {lay.name} would overflow "
                              f"64 bits (encoder.bits = {cfg.encoder.bits}, tile.adc_bits = {t.adc_bits}, "
                              f"tile.requant_m_bits = {t.requant_m_bits}); lower one of them")
    if s > 0:
        b = b + (np.int64(1) << np.int64(s - 1))
    return m, b, s


def program(image: HardwareImage, device: str = "pcm", *, t_inference_s: float | None = None,
            drift_compensation: bool | None = None, program_seed: int = 0) -> Chip:
    """Program ``image`` onto devices and return the integer :class:`Chip`.

    ``t_inference_s`` and ``drift_compensation`` default to the configuration's ``pcm`` section.
    """
    if device not in DEVICES:
        raise ValueError(f"device {device!r}: must be one of {', '.join(DEVICES)}")
    cfg = image.config
    p = cfg.pcm
    t_s = float(p.t_inference_s if t_inference_s is None else t_inference_s)
    if not np.isfinite(t_s) or t_s < 0:
        raise ValueError(f"drift time {t_s!r}: must be a finite number of seconds >= 0")
    comp = p.drift_compensation if drift_compensation is None else bool(drift_compensation)
    cols = cfg.tile.cols
    layers = []
    for lay in image.layers:
        g_t = np.stack([lay.g_pos_uS, lay.g_neg_uS])
        if device == "ideal":
            code_t = quantise_conductance(g_t, cfg)
            alpha = np.ones(n_tiles(lay.n_out, cols))
        else:
            rng = np.random.default_rng([int(program_seed), lay.layer_id])
            g_p, g_now = _device_conductance(g_t, p, t_s, rng)
            code_p = quantise_conductance(g_p, cfg)
            code_t = quantise_conductance(g_now, cfg)
            alpha = np.ones(n_tiles(lay.n_out, cols))
            if comp:
                for ct in range(len(alpha)):
                    sp = int(code_p[:, :, ct * cols:(ct + 1) * cols].astype(np.int64).sum())
                    st = int(code_t[:, :, ct * cols:(ct + 1) * cols].astype(np.int64).sum())
                    alpha[ct] = sp / st if st > 0 else 1.0
        alpha_cols = np.repeat(alpha, cols)[: lay.n_out]
        m, b, s = requant_params(lay, alpha_cols, cfg)
        diff = code_t[0].astype(np.int32) - code_t[1]
        layers.append(LayerChip(name=lay.name, layer_id=lay.layer_id, g_pos_code=code_t[0], g_neg_code=code_t[1],
                                g_diff_code=diff.astype(np.int16), i_fs_code=lay.i_fs_code.copy(),
                                sigma_code=lay.sigma_code.copy(), m_code=m, b_code=b, s_shift=s, alpha=alpha))
    return Chip(image=image, layers=layers, device=device, t_inference_s=t_s, drift_compensation=comp,
                program_seed=int(program_seed), output_noise=(device == "pcm" and p.output_noise))
