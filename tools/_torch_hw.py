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

    def _step(self, v, y, th):
        """One step from membrane ``v`` (None: at rest) with input ``y``: (spikes, membrane after the reset)."""
        v = y if v is None else v * self.decay + y
        s = SpikeFn.apply(v - th)
        return s, (v * (1 - s.detach()) if self.hard_reset else v - s.detach() * th)

    def rate(self, y, timesteps: int):
        """Mean spike count of this neuron over ``timesteps`` steps of the constant input ``y``, from a rest
        membrane (the rate twin of ``HWState.rate``): the steps of :meth:`forward`, without the matmuls of the
        other steps; the membrane state is left untouched."""
        th = self.theta()
        v, acc = None, 0
        for _t in range(int(timesteps)):
            s, v = self._step(v, y, th)
            acc = acc + s
        return acc / int(timesteps)

    def forward(self, y):
        s, self.v = self._step(self.v, y, self.theta())
        return s


def weight_scale(w: torch.Tensor, mapping, tile_cols: int) -> torch.Tensor:
    """w_max (1, out) of spec 4.3 as ``bittrue.compile.target_conductances`` computes it: max |w| per column
    (``Mapping.COLUMN``) or per column tile of ``tile_cols`` columns (``Mapping.TILE``); 0 becomes 1."""
    from bittrue.modes import Mapping

    a = w.detach().abs()
    if Mapping(mapping) == Mapping.COLUMN:
        wmax = a.amax(0, keepdim=True)
    else:
        wmax = torch.empty_like(a[:1])
        for c0 in range(0, w.shape[1], tile_cols):
            wmax[:, c0:c0 + tile_cols] = a[:, c0:c0 + tile_cols].amax()
    return torch.where(wmax > 0, wmax, torch.ones_like(wmax))


def tile_amax(x: torch.Tensor, tile_cols: int) -> torch.Tensor:
    """(out,) max of ``x`` (..., out) over everything but the last axis and over each column tile, per column."""
    m = x.reshape(-1, x.shape[-1]).amax(0)
    out = torch.empty_like(m)
    for c0 in range(0, m.shape[0], tile_cols):
        out[c0:c0 + tile_cols] = m[c0:c0 + tile_cols].amax()
    return out


def pcm_weight_noise(w: torch.Tensor, scale: float, t_s: float, hw=None) -> torch.Tensor:
    """Noise to add to ``w`` (in, out) so that ``w + noise`` is ``w`` programmed on PCM and read at ``t_s``.

    The numpy device model of ``bittrue.program`` in torch, from the same ``HardwareConfig`` (default: the
    spec's), step for step: mapping to G+/G- with ``tile.mapping`` (w_max per column or per column tile of
    ``tile.cols``, spec 4.3), ``bittrue.program.device_conductance`` itself (programming noise, drift with
    per-device nu, 1/f read noise; each standard-normal draw scaled by ``scale``, 0 gives the drift mean only),
    quantisation to the ``tile.g_bits`` conductance image (spec 4.5) and, where ``pcm.drift_compensation``,
    global drift compensation with ``program``'s granularity: one gain per column tile, the sum of both
    polarities' codes at programming over their sum at ``t_s``.  ``tests/training/test_pcm_noise_stats.py``
    compares the two statistically.  Training only: no gradient (the caller adds it straight-through).
    """
    from bittrue.config import HardwareConfig
    from bittrue.program import device_conductance

    hw = HardwareConfig() if hw is None else hw
    pcm, cols = hw.pcm, hw.tile.cols
    lsb = pcm.g_max_uS / (1 << hw.tile.g_bits)

    def quantise(g):  # bittrue.compile.quantise_conductance in conductance units
        return torch.floor(g / lsb + 0.5).clamp(0, 32767)

    with torch.no_grad():
        n_out = w.shape[1]
        wmax = weight_scale(w, hw.tile.mapping, cols)
        g_t = torch.stack([w.clamp_min(0), (-w).clamp_min(0)]) / wmax * pcm.g_max_uS
        xi = [scale * torch.randn_like(g_t) for _ in range(3)]
        g_p, g_now = device_conductance(g_t, pcm, float(t_s), *xi)
        code_p, code_t = quantise(g_p), quantise(g_now)
        if pcm.drift_compensation:
            for c0 in range(0, n_out, cols):
                sp = code_p[:, :, c0:c0 + cols].sum()
                st = code_t[:, :, c0:c0 + cols].sum()
                if st > 0:
                    code_t[:, :, c0:c0 + cols] *= sp / st
        w_t = (code_t[0] - code_t[1]) * lsb / pcm.g_max_uS * wmax
        return w_t - w


class HWOptions:
    """The training-time hardware model of a run: the ``HardwareConfig`` (PCM device model, tile mapping and
    width, ADC bits, output noise) and the training knobs that scale it.

    ``pcm_noise`` scales the PCM stochastic terms (0: off), ``pcm_time_s`` is the read time (default the config's
    ``pcm.t_inference_s``), ``adc_bits`` / ``out_noise_lsb`` default to ``tile.adc_bits`` and
    ``tile.output_noise_lsb`` (0 where ``pcm.output_noise`` is off); 0 ADC bits: no ADC model.
    """

    def __init__(self, hw=None, pcm_noise: float = 1.0, pcm_time_s: float | None = None,
                 adc_bits: int | None = None, out_noise_lsb: float | None = None):
        from bittrue.config import HardwareConfig

        self.hw = HardwareConfig() if hw is None else hw
        self.pcm_noise = float(pcm_noise)
        self.pcm_time_s = float(self.hw.pcm.t_inference_s if pcm_time_s is None else pcm_time_s)
        self.adc_bits = int(self.hw.tile.adc_bits if adc_bits is None else adc_bits)
        default_noise = self.hw.tile.output_noise_lsb if self.hw.pcm.output_noise else 0.0
        self.out_noise_lsb = float(default_noise if out_noise_lsb is None else out_noise_lsb)

    def as_dict(self) -> dict:
        return {"pcm_noise_scale": self.pcm_noise, "pcm_time_s": self.pcm_time_s, "adc_bits": self.adc_bits,
                "out_noise_lsb": self.out_noise_lsb, "tile_cols": self.hw.tile.cols,
                "mapping": self.hw.tile.mapping.name.lower(), "g_bits": self.hw.tile.g_bits,
                "drift_compensation": self.hw.pcm.drift_compensation}


class HWState:
    """Mutable training state shared by the layers of one network: the noise scale (ramped; 0 in evaluation),
    one PCM draw per network forward (``forward_id``: a chip, shared by all time steps), SSA sampled or in
    expectation form (curriculum), ``rate``: run the network's rate twin instead (one pass, encoder and SSA in
    expectation, each LIF its mean spike count over T steps of constant input; a curriculum stage with one
    pass of matmuls instead of T: about 3 times faster per step for mimo-icl at T = 8), the largest |residual| seen in evaluation mode, and ``eval_noise``: apply the
    hardware model in evaluation mode too (running BatchNorm statistics, noise scale ``noise``), for a validation
    on noisy chips.

    Two switches of the spiking forward (not ``rate``) for the hybrids of ``tools/mimo_conversion.py``, which
    measure where a spiking network departs from its rate twin: ``encoder_sample`` (False: the encoder passes its
    probabilities at each step instead of Bernoulli spikes) and ``twin_lifs`` (names of LIF populations that
    output, at each of the T steps, their rate twin value for that step's input instead of spikes).  With every
    population in ``twin_lifs`` and the encoder and SSA in expectation, the T-step forward equals the rate twin.
    ``pcm_layers``: None (every crossbar) or the names of the crossbars (``HWLinear.name``) whose PCM weight
    noise is applied; the others keep their exact weights (the noise is still drawn, so that every choice of
    layers reads the same chip; the ADC model stays on every crossbar)."""

    def __init__(self):
        self.noise = 0.0
        self.eval_noise = False
        self.forward_id = 0
        self.ssa_sample = True
        self.max_abs_r = 0.0
        self.rate = False
        self.encoder_sample = True
        self.twin_lifs: frozenset[str] = frozenset()
        self.pcm_layers: frozenset[str] | None = None


def round_ste(x):
    return x + (torch.round(x) - x).detach()


class HWLinear(torch.nn.Module):
    """The training-time crossbar layer ``BN(x @ W)`` (bias-free) with PCM weight noise and an ADC model.

    In training with ``state.noise > 0``: ``W`` is replaced by ``W + pcm_weight_noise(W)`` (straight-through,
    one draw per network forward), and the column current ``x @ W / w_max`` (``w_max`` by ``tile.mapping``) is
    quantised to ``adc_bits`` signed codes with a full scale of the batch's max |I| per column tile (detached;
    the chip calibrates one full scale per column tile), after ``out_noise_lsb`` LSBs of Gaussian output noise;
    rounding and clamping are straight-through.  Evaluation: plain ``BN(x @ W)``, unless ``state.eval_noise``.
    """

    def __init__(self, fin: int, fout: int, state: HWState, opts: HWOptions, name: str = ""):
        super().__init__()
        self.name = name  #: the crossbar's netlist name (``HWState.pcm_layers``)
        self.weight = torch.nn.Parameter(torch.empty(fin, fout))
        torch.nn.init.kaiming_uniform_(self.weight.T, a=math.sqrt(5))
        self.bn = torch.nn.BatchNorm1d(fout)
        self.state, self.opts = state, opts
        self._noise_id = None

    def forward(self, x):
        st, o = self.state, self.opts
        w = self.weight
        hw = (self.training or st.eval_noise) and st.noise > 0
        if hw and o.pcm_noise > 0:
            if self._noise_id != st.forward_id:
                self._noise = pcm_weight_noise(w, st.noise * o.pcm_noise, o.pcm_time_s, o.hw)
                self._noise_id = st.forward_id
            if st.pcm_layers is None or self.name in st.pcm_layers:  # drawn either way: the same chip
                w = w + self._noise
        y = x @ w
        if hw and o.adc_bits > 0:
            cols = o.hw.tile.cols
            wmax = weight_scale(self.weight, o.hw.tile.mapping, cols)[0]
            cur = y / wmax
            half = 2 ** (o.adc_bits - 1)
            lsb = tile_amax(cur.detach().abs(), cols).clamp_min(1e-6) / half
            code = cur / lsb
            code = code + st.noise * o.out_noise_lsb * torch.randn_like(code)
            code = round_ste(code)
            code = code + (code.clamp(-half, half - 1) - code).detach()
            y = code * lsb * wmax
        shp = y.shape
        return self.bn(y.reshape(-1, shp[-1])).reshape(shp)
