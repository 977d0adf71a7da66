#!/usr/bin/env python
"""Benchmark: bit-true emulator vs a PyTorch float simulation of the same spiking transformer.

Usage::

    python tools/bench.py                 # full run (a few minutes): headline, roofline, breakdown, digits, scaling
    python tools/bench.py --quick         # < 60 s: headline on fewer images, digits, no scaling grid
    python tools/bench.py --json          # the same, one JSON object on stdout (logs on stderr)

What one run measures (docs/performance.md explains the method):

1. **Workload.**  A random float model of ``cifar10-vit-small`` (spec 6: N = 65 tokens, D = 512, depth 6,
   8 heads of d_k = 64, MLP 2048) whose LIF thresholds are set, layer by layer in data-flow order, so that
   every LIF population fires at rate ``--density`` (default 0.15) on a handful of random images
   (:func:`calibrate_thresholds`).  Inputs are fixed random 32x32x3 images with pixel codes uniform in
   ``0 .. 2 * density * 256`` so the encoder's spike density is also about ``density``.  The model is
   compiled (ADC calibration on a few images), programmed with the PCM device model (drift to 1 day,
   output noise on) and run at T = 4.  The spike densities that the *emulator* sees at every crossbar
   input are measured with a :class:`bittrue.run.Sink` and printed.
2. **Headline.**  Emulator images/s (``Runner.run_batch``, after JIT warm-up, best of ``reps``) and the
   images/s of :class:`TorchSim`, a float32 PyTorch simulation of the same network (dense ``addmm``,
   ``torch.bernoulli`` for encoder / S / O, float LIF, same T, dims, thresholds, same thread count,
   ``torch.inference_mode``), and their ratio.  The two are timed in alternation, repetition by repetition
   (:func:`time_pair`), so that a drift of the machine's speed hits both; a paired ratio (median over
   repetitions) is reported too.  The emulator's logits must be identical in every repetition and at every
   batch size tried (bit-exactness check).
3. **Roofline.**  The bare crossbar-accumulate throughput (``crossbar_layer`` standalone, density d minus
   density 0, noise off) in G synaptic adds/s, the accumulate-only bound on images/s it implies for this
   workload, the dense fp32 GEMM throughput of torch on this machine and the torch simulation's share of it.
4. **Breakdown.**  Share of the emulator's wall time in crossbar accumulate, output noise, ADC,
   requantisation, SSA (LFSR draws and the rest), LIF, residual adds, encoder, seeding and Python glue: the
   kernel functions in ``bittrue.run``'s namespace are wrapped with timers for one run, and the crossbar time
   of each layer kind is split with standalone measurements (noise on/off, density 0/d, ADC and requant
   loops alone).
5. **Digits.**  The full digits test split at T = 8 (the shipped model if there is one, else a random model
   calibrated like the above), after warm-up, at the CLI's default batch size.
6. **Scaling** (full run only).  Emulator and torch ms/image for tokens N in (17, 65, 257) x width D in
   (64, 256, 512), depth 6, d_k = 64 (heads = D / 64), MLP = 4 D, T = 4, same density.

Only public entry points of ``bittrue`` are used, except the ADC / requant helpers of
``bittrue.kernels.crossbar`` for the split (reported as n/a if absent).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from bittrue import netlist as nl

ROOT = Path(__file__).resolve().parents[1]

#: crossbar layer kinds, in data-flow order
KINDS = ("embed", "qkv", "proj", "mlp1", "mlp2", "head")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def layer_kind(name: str) -> str:
    """``blocks.3.mlp1`` -> ``mlp1``; ``embed`` -> ``embed``."""
    return name.rsplit(".", 1)[-1]


# ============================================================================ workload
def make_arch(n_tokens: int = 65, dim: int = 512, *, depth: int = 6, d_k: int = 64, timesteps: int = 4,
              name: str | None = None):
    """A ``cifar10-vit-small``-like architecture with ``n_tokens`` (CLS + patches) and width ``dim``.

    ``heads = dim // d_k`` (``d_k = min(d_k, dim)``), ``mlp = 4 dim``; 48 features per token (4x4x3 patches).
    ``make_arch()`` equals ``ARCHITECTURES["cifar10-vit-small"]`` up to its name.
    """
    from bittrue.model import ARCHITECTURES

    base = ARCHITECTURES["cifar10-vit-small"]
    d_k = min(d_k, dim)
    arch = dataclasses.replace(base, name=name or f"vit-N{n_tokens}-D{dim}", n_patches=n_tokens - 1, dim=dim,
                               depth=depth, heads=dim // d_k, d_k=d_k, mlp=4 * dim, timesteps=timesteps,
                               image_shape=() if n_tokens != base.n_tokens else base.image_shape,
                               patch=0 if n_tokens != base.n_tokens else base.patch)
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


def _lif_rate(y: np.ndarray, theta: float, decay: float, soft: bool) -> float:
    """Spike rate of float LIFs fed with the sequence ``y`` (T, ...) (hard or soft reset)."""
    v = np.zeros(y.shape[1:], dtype=np.float32)
    n = 0
    for t in range(y.shape[0]):
        v *= decay
        v += y[t]
        s = v >= theta
        n += int(np.count_nonzero(s))
        if soft:
            v[s] -= theta
        else:
            v[s] = 0.0
    return n / y.size


def _lif_run(y: np.ndarray, theta: float, decay: float, soft: bool) -> np.ndarray:
    v = np.zeros(y.shape[1:], dtype=np.float32)
    out = np.empty(y.shape, dtype=np.float32)
    for t in range(y.shape[0]):
        v *= decay
        v += y[t]
        s = v >= theta
        out[t] = s
        if soft:
            v[s] -= theta
        else:
            v[s] = 0.0
    return out


def threshold_for_rate(y: np.ndarray, target: float, decay: float, soft: bool, frac_bits: int = 8,
                       width: int = 16) -> float:
    """Largest threshold on the hardware's fixed-point grid whose LIF rate on ``y`` (T, ...) is >= ``target``.

    Integer bisection over threshold codes ``1 .. 2^(width-1) - 1`` (``theta = code / 2^frac_bits``), so the
    float threshold is exactly representable and compiles to the same code.  The rate of a LIF is
    non-increasing in its threshold for the inputs seen here; bisection needs ~15 evaluations.
    """
    lo, hi = 1, (1 << (width - 1)) - 1
    scale = float(1 << frac_bits)
    if _lif_rate(y, lo / scale, decay, soft) < target:
        return lo / scale
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _lif_rate(y, mid / scale, decay, soft) >= target:
            lo = mid
        else:
            hi = mid
    # pick the closer of lo / hi
    r_lo = _lif_rate(y, lo / scale, decay, soft)
    r_hi = _lif_rate(y, hi / scale, decay, soft)
    return (hi if abs(r_hi - target) < abs(r_lo - target) else lo) / scale


def calibrate_thresholds(model, x_code: np.ndarray, timesteps: int, density: float, cfg=None,
                         seed: int = 0, collect: dict | None = None, weights: dict | None = None,
                         max_sites: int = 1 << 18) -> dict[str, float]:
    """Set every ``model.lif_threshold`` so its LIF fires at rate ``density``; return float input densities.

    The float network of :mod:`bittrue.floatmodel` is run *layer-major*: each layer over all T steps of the
    batch at once.  That is exact for this network because, within a time step, data flows forward only, and
    a LIF's state depends only on its own past inputs.  So when a LIF is reached, its whole input sequence is
    known, and its threshold is chosen by :func:`threshold_for_rate` before the layers after it run.

    Returns the spike density at the input of every crossbar layer (``embed``, ``blocks.b.qkv``, ...) and of
    every LIF output (``lif:<name>``) in this float pass.  ``collect``, if given, receives every crossbar
    layer's input spikes (float32 (T, B, tokens, in)) for :func:`calibrate_adc`.  ``weights`` (name ->
    (W, b)) replaces the float model's folded weights, e.g. by the programmed chip's effective weights
    (:func:`effective_weights`), so that PCM noise and drift are part of the calibration.  The bisection looks at
    ``max_sites`` neurons at most (a fixed random subset; the standard error of the rate is then < 0.001).
    """
    from bittrue.config import HardwareConfig
    from bittrue.floatmodel import attention_mask, ssa
    from bittrue.modes import Reset

    cfg = cfg or HardwareConfig()
    arch = model.arch
    rng = np.random.default_rng(seed)
    decay = 1.0 - 2.0 ** (-cfg.lif.leak_shift)
    soft = cfg.lif.reset == Reset.SOFT
    fb, wd = cfg.lif.frac_bits, cfg.lif.width
    T = int(timesteps)
    N, D = arch.n_tokens, arch.dim
    off = 1 if arch.cls_token else 0
    mask = attention_mask(arch.mask, N)
    k_s, k_o = cfg.resolved_k_s(arch.d_k), cfg.resolved_k_o(N)
    wts = {}
    for name, lin in model.linear.items():
        if weights is not None and name in weights:
            wts[name] = tuple(np.asarray(v, np.float32) for v in weights[name])
            continue
        a, b = lin.affine()
        wts[name] = ((lin.weight.astype(np.float64) * a).astype(np.float32), b.astype(np.float32))
    dens: dict[str, float] = {}

    sub_rng = np.random.default_rng(seed + 1)

    def linear(name: str, x: np.ndarray) -> np.ndarray:
        dens[name] = float(x.mean())
        if collect is not None:
            collect[name] = x
        w, b = wts[name]
        return x @ w + b

    def lif(name: str, y: np.ndarray) -> np.ndarray:
        y = np.ascontiguousarray(y, dtype=np.float32)
        yf = y.reshape(T, -1)
        if yf.shape[1] > max_sites:
            yf = yf[:, np.sort(sub_rng.choice(yf.shape[1], max_sites, replace=False))]
        th = threshold_for_rate(yf, density, decay, soft, fb, wd)
        model.lif_threshold[name] = th
        s = _lif_run(y, th, decay, soft)
        dens["lif:" + name] = float(s.mean())
        return s

    x = np.asarray(x_code)
    nb = len(x)
    pos = model.pos.astype(np.float32)
    ro = arch.readout_slice
    val = {nl.INPUT: x.astype(np.float32) / 256.0}
    for op in nl.netlist(arch):  # layer-major: each op over all T steps of the batch at once
        a = val[op.src[0]]
        if op.kind == nl.ENCODER:
            y = (rng.random((T,) + a.shape) < a).astype(np.float32)
        elif op.kind == nl.XBAR:
            y = linear(op.name, a)
        elif op.kind == nl.EMBED:
            y = np.empty((T, nb, N, D), dtype=np.float32)
            if off:
                y[:, :, 0] = model.cls.astype(np.float32) + pos[0]
            y[:, :, off:] = a + pos[off:]
        elif op.kind == nl.LIF:
            y = lif(op.name, a[:, :, ro] if op.readout else a[..., op.col0:op.col0 + op.n_out])
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


def calibrate_adc(image, cfg, spikes: dict[str, np.ndarray]) -> None:
    """ADC full scales of ``image`` from recorded crossbar input spikes, by compile's rule (in place).

    The same rule as :func:`bittrue.compile.compile_model` applies (``I_fs`` = the ``tile.adc_percentile``
    percentile of ``|I|`` over every row tile of a column-tile group, on the ideal quantised conductance image;
    output-noise sigma from it), but on the spikes of the layer-major threshold pass and with float32 BLAS
    matmuls, which are exact here (|I| <= rows x 2^g_bits < 2^24).  compile's own calibration runs
    ``float_forward`` with int64 matmuls, minutes per image at this scale.
    """
    from bittrue.compile import n_tiles, quantise_conductance

    t = cfg.tile
    half = 1 << (t.adc_bits - 1)
    for lay in image.layers:
        s = spikes[lay.name].reshape(-1, lay.n_in).astype(np.float32)
        d = (quantise_conductance(lay.g_pos_uS, cfg).astype(np.float32)
             - quantise_conductance(lay.g_neg_uS, cfg).astype(np.float32))
        fs = []
        for ct in range(n_tiles(lay.n_out, t.cols)):
            c0, c1 = ct * t.cols, min(lay.n_out, (ct + 1) * t.cols)
            v = np.concatenate([np.abs(s[:, r0:r0 + t.rows] @ d[r0:r0 + t.rows, c0:c1]).ravel()
                                for r0 in range(0, lay.n_in, t.rows)])
            if v.size and v.max() > 0:
                f = max(float(np.percentile(v, t.adc_percentile)), 1.0)
            else:
                f = float(max(1, np.abs(d[:, c0:c1]).sum(axis=0).max()))
            fs.append(int(np.ceil(f)))
        lay.i_fs_code = np.asarray(fs, np.int64)
        lay.sigma_code = np.floor(t.output_noise_lsb * lay.i_fs_code / half * 256 + 0.5).astype(np.int64)


@dataclasses.dataclass
class Workload:
    arch: object
    model: object
    chip: object
    cfg: object
    float_density: dict
    build_s: dict
    weights: dict | None = None  #: effective float weights of the programmed chip (pcm), for TorchSim


def build_workload(arch, *, density: float = 0.15, seed: int = 0, n_thresh: int = 4, n_calib: int = 0,
                   device: str = "pcm") -> Workload:
    """Random float model of ``arch`` (thresholds at ``density``), compiled and programmed.

    With ``device="pcm"`` the model is first compiled and programmed once to read the effective weights of the
    PCM devices (noise, drift, compensation); the layer-major threshold pass runs on those, so that the
    *emulator's* spike densities hit ``density`` (on the ideal float weights they would be ~0.03 higher).

    The ADC is calibrated on the ``n_thresh`` images of the threshold pass (:func:`calibrate_adc`), or, with
    ``n_calib > 0``, by ``compile_model`` itself on ``n_calib`` images (slow at the CIFAR scale).
    """
    from bittrue.compile import compile_model
    from bittrue.config import HardwareConfig
    from bittrue.model import random_float_model
    from bittrue.program import program

    cfg = HardwareConfig()
    T = arch.timesteps
    tm = {}
    t0 = time.perf_counter()
    model = random_float_model(arch, seed=seed, threshold=1.0)
    weff = None
    if device == "pcm":  # the conductances do not depend on thresholds or ADC scales: program once to see them
        weff = effective_weights(program(compile_model(model, cfg, None), device, program_seed=seed))
    tm["pre_program_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    spikes: dict = {}
    fd = calibrate_thresholds(model, random_inputs(arch, n_thresh, density, seed=seed + 100), T, density,
                              cfg, seed=seed, collect=spikes, weights=weff)
    tm["thresholds_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if n_calib > 0:
        image = compile_model(model, cfg, random_inputs(arch, n_calib, density, seed=seed + 200), calib_seed=seed)
    else:
        image = compile_model(model, cfg, None)
        calibrate_adc(image, cfg, spikes)
    del spikes
    tm["compile_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    chip = program(image, device, program_seed=seed)
    tm["program_s"] = time.perf_counter() - t0
    return Workload(arch=arch, model=model, chip=chip, cfg=cfg, float_density=fd, build_s=tm, weights=weff)


# ============================================================================ emulator
class _DensitySink:
    """Sink that averages the spike density at every crossbar input (and the SSA's q, k, v inputs)."""

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
        if key is None:
            return
        self.sum[key] = self.sum.get(key, 0.0) + float(np.count_nonzero(data))
        self.cnt[key] = self.cnt.get(key, 0) + data.size

    def densities(self) -> dict[str, float]:
        return {k: self.sum[k] / self.cnt[k] for k in self.sum}


def emulator_densities(chip, x: np.ndarray, timesteps: int) -> dict[str, float]:
    """Spike density at every crossbar input as the emulator sees it (one run with a sink)."""
    from bittrue.run import Runner

    sink = _DensitySink(chip.arch)
    Runner(chip, timesteps=timesteps).run_batch(x, np.arange(len(x), dtype=np.int64), sink)
    return sink.densities()


def _timed_runs(fn: Callable[[np.ndarray, np.ndarray], np.ndarray], x: np.ndarray, batch: int, reps: int):
    """(wall seconds per rep, logits of the last rep); ``fn(x_batch, ids_batch)``."""
    ids = np.arange(len(x), dtype=np.int64)
    times, out = [], None
    for _ in range(reps):
        res = []
        t0 = time.perf_counter()
        for i in range(0, len(x), batch):
            res.append(fn(x[i:i + batch], ids[i:i + batch]))
        times.append(time.perf_counter() - t0)
        out = np.concatenate(res)
    return times, out


def time_emulator(chip, x: np.ndarray, timesteps: int, batches=(32,), reps: int = 3) -> dict:
    """Images/s of ``Runner.run_batch`` for each batch size (best of ``reps``); checks bit-identical logits."""
    return time_pair(chip, None, x, timesteps, emu_batches=batches, torch_batches=(), reps=reps)[0]


def time_pair(chip, sim, x: np.ndarray, timesteps: int, emu_batches=(32,), torch_batches=(32,),
              reps: int = 3) -> tuple[dict, dict | None]:
    """Emulator and torch simulation timed in alternation, repetition by repetition.

    On a shared VM the machine's speed drifts over minutes; timing all emulator repetitions and then all torch
    repetitions lets that drift into the ratio.  Here every repetition times each emulator batch size and then
    each torch batch size, so both see the same phases.  Returns ``(emu, torch)`` in the formats of
    :func:`time_emulator` and :func:`time_torch`, plus ``paired_ratio``: the median over repetitions of
    (torch time / emulator time) at the two best batch sizes.  With ``sim=None`` only the emulator is timed
    and ``torch`` is None.
    """
    from bittrue.run import Runner

    if sim is None:
        torch_batches = ()
    runner = Runner(chip, timesteps=timesteps)
    runner.run_batch(x[:2], np.arange(2, dtype=np.int64))  # JIT warm-up (cache load)
    if torch_batches:
        sim.forward(x[:min(len(x), max(torch_batches))])  # allocator, kernels
    e_t = {bs: [] for bs in emu_batches}
    t_t = {bs: [] for bs in torch_batches}
    ref, identical = None, True
    for _ in range(reps):
        for bs in emu_batches:
            tt, lg = _timed_runs(lambda xb, ib: runner.run_batch(xb, ib), x, bs, 1)
            e_t[bs] += tt
            if ref is None:
                ref = lg
            identical &= bool(np.array_equal(lg, ref))
        for bs in torch_batches:
            tt, _ = _timed_runs(lambda xb, ib: sim.forward(xb), x, bs, 1)
            t_t[bs] += tt
    e_res = {bs: _rate(t, len(x)) for bs, t in e_t.items()}
    eb = max(e_res, key=lambda b: e_res[b]["img_s"])
    emu = {"by_batch": e_res, "batch": eb, "img_s": e_res[eb]["img_s"], "img_s_median": e_res[eb]["img_s_median"],
           "identical_logits": identical, "n_images": len(x), "reps": reps}
    if not torch_batches:
        return emu, None
    t_res = {bs: _rate(t, len(x)) for bs, t in t_t.items()}
    tb = max(t_res, key=lambda b: t_res[b]["img_s"])
    paired = float(np.median([t / e for e, t in zip(e_t[eb], t_t[tb])]))
    tor = {"by_batch": t_res, "batch": tb, "img_s": t_res[tb]["img_s"], "img_s_median": t_res[tb]["img_s_median"],
           "n_images": len(x), "reps": reps, "paired_ratio": paired}
    return emu, tor


def _rate(times: list[float], n: int) -> dict:
    best = min(times)
    med = float(np.median(times))
    return {"img_s": n / best, "img_s_median": n / med, "best_s": best, "median_s": med, "times_s": times}


# ============================================================================ torch float simulation
class TorchSim:
    """The spec-6 network in float32 PyTorch: the same computation as :func:`bittrue.floatmodel.float_forward`.

    Dense ``addmm`` for every linear layer (BatchNorm folded into W, b), ``torch.bernoulli`` for the input
    encoder and the SSA's S and O, float LIFs (``v <- v (1 - 2^-leak) + y``, fire at ``v >= theta``, hard or
    soft reset), batched, under ``torch.inference_mode``.  ``weights`` (name -> (W, b)) replaces the model's
    folded weights: the bench passes the programmed chip's effective weights (:func:`effective_weights`), so the
    float simulation computes the network the chip realises and sees the same spike densities (the cost of a
    dense simulation does not depend on them).
    """

    def __init__(self, model, cfg, timesteps: int, seed: int = 0, weights: dict | None = None):
        import torch

        from bittrue.floatmodel import attention_mask
        from bittrue.modes import Reset

        self.torch = torch
        arch = model.arch
        self.arch = arch
        self.T = int(timesteps)
        self.W, self.b = {}, {}
        for name, lin in model.linear.items():
            if weights is not None and name in weights:
                w, b = weights[name]
            else:
                a, b = lin.affine()
                w = lin.weight.astype(np.float64) * a
            self.W[name] = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
            self.b[name] = torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32))
        self.theta = {n: float(v) for n, v in model.lif_threshold.items()}
        self.pos = torch.from_numpy(model.pos.astype(np.float32))
        self.cls = torch.from_numpy(model.cls.astype(np.float32))
        self.mask = torch.from_numpy(attention_mask(arch.mask, arch.n_tokens).astype(np.float32))
        self.k_s, self.k_o = cfg.resolved_k_s(arch.d_k), cfg.resolved_k_o(arch.n_tokens)
        self.ops = nl.netlist(arch)
        self.decay = 1.0 - 2.0 ** (-cfg.lif.leak_shift)
        self.soft = cfg.lif.reset == Reset.SOFT
        self.gen = torch.Generator().manual_seed(seed)
        #: sampler ``p -> 0/1 tensor``; tests swap in a deterministic one
        self.bernoulli = lambda prob: torch.bernoulli(prob, generator=self.gen)

    def flops_per_image(self) -> float:
        """Dense multiply-add FLOPs (2 per MAC) of one image over T steps (linear layers + SSA matmuls)."""
        a = self.arch
        f = 0.0
        for op in nl.crossbars(a).values():
            f += 2.0 * op.tokens * op.n_in * op.n_out
        for op in nl.ops_of(a, nl.SSA):  # C = q k^T and P = S v, every head
            f += 2.0 * 2.0 * a.heads * op.tokens * op.tokens * a.d_k
        return f * self.T

    def forward(self, x_code: np.ndarray, record: Callable[[str, float, int], None] | None = None):
        torch = self.torch
        a = self.arch
        nb = x_code.shape[0]
        N, D, H, dk = a.n_tokens, a.dim, a.heads, a.d_k
        off = 1 if a.cls_token else 0
        W, B, th, bern = self.W, self.b, self.theta, self.bernoulli
        decay, soft = self.decay, self.soft
        with torch.inference_mode():
            p = torch.from_numpy(np.ascontiguousarray(x_code)).to(torch.float32).mul_(1.0 / 256.0)
            vm = {n: None for n in th}

            def lif(name, y):
                v = vm[name]
                if v is None:
                    v = y.clone(memory_format=torch.contiguous_format)
                    vm[name] = v
                else:
                    torch.add(y, v, alpha=decay, out=v)  # v <- v * decay + y
                s = torch.ge(v, th[name]).to(torch.float32)
                if soft:
                    v.add_(s, alpha=-th[name])
                else:
                    v.addcmul_(v, s, value=-1.0)  # v <- 0 where s (fastest hard reset measured)
                if record is not None:
                    record("lif:" + name, float(s.sum()), s.numel())
                return s

            def linear(name, x):
                if record is not None:
                    record(name, float(x.sum()), x.numel())
                w = W[name]
                return torch.addmm(B[name], x.reshape(-1, w.shape[0]), w).view(*x.shape[:-1], w.shape[1])

            logits = torch.zeros((nb, a.n_readout, a.n_classes), dtype=torch.float32)
            mask_s = self.mask / self.k_s
            ro = a.readout_slice
            for t in range(self.T):
                val = {nl.INPUT: p}
                for op in self.ops:
                    x = val[op.src[0]]
                    if op.kind == nl.ENCODER:
                        y = bern(x)
                    elif op.kind == nl.XBAR:
                        y = linear(op.name, x)
                    elif op.kind == nl.EMBED:
                        y = torch.empty((nb, N, D), dtype=torch.float32)
                        if off:
                            y[:, 0] = self.cls + self.pos[0]
                        y[:, off:] = x + self.pos[off:]
                    elif op.kind == nl.LIF:
                        y = lif(op.name, x[:, ro] if op.readout else x[..., op.col0:op.col0 + op.n_out])
                    elif op.kind == nl.SSA:
                        q, k, v = (val[n].view(nb, N, H, dk).transpose(1, 2) for n in op.src)
                        c = torch.matmul(q, k.transpose(-1, -2))  # (B, H, N, N) counts
                        sc = bern(c.clamp_(max=self.k_s).mul_(mask_s))
                        pc = torch.matmul(sc, v)  # (B, H, N, dk)
                        o = bern(pc.clamp_(max=self.k_o).mul_(1.0 / self.k_o))
                        y = o.transpose(1, 2).reshape(nb, N, D)
                    elif op.kind == nl.ADD:
                        y = x + val[op.src[1]]
                    else:  # LOGITS
                        logits += x
                        continue
                    val[op.dst] = y
            return (logits if a.readout_tokens else logits[:, 0]).numpy()

    def densities(self, x_code: np.ndarray) -> dict[str, float]:
        acc: dict[str, list[float]] = {}

        def rec(name, ones, n):
            e = acc.setdefault(name, [0.0, 0])
            e[0] += ones
            e[1] += n

        self.forward(x_code, rec)
        return {k: v[0] / v[1] for k, v in acc.items()}


def time_torch(sim: TorchSim, x: np.ndarray, batches=(16, 64), reps: int = 3) -> dict:
    sim.forward(x[:min(len(x), max(batches))])  # warm-up (allocator, kernels)
    res = {}
    for bs in batches:
        times, _ = _timed_runs(lambda xb, ib: sim.forward(xb), x, bs, reps)
        res[bs] = _rate(times, len(x))
    best_bs = max(res, key=lambda b: res[b]["img_s"])
    return {"by_batch": res, "batch": best_bs, "img_s": res[best_bs]["img_s"],
            "img_s_median": res[best_bs]["img_s_median"], "n_images": len(x), "reps": reps}


def torch_gemm_gflops(m: int = 2080, k: int = 512, n: int = 2048, reps: int = 10) -> float:
    """Dense fp32 GEMM throughput of torch (``m x k @ k x n``, default the MLP1 layer of a batch of 32), GFLOP/s,
    best of ``reps``: the float roofline of this machine at the torch thread count."""
    import torch

    a = torch.randn(m, k)
    b = torch.randn(k, n)
    c = torch.empty(m, n)
    with torch.inference_mode():
        for _ in range(3):
            torch.matmul(a, b, out=c)
        best = 1e9
        for _ in range(reps):
            t0 = time.perf_counter()
            torch.matmul(a, b, out=c)
            best = min(best, time.perf_counter() - t0)
    return 2.0 * m * k * n / best / 1e9


# ============================================================================ breakdown and roofline
_WRAP = {  # bittrue.run name -> category
    "crossbar_layer": "crossbar",
    "ssa_layer": "ssa",
    "encoder_layer": "encoder",
    "lif_update": "lif",
    "lif_update_batch": "lif",
    "lif_update_rows": "lif",
    "residual_add": "residual",
    "seed_bank_batch": "seeds",
}


@contextlib.contextmanager
def _wrapped_run_kernels(acc: dict, per_layer: dict):
    """Wrap the kernel entry points that ``bittrue.run`` calls with timers (restored on exit)."""
    import bittrue.run as brun

    saved = {}

    def make(name, fn, cat):
        lid_pos = None
        if cat == "crossbar":  # per-layer times, keyed by the kernel's ``layer_id`` argument
            import inspect

            try:
                params = list(inspect.signature(getattr(fn, "py_func", fn)).parameters)
                lid_pos = params.index("layer_id")
            except (TypeError, ValueError):
                lid_pos = None

        def w(*args, **kw):
            t0 = time.perf_counter()
            out = fn(*args, **kw)
            dt = time.perf_counter() - t0
            acc[cat] = acc.get(cat, 0.0) + dt
            if lid_pos is not None:
                lid = args[lid_pos] if len(args) > lid_pos else kw.get("layer_id", -1)
                per_layer[int(lid)] = per_layer.get(int(lid), 0.0) + dt
            return out
        return w

    for name, cat in _WRAP.items():
        fn = getattr(brun, name, None)
        if fn is not None:
            saved[name] = fn
            setattr(brun, name, make(name, fn, cat))
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(brun, name, fn)


def _best_time(fn: Callable[[], object], reps: int = 3, min_s: float = 0.05) -> float:
    """Best per-call seconds of ``fn`` over ``reps`` rounds, each round repeated to last at least ``min_s``."""
    fn()
    best = 1e9
    for _ in range(reps):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            dt = time.perf_counter() - t0
            if dt >= min_s:
                break
        best = min(best, dt / n)
    return best


_MICRO = None


def _micro_kernels():
    """Numba helpers that time the ADC / requant loops and the SSA's LFSR draws alone (compiled on demand)."""
    global _MICRO
    if _MICRO is not None:
        return _MICRO
    from numba import njit, prange

    from bittrue.kernels.lfsr import SHARING_COMPARATOR, lfsr_draw_bank_fast, lfsr_expand

    try:
        from bittrue.kernels.crossbar import _adc_fast, requant_code
    except ImportError:  # kernels restructured: the split degrades to "ADC+requant+loop"
        _adc_fast = requant_code = None

    k = {}

    @njit(cache=True, parallel=True)
    def lfsr_ssa(states_s, states_o, n_heads, n_reg_s, n_reg_o, form_s, form_o, table_s, table_o, bits_s, bits_o,
                 sharing, n_tok, d_k):  # the draws of kernels.batch.ssa_layer, nothing else
        nb = states_s.shape[0]
        for b in prange(nb):
            rd_s = np.empty(n_reg_s, dtype=np.int64)
            rd_o = np.empty(n_reg_o, dtype=np.int64)
            ds = np.empty((n_tok, n_tok), dtype=np.int64)
            do = np.empty((n_tok, d_k), dtype=np.int64)
            for h in range(n_heads):
                lfsr_draw_bank_fast(states_s[b, h * n_reg_s:(h + 1) * n_reg_s], form_s, table_s, bits_s, rd_s)
                lfsr_draw_bank_fast(states_o[b, h * n_reg_o:(h + 1) * n_reg_o], form_o, table_o, bits_o, rd_o)
                if sharing != SHARING_COMPARATOR:
                    lfsr_expand(rd_s, sharing, n_tok, n_tok, ds)
                    lfsr_expand(rd_o, sharing, n_tok, d_k, do)

    k["lfsr_ssa"] = lfsr_ssa
    if _adc_fast is not None:
        @njit(cache=True, parallel=True)
        def adc_rows(cur, nzv, i_fs, bits, codes):
            half = np.int64(1) << np.int64(bits - 1)
            inv = 1.0 / np.float64(np.int64(2) * i_fs)
            for m in prange(cur.shape[0]):
                c_row, n_row, k_row = cur[m], nzv[m], codes[m]
                for c in range(cur.shape[1]):
                    k_row[c] = _adc_fast(np.int32(c_row[c] + n_row[c]), i_fs, inv, np.int64(bits), half)

        @njit(cache=True, parallel=True)
        def requant_rows(acc, m_code, b_code, s, width, y):
            for m in prange(acc.shape[0]):
                a_row, y_row = acc[m], y[m]
                for c in range(acc.shape[1]):
                    y_row[c] = requant_code(a_row[c], m_code[c], b_code[c], s, width)

        k["adc_rows"] = adc_rows
        k["requant_rows"] = requant_rows
    _MICRO = k
    return k


def crossbar_costs(chip, runner, kind_density: dict[str, float], nb: int, seed: int = 0,
                   min_s: float = 0.05) -> dict:
    """Standalone ``crossbar_layer`` timings per layer kind (first layer of that kind), per call of ``nb`` samples.

    For each kind: ``t_zero`` (density 0, noise off: loop + ADC + requant), ``t_acc`` (density d, noise off),
    ``t_full`` (density d, noise on), and the ADC and requant loops alone over the same numbers of
    conversions and outputs.  Also the number of synaptic adds at density d (measured active rows).
    """
    from bittrue.kernels.crossbar import crossbar_layer

    arch = chip.arch
    rng = np.random.default_rng(seed)
    micro = _micro_kernels()
    out = {}
    for kind in KINDS:
        name = kind if kind in ("embed", "head") else f"blocks.0.{kind}"
        lay = runner.layers[name]
        n_in, n_out = lay.g_diff_code.shape
        nt = arch.n_patches if kind == "embed" else (1 if kind == "head" else arch.n_tokens)
        d = kind_density.get(kind, 0.15)
        spk_d = (rng.random((nb, nt, n_in)) < d).astype(np.uint8)
        spk_0 = np.zeros_like(spk_d)
        y = np.empty((nb, nt, n_out), np.int32)
        e4 = np.empty((0, 0, 0, 0), np.int32)
        e4h = np.empty((0, 0, 0, 0), np.int16)
        ids = np.arange(nb, dtype=np.int64)

        def call(spk, noise):
            if hasattr(runner, "_xbar"):  # the runner's own path (whatever kernel signature it uses)
                saved = runner.noise_on
                runner.noise_on = noise
                try:
                    runner._xbar(name, spk, ids, 0, None)
                finally:
                    runner.noise_on = saved
            else:
                crossbar_layer(spk, lay.g_diff_code, runner.tile_rows, runner.tile_cols, lay.i_fs_code,
                               lay.sigma_code, runner.adc_bits, noise, runner.root_seed, ids, lay.layer_id, 0,
                               lay.m_code, lay.b_code, lay.s_shift, runner.lif_width, y, e4, e4, e4h)

        t_zero = _best_time(lambda: call(spk_0, 0), min_s=min_s)
        t_acc = _best_time(lambda: call(spk_d, 0), min_s=min_s)
        t_full = _best_time(lambda: call(spk_d, 1), min_s=min_s)
        n_rt = -(-n_in // runner.tile_rows)
        conv = nb * nt * n_rt * n_out
        rec = {"n_in": n_in, "n_out": n_out, "tokens": nt, "density": d, "t_zero_s": t_zero, "t_acc_s": t_acc,
               "t_full_s": t_full, "adds": float(spk_d.sum(dtype=np.int64)) * n_out, "conversions": conv,
               "outputs": nb * nt * n_out}
        try:
            _adc_requant_alone(micro, rec, lay, runner, rng, nb, nt, n_rt, n_out, min_s)
        except Exception as exc:  # kernels restructured: report the split as unavailable
            rec.pop("t_adc_s", None)
            rec.pop("t_requant_s", None)
            rec["adc_split_error"] = repr(exc)
        out[kind] = rec
    return out


def _adc_requant_alone(micro, rec, lay, runner, rng, nb, nt, n_rt, n_out, min_s):
    """ADC loop over ``nb nt n_rt n_out`` conversions and requant loop over ``nb nt n_out`` outputs, alone."""
    if "adc_rows" not in micro:
        return
    fs = int(lay.i_fs_code.max())
    cur = rng.integers(-fs, fs + 1, size=(nb * nt * n_rt, n_out)).astype(np.int32)
    nz = np.zeros(cur.shape, np.int64)
    codes = np.empty(cur.shape, np.int64)
    rec["t_adc_s"] = _best_time(lambda: micro["adc_rows"](cur, nz, int(lay.i_fs_code[0]), runner.adc_bits, codes),
                                min_s=min_s)
    accv = rng.integers(-64, 64, size=(nb * nt, n_out)).astype(np.int64)
    yy = np.empty(accv.shape, np.int32)
    rec["t_requant_s"] = _best_time(lambda: micro["requant_rows"](accv, lay.m_code, lay.b_code, lay.s_shift,
                                                                  runner.lif_width, yy), min_s=min_s)


def lfsr_cost(chip, runner, nb: int, min_s: float = 0.05) -> float:
    """Seconds per (batch of ``nb``, block, time step) of the SSA's LFSR draws + fan-out alone."""
    from bittrue.kernels.lfsr import lfsr_count

    arch = chip.arch
    micro = _micro_kernels()
    n_reg_s = int(lfsr_count(runner.sharing, arch.n_tokens, arch.n_tokens))
    n_reg_o = int(lfsr_count(runner.sharing, arch.n_tokens, arch.d_k))
    ids = np.arange(nb, dtype=np.int64)
    ss = runner._seeds(2, 0, 0, arch.heads, runner.s_grid, ids)
    so = runner._seeds(2, 0, 1, arch.heads, runner.o_grid, ids)
    return _best_time(lambda: micro["lfsr_ssa"](ss, so, arch.heads, n_reg_s, n_reg_o, runner.form_s, runner.form_o,
                                                runner.table_s, runner.table_o, runner.bits_s, runner.bits_o,
                                                runner.sharing, arch.n_tokens, arch.d_k), min_s=min_s)


def breakdown(chip, x: np.ndarray, timesteps: int, batch: int, kind_density: dict[str, float],
              min_s: float = 0.05) -> dict:
    """Share of the emulator's wall time per hardware block (see module docstring)."""
    from bittrue.run import Runner

    arch = chip.arch
    runner = Runner(chip, timesteps=timesteps)
    ids = np.arange(len(x), dtype=np.int64)
    runner.run_batch(x[:2], ids[:2])
    acc: dict[str, float] = {}
    per_layer: dict[int, float] = {}
    with _wrapped_run_kernels(acc, per_layer):
        t0 = time.perf_counter()
        for i in range(0, len(x), batch):
            runner.run_batch(x[i:i + batch], ids[i:i + batch])
        wall = time.perf_counter() - t0
    n_calls = -(-len(x) // batch)
    nb = min(batch, len(x))
    xc = crossbar_costs(chip, runner, kind_density, nb, min_s=min_s)
    try:
        t_lfsr = lfsr_cost(chip, runner, nb, min_s=min_s) * arch.depth * timesteps * n_calls
    except Exception as exc:  # LFSR kernels or runner fields restructured
        log(f"LFSR standalone timing unavailable: {exc!r}")
        t_lfsr = 0.0
    # crossbar in-run time per kind, split with the standalone fractions
    kind_time = {k: 0.0 for k in KINDS}
    for lay in runner.layers.values():
        kind_time[layer_kind(lay.name)] += per_layer.get(lay.layer_id, 0.0)
    parts = {"xbar_accumulate": 0.0, "xbar_noise": 0.0, "xbar_adc": 0.0, "xbar_requant": 0.0, "xbar_other": 0.0}
    for kind, t_in in kind_time.items():
        c = xc[kind]
        tot = max(c["t_full_s"], 1e-12)
        f_acc = max(c["t_acc_s"] - c["t_zero_s"], 0.0) / tot
        f_noise = max(c["t_full_s"] - c["t_acc_s"], 0.0) / tot
        f_adc = min(c.get("t_adc_s", 0.0), c["t_zero_s"]) / tot
        f_req = min(c.get("t_requant_s", 0.0), max(c["t_zero_s"] - c.get("t_adc_s", 0.0), 0.0)) / tot
        f_sum = f_acc + f_noise + f_adc + f_req
        if f_sum > 1.0:  # timing noise between the standalone runs
            f_acc, f_noise, f_adc, f_req = (f / f_sum for f in (f_acc, f_noise, f_adc, f_req))
        f_other = max(1.0 - f_acc - f_noise - f_adc - f_req, 0.0)
        for key, f in (("xbar_accumulate", f_acc), ("xbar_noise", f_noise), ("xbar_adc", f_adc),
                       ("xbar_requant", f_req), ("xbar_other", f_other)):
            parts[key] += f * t_in
    t_ssa = acc.get("ssa", 0.0)
    lfsr_in = min(t_lfsr, t_ssa)
    parts["ssa_lfsr_draws"] = lfsr_in
    parts["ssa_other"] = t_ssa - lfsr_in
    for cat in ("lif", "residual", "encoder", "seeds"):
        parts[cat] = acc.get(cat, 0.0)
    parts["python_glue"] = max(wall - sum(acc.values()), 0.0)
    shares = {k: v / wall for k, v in parts.items()}
    return {"wall_s": wall, "img_s": len(x) / wall, "n_images": len(x), "batch": batch, "seconds": parts,
            "shares": shares, "kernel_s": dict(acc), "crossbar_by_kind_s": kind_time, "crossbar_standalone": xc,
            "lfsr_standalone_s_per_call": t_lfsr / max(arch.depth * timesteps * n_calls, 1),
            "has_adc_split": "t_adc_s" in xc["mlp1"]}


def adds_per_image(arch, kind_density: dict[str, float], timesteps: int) -> float:
    """Synaptic adds (active rows x columns) of one image over T at the given input densities."""
    tot = 0.0
    for name, (fin, fout) in arch.linear_shapes().items():
        kind = layer_kind(name)
        rows = arch.n_patches if kind == "embed" else (1 if kind == "head" else arch.n_tokens)
        tot += rows * kind_density.get(kind, 0.15) * fin * fout
    return tot * timesteps


def roofline(arch, bd: dict, kind_density: dict, timesteps: int, emu_img_s: float, torch_img_s: float,
             torch_flops_img: float, gemm_gflops: float) -> dict:
    c = bd["crossbar_standalone"]
    per_kind = {}
    for kind in KINDS:
        r = c[kind]
        t = r["t_acc_s"] - r["t_zero_s"]
        per_kind[kind] = r["adds"] / t / 1e9 if t > 0 else float("nan")
    big = max(("qkv", "mlp1", "mlp2"), key=lambda k: c[k]["adds"])
    acc_rate = sum(c[k]["adds"] for k in ("qkv", "mlp1", "mlp2")) / sum(
        max(c[k]["t_acc_s"] - c[k]["t_zero_s"], 1e-12) for k in ("qkv", "mlp1", "mlp2"))
    api = adds_per_image(arch, kind_density, timesteps)
    bound = acc_rate / api
    return {
        "accumulate_gadds_s": acc_rate / 1e9,
        "accumulate_gadds_s_by_kind": per_kind,
        "accumulate_gbytes_s": acc_rate * 2 / 1e9,  # one int16 conductance read per add
        "largest_kind": big,
        "adds_per_image": api,
        "accumulate_bound_img_s": bound,
        "emulator_img_s": emu_img_s,
        "emulator_fraction_of_bound": emu_img_s / bound,
        "torch_flops_per_image": torch_flops_img,
        "torch_gflops_s": torch_img_s * torch_flops_img / 1e9,
        "gemm_gflops_s": gemm_gflops,
        "torch_fraction_of_gemm": torch_img_s * torch_flops_img / 1e9 / gemm_gflops,
        "gemm_bound_img_s": gemm_gflops * 1e9 / torch_flops_img,
    }


def kind_densities(dens: dict[str, float]) -> dict[str, float]:
    """Average density per layer kind from a per-layer dict (``blocks.b.mlp1`` -> ``mlp1``)."""
    acc: dict[str, list[float]] = {}
    for name, d in dens.items():
        if name.startswith(("lif:", "ssa_in:")):
            continue
        acc.setdefault(layer_kind(name), []).append(d)
    return {k: float(np.mean(v)) for k, v in acc.items()}


# ============================================================================ digits
def digits_timing(model_path: str | None, density: float, batch: int = 64, reps: int = 3) -> dict:
    """Full digits test split at T = 8 through ``bittrue.run.run`` (CLI path), after warm-up."""
    from bittrue.compile import compile_model
    from bittrue.config import HardwareConfig
    from bittrue.model import ARCHITECTURES, default_model_path, load_float_model, random_float_model
    from bittrue.program import program
    from bittrue.run import predict, run
    from bittrue.workloads import load_tokens

    cfg = HardwareConfig()
    src = None
    path = Path(model_path) if model_path else default_model_path("digits")
    if path.exists():
        model = load_float_model(path)
        src = str(path)
    else:
        arch = ARCHITECTURES["digits"]
        model = random_float_model(arch, seed=0)
        xt, _ = load_tokens("digits", "train", arch)
        calibrate_thresholds(model, xt[:64], arch.timesteps, density, cfg)
        src = f"random digits model, thresholds at density {density}"
    arch = model.arch
    x, labels = load_tokens("digits", "test", arch)
    calib, _ = load_tokens("digits", "train", arch)
    chip = program(compile_model(model, cfg, calib[:cfg.tile.calibration_samples]), "pcm")
    T = arch.timesteps
    run(chip, x[:4], batch_size=batch, timesteps=T)  # warm-up
    times, logits = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        lg = run(chip, x, batch_size=batch, timesteps=T)
        times.append(time.perf_counter() - t0)
        if logits is not None and not np.array_equal(lg, logits):
            raise AssertionError("digits logits differ between repetitions")
        logits = lg
    acc = float(np.mean(predict(logits) == labels))
    return {"model": src, "n_images": len(x), "timesteps": T, "batch": batch, "best_s": min(times),
            "median_s": float(np.median(times)), "times_s": times, "img_s": len(x) / min(times),
            "accuracy": acc}


# ============================================================================ scaling
def scaling(ns=(17, 65, 257), ds=(64, 256, 512), *, density: float, timesteps: int = 4, batch: int = 8,
            target_s: float = 1.5, reps: int = 2, with_torch: bool = True) -> list[dict]:
    """Emulator (and torch) ms/image over a grid of tokens N x width D (depth 6, d_k 64, MLP 4D)."""
    from bittrue.run import Runner

    rows = []
    for n in ns:
        for d in ds:
            arch = make_arch(n, d, timesteps=timesteps)
            t0 = time.perf_counter()
            wl = build_workload(arch, density=density, n_thresh=2)
            build = time.perf_counter() - t0
            runner = Runner(wl.chip, timesteps=timesteps)
            probe = random_inputs(arch, batch, density, seed=7)
            ids = np.arange(batch, dtype=np.int64)
            runner.run_batch(probe[:2], ids[:2])
            t1 = time.perf_counter()
            runner.run_batch(probe, ids)
            est = (time.perf_counter() - t1) / batch
            n_img = int(np.clip(round(target_s / max(est, 1e-6) / batch), 1, 8)) * batch
            x = random_inputs(arch, n_img, density, seed=7)
            sim = TorchSim(wl.model, wl.cfg, timesteps, weights=wl.weights) if with_torch else None
            emu, tt = time_pair(wl.chip, sim, x, timesteps, emu_batches=(batch,), torch_batches=(batch,),
                                reps=reps)  # in alternation, as the headline
            row = {"N": n, "D": d, "heads": arch.heads, "mlp": arch.mlp, "n_images": n_img, "batch": batch,
                   "emu_ms_img": 1e3 / emu["img_s"], "adds_per_image": adds_per_image(
                       arch, kind_densities(emulator_densities(wl.chip, x[:4], timesteps)), timesteps),
                   "build_s": build}
            if with_torch:
                row["torch_ms_img"] = 1e3 / tt["img_s"]
                row["ratio"] = emu["img_s"] / tt["img_s"]
            log(f"scaling N={n} D={d}: emulator {row['emu_ms_img']:.2f} ms/img"
                + (f", torch {row['torch_ms_img']:.2f} ms/img" if with_torch else ""))
            rows.append(row)
    return rows


# ============================================================================ report
def machine_info(threads: int) -> dict:
    import numba

    info = {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
            "threads": threads, "cpus": os.cpu_count(), "platform": platform.platform()}
    try:
        import torch
        info["torch"] = torch.__version__
    except ImportError:  # pragma: no cover
        info["torch"] = None
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/cpuinfo") as fh:
            flags = next((ln for ln in fh if ln.startswith("flags")), "")
        info["avx512"] = "avx512f" in flags
    except OSError:
        pass
    info["loadavg"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    return info


def _fmt_table(headers: list[str], rows: list[list]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    w = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.rjust(w[i]) for i, c in enumerate(r)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (x + 2) for x in w) + "|"
    return "\n".join([line(cells[0]), sep] + [line(r) for r in cells[1:]])


def render(res: dict) -> str:
    out = []
    m = res["machine"]
    out.append(f"machine: {m.get('cpu', '?')}, {m['cpus']} CPUs, AVX-512 {m.get('avx512')}, threads {m['threads']}; "
               f"numba {m['numba']}, torch {m['torch']}, numpy {m['numpy']}")
    out.append(f"load average at start {res['load_start']}, at end {res['load_end']}")
    h = res["headline"]
    out.append("")
    out.append(f"== cifar10-vit-small, T = {h['timesteps']}, {h['n_images']} random images, device pcm ==")
    out.append(_fmt_table(
        ["", "images/s", "median img/s", "batch", "note"],
        [["emulator (bit-true)", f"{h['emulator']['img_s']:.2f}", f"{h['emulator']['img_s_median']:.2f}",
          h["emulator"]["batch"], "logits identical: " + str(h["emulator"]["identical_logits"])],
         ["torch float32 sim", f"{h['torch']['img_s']:.2f}", f"{h['torch']['img_s_median']:.2f}", h["torch"]["batch"],
          "dense addmm + bernoulli"],
         ["ratio emulator/torch", f"{h['ratio']:.2f}x", f"{h['ratio_median']:.2f}x", "",
          f"paired per repetition: {h['ratio_paired']:.2f}x" if "ratio_paired" in h else ""]]))
    out.append("(emulator and torch are timed in alternation, repetition by repetition; images/s is the best "
               "repetition, median img/s the median one)")
    out.append("per batch size: emulator " + ", ".join(f"{b}: {r['img_s']:.2f}" for b, r in
                                                          h["emulator"]["by_batch"].items())
               + "; torch " + ", ".join(f"{b}: {r['img_s']:.2f}" for b, r in h["torch"]["by_batch"].items()))
    tgt = res["targets"]
    out.append("targets: " + ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in tgt.items()))
    out.append("")
    out.append("crossbar input spike densities (emulator | float calibration pass | torch sim), mean over blocks:")
    kd, kf, kt = h["density_emulator_by_kind"], h["density_float_by_kind"], h["density_torch_by_kind"]
    out.append(_fmt_table(["layer", "emulator", "float", "torch"],
                          [[k, f"{kd.get(k, float('nan')):.4f}", f"{kf.get(k, float('nan')):.4f}",
                            f"{kt.get(k, float('nan')):.4f}"] for k in KINDS]))
    de = h["density_emulator"]
    per = [f"{k}: {v:.3f}" for k, v in de.items() if not k.startswith("ssa_in:")]
    out.append("per layer (emulator): " + ", ".join(per))
    out.append("")
    r = res["roofline"]
    out.append("== roofline ==")
    out.append(f"bare crossbar accumulate: {r['accumulate_gadds_s']:.2f} G adds/s "
               f"({r['accumulate_gbytes_s']:.1f} GB/s of int16 conductance rows); per kind "
               + ", ".join(f"{k} {v:.2f}" if np.isfinite(v) else f"{k} -" for k, v in
                           r["accumulate_gadds_s_by_kind"].items()))
    out.append(f"adds per image: {r['adds_per_image'] / 1e6:.1f} M -> accumulate-only bound "
               f"{r['accumulate_bound_img_s']:.1f} img/s; emulator reaches {100 * r['emulator_fraction_of_bound']:.0f}%")
    out.append(f"torch: {r['torch_flops_per_image'] / 1e9:.2f} GFLOP/image, {r['torch_gflops_s']:.1f} GFLOP/s achieved, "
               f"dense GEMM peak {r['gemm_gflops_s']:.1f} GFLOP/s ({100 * r['torch_fraction_of_gemm']:.0f}%), "
               f"GEMM-only bound {r['gemm_bound_img_s']:.1f} img/s")
    out.append("")
    b = res["breakdown"]
    out.append(f"== emulator time breakdown ({b['n_images']} images, batch {b['batch']}, {b['img_s']:.2f} img/s with "
               f"timers) ==")
    out.append(_fmt_table(["part", "share", "seconds"],
                          [[k, f"{100 * v:.1f}%", f"{b['seconds'][k]:.3f}"] for k, v in
                           sorted(b["shares"].items(), key=lambda kv: -kv[1])]))
    out.append("crossbar standalone per call (ms): " + "; ".join(
        f"{k}: zero {1e3 * c['t_zero_s']:.2f}, +acc {1e3 * c['t_acc_s']:.2f}, +noise {1e3 * c['t_full_s']:.2f}"
        + (f", adc {1e3 * c['t_adc_s']:.2f}, requant {1e3 * c['t_requant_s']:.2f}" if "t_adc_s" in c else "")
        for k, c in b["crossbar_standalone"].items()))
    out.append("")
    d = res["digits"]
    out.append(f"== digits test split: {d['n_images']} images, T = {d['timesteps']}, batch {d['batch']}: "
               f"{d['best_s']:.2f} s (median {d['median_s']:.2f} s, {d['img_s']:.0f} img/s), accuracy "
               f"{100 * d['accuracy']:.1f}% [{d['model']}] ==")
    if res.get("scaling"):
        out.append("")
        out.append("== scaling (depth 6, d_k 64, MLP 4D, T 4; ms per image) ==")
        rows = []
        for s in res["scaling"]:
            rows.append([s["N"], s["D"], s["heads"], f"{s['adds_per_image'] / 1e6:.1f}", f"{s['emu_ms_img']:.2f}",
                         f"{s.get('torch_ms_img', float('nan')):.2f}", f"{s.get('ratio', float('nan')):.2f}x",
                         s["n_images"]])
        out.append(_fmt_table(["N", "D", "heads", "M adds/img", "emulator ms/img", "torch ms/img",
                               "emu/torch speed", "images"], rows))
    out.append("")
    out.append(f"total bench time {res['total_s']:.1f} s ("
               + ", ".join(f"{k} {v:.1f}" for k, v in res.get("section_s", {}).items()) + ")")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer images, no scaling grid (< 60 s)")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    ap.add_argument("--threads", type=int, default=None, help="numba and torch threads (default: numba's default)")
    ap.add_argument("--density", type=float, default=0.15, help="target spike density (default 0.15)")
    ap.add_argument("--images", type=int, default=None, help="headline images (default 64, quick 32)")
    ap.add_argument("--reps", type=int, default=None, help="timed repetitions, best taken (default 3, quick 2)")
    ap.add_argument("--emu-batch", type=int, nargs="+", default=None, help="emulator batch sizes (default 16 32 64)")
    ap.add_argument("--torch-batch", type=int, nargs="+", default=None, help="torch batch sizes (default 16 32 64)")
    ap.add_argument("--digits-model", default=None, help="digits float model (default: the shipped one, if any)")
    ap.add_argument("--no-scaling", action="store_true", help="skip the N x D scaling grid")
    ap.add_argument("--scaling-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    import numba
    import torch

    if args.threads:
        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    threads = numba.get_num_threads()
    torch.set_num_threads(threads)
    quick = args.quick
    n_img = args.images or (32 if quick else 64)
    reps = args.reps or (2 if quick else 3)
    emu_b = tuple(args.emu_batch or ((32,) if quick else (16, 32, 64)))
    tor_b = tuple(args.torch_batch or ((32,) if quick else (16, 32, 64)))
    t_start = time.perf_counter()
    res: dict = {"machine": machine_info(threads), "load_start": [round(v, 2) for v in os.getloadavg()],
                 "args": vars(args), "section_s": {}}
    t_sec = [time.perf_counter()]

    def section(name: str) -> None:
        now = time.perf_counter()
        res["section_s"][name] = now - t_sec[0]
        t_sec[0] = now

    # ---------------------------------------------------------------- headline workload
    arch = make_arch(65, 512, timesteps=4, name="cifar10-vit-small")
    T = arch.timesteps
    log(f"building {arch.name} (random model, thresholds at density {args.density}) ...")
    wl = build_workload(arch, density=args.density, n_thresh=4 if quick else 8)
    log("build: " + ", ".join(f"{k} {v:.1f}" for k, v in wl.build_s.items()))
    section("build")
    x = random_inputs(arch, n_img, args.density, seed=1)
    dens = emulator_densities(wl.chip, x[:8], T)
    kd = kind_densities(dens)
    log("emulator densities: " + ", ".join(f"{k} {v:.3f}" for k, v in kd.items()))
    sim = TorchSim(wl.model, wl.cfg, T, weights=wl.weights)
    tdens = sim.densities(x[:8])
    emu, tor = time_pair(wl.chip, sim, x, T, emu_batches=emu_b, torch_batches=tor_b, reps=reps)
    log(f"emulator: {emu['img_s']:.2f} img/s (batch {emu['batch']}); torch: {tor['img_s']:.2f} img/s "
        f"(batch {tor['batch']}); paired ratio {tor['paired_ratio']:.2f}")
    section("emulator_and_torch")
    res["headline"] = {
        "arch": dataclasses.asdict(arch) | {"mask": int(arch.mask)}, "timesteps": T, "n_images": n_img,
        "density_target": args.density, "emulator": emu, "torch": tor, "ratio": emu["img_s"] / tor["img_s"],
        "ratio_median": emu["img_s_median"] / tor["img_s_median"], "ratio_paired": tor["paired_ratio"],
        "density_emulator": dens, "density_emulator_by_kind": kd,
        "density_float": wl.float_density, "density_float_by_kind": kind_densities(wl.float_density),
        "density_torch": tdens, "density_torch_by_kind": kind_densities(tdens), "build_s": wl.build_s}

    # ---------------------------------------------------------------- breakdown + roofline
    log("breakdown ...")
    bd = breakdown(wl.chip, x[:min(len(x), 16 if quick else 64)], T, min(emu["batch"], 16 if quick else 64), kd,
                   min_s=0.02 if quick else 0.05)
    res["breakdown"] = bd
    gemm = torch_gemm_gflops()
    res["roofline"] = roofline(arch, bd, kd, T, emu["img_s"], tor["img_s"], sim.flops_per_image(), gemm)
    section("breakdown_roofline")

    # ---------------------------------------------------------------- digits
    log("digits test split ...")
    res["digits"] = digits_timing(args.digits_model, args.density, reps=1 if quick else 3)
    log(f"digits: {res['digits']['best_s']:.2f} s")
    section("digits")

    # ---------------------------------------------------------------- scaling
    if not quick and not args.no_scaling:
        log("scaling grid ...")
        res["scaling"] = scaling(density=args.density, timesteps=4)
        section("scaling")
    res["targets"] = {
        "emulator >= 2.0x torch": res["headline"]["ratio"] >= 2.0,
        "emulator >= 17 img/s": emu["img_s"] >= 17.0,
        "digits test split < 5 s": res["digits"]["best_s"] < 5.0,
        "bit-identical logits across reps and batch sizes": emu["identical_logits"],
    }
    res["load_end"] = [round(v, 2) for v in os.getloadavg()]
    res["total_s"] = time.perf_counter() - t_start
    if args.json:
        print(json.dumps(res, indent=1, default=_json_default))
    else:
        print(render(res))
    return 0


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple):
        return list(o)
    return str(o)


if __name__ == "__main__":
    raise SystemExit(main())
