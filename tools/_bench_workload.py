"""The bench's workload (``tools/bench.py``): a random spiking transformer whose LIFs fire at a set density,
compiled and programmed the way a user's model is, its inputs, and the spike densities and work counts that the
report quotes.

* :func:`make_arch` - a ``cifar10-vit-small``-like architecture of N tokens and width D (spec 6).
* :func:`calibrate_thresholds` - LIF thresholds for a target firing rate, by a layer-major float pass over the
  netlist (exact for this network: within a time step data flows forward, a LIF depends on its own past only).
* :func:`build_workload` - random model -> thresholds on the programmed chip's effective weights -> compile (ADC
  calibration by :func:`bittrue.compile.compile_model` itself) -> program.
* :func:`emulator_densities` - the spike density at every crossbar input as the emulator sees it (a ``Sink``).
* :func:`adds_per_image`, :func:`conversions_per_image` - the work of one image, from the netlist.
"""
from __future__ import annotations

import dataclasses
import sys
import time

import numpy as np

from bittrue import netlist as nl

#: crossbar layer kinds, in data-flow order
KINDS = ("embed", "qkv", "proj", "mlp1", "mlp2", "head")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def layer_kind(name: str) -> str:
    """``blocks.3.mlp1`` -> ``mlp1``; ``embed`` -> ``embed``."""
    return name.rsplit(".", 1)[-1]


def make_arch(n_tokens: int = 65, dim: int = 512, *, depth: int = 6, d_k: int = 64, timesteps: int = 4,
              name: str | None = None):
    """A ``cifar10-vit-small``-like architecture with ``n_tokens`` (CLS + patches) and width ``dim``.

    ``heads = dim // d_k`` (``d_k = min(d_k, dim)``), ``mlp = 4 dim``; 48 features per token (4x4x3 patches).
    ``make_arch()`` equals ``ARCHITECTURES["cifar10-vit-small"]`` up to its name.
    """
    from bittrue.model import ARCHITECTURES

    base = ARCHITECTURES["cifar10-vit-small"]
    d_k = min(d_k, dim)
    same = n_tokens == base.n_tokens
    arch = dataclasses.replace(base, name=name or f"vit-N{n_tokens}-D{dim}", n_patches=n_tokens - 1, dim=dim,
                               depth=depth, heads=dim // d_k, d_k=d_k, mlp=4 * dim, timesteps=timesteps,
                               image_shape=base.image_shape if same else (), patch=base.patch if same else 0)
    arch.validate()
    return arch


def random_inputs(arch, n: int, density: float, seed: int = 1) -> np.ndarray:
    """uint8 codes (n, n_patches, token_features), uniform in ``0 .. round(2 density 256) - 1``.

    The encoder fires with probability code / 256, so its mean spike density is about ``density``.
    (For the CIFAR shape these are random 32x32x3 images, already patchified.)
    """
    hi = int(np.clip(round(2 * density * 256), 1, 256))
    rng = np.random.default_rng(seed)
    return rng.integers(0, hi, size=(n, arch.n_patches, arch.token_features), dtype=np.uint8)


def _lif_run(y: np.ndarray, theta: float, decay: float, soft: bool, keep: bool = True):
    """Float LIFs fed with the sequence ``y`` (T, ...): (spikes float32 like ``y`` or None, spike rate)."""
    v = np.zeros(y.shape[1:], dtype=np.float32)
    out = np.empty(y.shape, dtype=np.float32) if keep else None
    n = 0
    for t in range(y.shape[0]):
        v *= decay
        v += y[t]
        s = v >= theta
        n += int(np.count_nonzero(s))
        if keep:
            out[t] = s
        if soft:
            v[s] -= theta
        else:
            v[s] = 0.0
    return out, n / y.size


def lif_rate(y: np.ndarray, theta: float, decay: float, soft: bool) -> float:
    """Spike rate of float LIFs fed with the sequence ``y`` (T, ...) (hard or soft reset)."""
    return _lif_run(y, theta, decay, soft, keep=False)[1]


def threshold_for_rate(y: np.ndarray, target: float, decay: float, soft: bool, frac_bits: int = 8,
                       width: int = 16) -> float:
    """Largest threshold on the hardware's fixed-point grid whose LIF rate on ``y`` (T, ...) is >= ``target``
    (or the closer of the two codes around it).

    Integer bisection over threshold codes ``1 .. 2^(width-1) - 1`` (``theta = code / 2^frac_bits``), so the
    float threshold is exactly representable and compiles to the same code.  The rate of a LIF is
    non-increasing in its threshold for the inputs seen here; bisection needs ~15 evaluations.
    """
    lo, hi = 1, (1 << (width - 1)) - 1
    scale = float(1 << frac_bits)
    if lif_rate(y, lo / scale, decay, soft) < target:
        return lo / scale
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if lif_rate(y, mid / scale, decay, soft) >= target:
            lo = mid
        else:
            hi = mid
    r_lo = lif_rate(y, lo / scale, decay, soft)
    r_hi = lif_rate(y, hi / scale, decay, soft)
    return (hi if abs(r_hi - target) < abs(r_lo - target) else lo) / scale


def calibrate_thresholds(model, x_code: np.ndarray, timesteps: int, density: float, cfg=None, seed: int = 0,
                         weights: dict | None = None, max_sites: int = 1 << 18) -> dict[str, float]:
    """Set every ``model.lif_threshold`` so its LIF fires at rate ``density``; return float input densities.

    The float network of :mod:`bittrue.floatmodel` is run *layer-major*: each op of the netlist over all T steps
    of the batch at once.  That is exact for this network because, within a time step, data flows forward only,
    and a LIF's state depends only on its own past inputs.  So when a LIF is reached, its whole input sequence
    is known, and its threshold is chosen by :func:`threshold_for_rate` before the ops after it run.

    Returns the spike density at the input of every crossbar (``embed``, ``blocks.b.qkv``, ...) and of every LIF
    output (``lif:<name>``) in this float pass.  ``weights`` (name -> (W, b)) replaces the float model's folded
    weights, e.g. by the programmed chip's effective weights (:func:`effective_weights`), so that PCM noise and
    drift are part of the calibration.  The bisection looks at ``max_sites`` neurons at most (a fixed random
    subset; the standard error of the rate is then < 0.001).
    """
    from bittrue.config import HardwareConfig
    from bittrue.floatmodel import attention_mask, ssa
    from bittrue.modes import Reset

    cfg = cfg or HardwareConfig()
    arch = model.arch
    rng = np.random.default_rng(seed)
    sub_rng = np.random.default_rng(seed + 1)
    decay = 1.0 - 2.0 ** (-cfg.lif.leak_shift)
    soft = cfg.lif.reset == Reset.SOFT
    T, N, D = int(timesteps), arch.n_tokens, arch.dim
    off = 1 if arch.cls_token else 0
    mask = attention_mask(arch.mask, N)
    k_s, k_o = cfg.resolved_k_s(arch.d_k), cfg.resolved_k_o(N)
    wts = {}
    for name, lin in model.linear.items():
        if weights is not None and name in weights:
            wts[name] = tuple(np.asarray(v, np.float32) for v in weights[name])
        else:
            a, b = lin.affine()
            wts[name] = ((lin.weight.astype(np.float64) * a).astype(np.float32), b.astype(np.float32))
    dens: dict[str, float] = {}

    def lif(name: str, y: np.ndarray) -> np.ndarray:
        y = np.ascontiguousarray(y, dtype=np.float32)
        yf = y.reshape(T, -1)
        if yf.shape[1] > max_sites:
            yf = yf[:, np.sort(sub_rng.choice(yf.shape[1], max_sites, replace=False))]
        th = threshold_for_rate(yf, density, decay, soft, cfg.lif.frac_bits, cfg.lif.width)
        model.lif_threshold[name] = th
        s, rate = _lif_run(y, th, decay, soft)
        dens["lif:" + name] = rate
        return s

    x = np.asarray(x_code)
    nb = len(x)
    pos = model.pos.astype(np.float32)
    val = {nl.INPUT: x.astype(np.float32) / 256.0}
    for op in nl.netlist(arch):  # layer-major: each op over all T steps of the batch at once
        a = val[op.src[0]]
        if op.kind == nl.ENCODER:
            y = (rng.random((T,) + a.shape) < a).astype(np.float32)
        elif op.kind == nl.XBAR:
            dens[op.name] = float(a.mean())
            w, b = wts[op.name]
            y = a @ w + b
        elif op.kind == nl.EMBED:
            y = np.empty((T, nb, N, D), dtype=np.float32)
            if off:
                y[:, :, 0] = model.cls.astype(np.float32) + pos[0]
            y[:, :, off:] = a + pos[off:]
        elif op.kind == nl.LIF:
            y = lif(op.name, a[:, :, arch.readout_slice] if op.readout else a[..., op.col0:op.col0 + op.n_out])
        elif op.kind == nl.SSA:
            q, k, v = (val[n].reshape(T * nb, N, D) for n in op.src)
            y = ssa(q, k, v, arch.heads, mask, k_s, k_o, rng).astype(np.float32).reshape(T, nb, N, D)
        elif op.kind == nl.ADD:
            y = a + val[op.src[1]]
        else:  # LOGITS: not needed for the thresholds
            continue
        val[op.dst] = y
    return dens


def effective_weights(chip) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Float (W_eff, b) per layer that the programmed chip realises, ADC rounding and output noise aside.

    ``y = a * (x @ (G_diff_code * w_max * alpha / 2^g_bits)) + b`` (spec 4.3-4.7; ``alpha`` the drift-
    compensation gain of the column-tile group), read from the chip's conductance image.
    """
    cfg = chip.config
    out = {}
    for lay in chip.layers:
        im = chip.image.layer(lay.name)
        alpha = np.repeat(lay.alpha, cfg.tile.cols)[: im.n_out]
        col = im.w_max * alpha / float(1 << cfg.tile.g_bits) * im.affine_a
        out[lay.name] = ((lay.g_diff_code.astype(np.float64) * col).astype(np.float32),
                         np.asarray(im.affine_b, np.float32))
    return out


@dataclasses.dataclass
class Workload:
    arch: object
    model: object
    chip: object
    cfg: object
    float_density: dict
    build_s: dict
    weights: dict | None = None  #: effective float weights of the programmed chip (pcm), for TorchSim


def build_workload(arch, *, density: float = 0.15, seed: int = 0, n_thresh: int = 4, device: str = "pcm",
                   cfg=None) -> Workload:
    """Random float model of ``arch`` (thresholds at ``density``), compiled and programmed.

    With ``device="pcm"`` the model is first compiled and programmed once to read the effective weights of the
    PCM devices (noise, drift, compensation; the conductances depend on neither thresholds nor ADC scales); the
    layer-major threshold pass runs on those, so that the *emulator's* spike densities hit ``density`` (on the
    ideal float weights they would be ~0.03 higher).  Then :func:`bittrue.compile.compile_model` compiles the
    model with its thresholds and calibrates the ADCs by its own rule on the ``n_thresh`` images of the
    threshold pass (the float SNN of :mod:`bittrue.floatmodel`, float64 matmuls), and the image is programmed.
    """
    from bittrue.compile import compile_model
    from bittrue.config import HardwareConfig
    from bittrue.model import random_float_model
    from bittrue.program import program

    cfg = cfg or HardwareConfig()
    tm = {}
    t0 = time.perf_counter()
    model = random_float_model(arch, seed=seed, threshold=1.0)
    weff = None
    if device == "pcm":
        weff = effective_weights(program(compile_model(model, cfg, None), device, program_seed=seed))
    tm["pre_program_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    x = random_inputs(arch, n_thresh, density, seed=seed + 100)
    fd = calibrate_thresholds(model, x, arch.timesteps, density, cfg, seed=seed, weights=weff)
    tm["thresholds_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    image = compile_model(model, cfg, x, calib_seed=seed)
    tm["compile_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    chip = program(image, device, program_seed=seed)
    tm["program_s"] = time.perf_counter() - t0
    return Workload(arch=arch, model=model, chip=chip, cfg=cfg, float_density=fd, build_s=tm, weights=weff)


class DensitySink:
    """``bittrue.run.Sink`` that averages the spike density at every crossbar input (and the SSA's q, k, v).

    The SSA's output O (the ``proj`` input) is logged per head (``o_spikes``, (B, H, N, d_k)); its density is
    the same as that of the concatenated heads.
    """

    def __init__(self, arch):
        self.signals = frozenset({"spikes", "encoder", "ssa"})
        self.sum: dict[str, float] = {}
        self.cnt: dict[str, int] = {}
        self.map = {}  # signal path -> crossbar fed by it, or ssa_in:<LIF> for the SSA's q, k, v
        for op in nl.netlist(arch):
            if op.kind == nl.XBAR:
                self.map[op.src[0]] = op.name
            elif op.kind == nl.SSA:
                for src in op.src:
                    self.map[src] = "ssa_in:" + nl.producer(arch, src).name

    def __call__(self, path: str, t: int, data: np.ndarray) -> None:
        key = self.map.get(path)
        if key is not None:
            self.sum[key] = self.sum.get(key, 0.0) + float(np.count_nonzero(data))
            self.cnt[key] = self.cnt.get(key, 0) + data.size

    def densities(self) -> dict[str, float]:
        return {k: self.sum[k] / self.cnt[k] for k in self.sum}


def emulator_densities(chip, x: np.ndarray, timesteps: int) -> dict[str, float]:
    """Spike density at every crossbar input as the emulator sees it (one run with a sink)."""
    from bittrue.run import Runner

    sink = DensitySink(chip.arch)
    Runner(chip, timesteps=timesteps).run_batch(x, np.arange(len(x), dtype=np.int64), sink)
    return sink.densities()


def kind_densities(dens: dict[str, float]) -> dict[str, float]:
    """Average density per layer kind from a per-layer dict (``blocks.b.mlp1`` -> ``mlp1``)."""
    acc: dict[str, list[float]] = {}
    for name, d in dens.items():
        if not name.startswith(("lif:", "ssa_in:")):
            acc.setdefault(layer_kind(name), []).append(d)
    return {k: float(np.mean(v)) for k, v in acc.items()}


def adds_per_image(arch, kind_density: dict[str, float], timesteps: int) -> float:
    """Synaptic adds (active rows x columns) of one image over T at the given input densities."""
    return timesteps * sum(op.tokens * kind_density.get(layer_kind(name), 0.15) * op.n_in * op.n_out
                           for name, op in nl.crossbars(arch).items())


def conversions_per_image(arch, tile_rows: int, timesteps: int) -> int:
    """ADC conversions of one image over T: every (token, row tile, column) of every crossbar, each step."""
    return timesteps * sum(op.tokens * -(-op.n_in // tile_rows) * op.n_out for op in nl.crossbars(arch).values())
