"""Where the emulator's time goes (``tools/bench.py``), measured through the runner's public hooks only.

* In a run: a :class:`bittrue.run.Profiler` (:class:`OpTimes`) sums the wall time of every netlist op by kind
  (crossbar, SSA, LIF, residual add, encoder, embedding, readout) and the LFSR seeding; what is left of the wall
  time is the runner's Python loop.
* Inside a crossbar: standalone calls of one layer, :meth:`bittrue.run.Runner.crossbar` and
  :func:`bittrue.kernels.crossbar.crossbar_layer` (public; its signature is stable), split its time
  (:func:`crossbar_costs`):

  ===========================  ==================================================================================
  t(0, off)                    density-0 spikes, noise off: loop, ADC, partial sums, requantisation
  t(d, off) - t(0, off)        accumulate (the synaptic adds at density d)
  t(d, on) - t(d, off)         output noise
  slope over row tiles         ADC + partial sum per conversion: t(0, off) again with 4x as many row tiles (the
                               same columns, tokens and outputs), (t_fine - t(0, off)) / (extra conversions)
  t(0, off) - slope x conv     requantisation and the loop (per output, not per conversion)
  ===========================  ==================================================================================

  The four calls of a kind are timed in interleaved rounds, best of 7 (:func:`best_times`).  Each layer kind's
  in-run crossbar time is split in these proportions.  The *conversion path* is noise + ADC +
  partial sums; its cost per conversion is its in-run seconds over the conversions of the run.
* Roofline (:func:`roofline`): synaptic adds / accumulate seconds of the standalone calls is the emulator's own
  accumulate throughput; over the adds of one image it bounds images/s, and the emulator reaches a fraction of
  that bound.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from _bench_workload import KINDS, adds_per_image, conversions_per_image, layer_kind
from bittrue import netlist as nl

#: report part of each profiler kind (crossbars are split further)
PART_OF_KIND = {nl.SSA: "ssa", nl.LIF: "lif", nl.ADD: "residual", nl.ENCODER: "encoder", nl.EMBED: "embed",
                nl.LOGITS: "readout", "seeds": "seeds"}
#: the crossbar's parts, in the order of the table above
XBAR_PARTS = ("xbar_accumulate", "xbar_noise", "xbar_adc_psum", "xbar_requant_loop")
#: the crossbar parts that make the conversion path
CONVERSION_PARTS = ("xbar_noise", "xbar_adc_psum")
#: row tiles of the slope measurement, relative to the chip's
FINE_TILES = 4


class OpTimes:
    """A :class:`bittrue.run.Profiler`: wall seconds per (op kind, op name), summed over calls."""

    def __init__(self):
        self.seconds: dict[tuple[str, str], float] = {}

    def __call__(self, kind: str, name: str, seconds: float) -> None:
        key = (kind, name)
        self.seconds[key] = self.seconds.get(key, 0.0) + seconds

    def by_kind(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for (kind, _), s in self.seconds.items():
            out[kind] = out.get(kind, 0.0) + s
        return out

    def crossbar_by_layer_kind(self) -> dict[str, float]:
        """In-run crossbar seconds per layer kind (``blocks.b.mlp1`` -> ``mlp1``)."""
        out = {k: 0.0 for k in KINDS}
        for (kind, name), s in self.seconds.items():
            if kind == nl.XBAR:
                out[layer_kind(name)] = out.get(layer_kind(name), 0.0) + s
        return out


def best_times(fns: list[Callable[[], object]], reps: int = 7, min_s: float = 0.05) -> list[float]:
    """Best per-call seconds of each of ``fns`` over ``reps`` rounds, each round of one call repeated to last at
    least ``min_s``, the calls' rounds interleaved (``a b c d a b c d ...``) after one warm-up call each.

    The breakdown takes differences of these timings, so a burst of load on a shared machine should hit all of
    them alike rather than one; with the rounds interleaved and the best of ``reps`` kept, a difference is off
    only where every round of one call was disturbed.
    """
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(reps):
        for i, fn in enumerate(fns):
            n, t0 = 0, time.perf_counter()
            while True:
                fn()
                n += 1
                dt = time.perf_counter() - t0
                if dt >= min_s:
                    break
            best[i] = min(best[i], dt / n)
    return best


def _crossbar_retiled(runner, name: str, spikes: np.ndarray, ids: np.ndarray, tile_rows: int,
                      y: np.ndarray) -> None:
    """Layer ``name`` of the runner's chip with row tiles of ``tile_rows``, noise off (a what-if for timing)."""
    from bittrue.kernels.crossbar import crossbar_layer

    lay = runner.layers[name]
    cfg = runner.cfg
    e4, e4h = np.empty((0, 0, 0, 0), np.int32), np.empty((0, 0, 0, 0), np.int16)
    crossbar_layer(spikes, lay.g_diff_code, tile_rows, cfg.tile.cols, lay.i_fs_code, lay.sigma_code,
                   cfg.tile.adc_bits, 0, np.uint64(0), ids, lay.layer_id, 0, lay.m_code, lay.b_code, lay.s_shift,
                   cfg.lif.width, y, e4, e4, e4h)


def split_crossbar(rec: dict) -> dict[str, float]:
    """Seconds of a standalone crossbar call in each of :data:`XBAR_PARTS`, from its timings.

    Differences that timing noise makes negative count as 0, so the parts sum to t(0, off) + the positive
    differences (= t(d, on) when the timings are consistent).
    """
    acc = max(rec["t_acc_s"] - rec["t_zero_s"], 0.0)
    noise = max(rec["t_full_s"] - rec["t_acc_s"], 0.0)
    adc = min(rec["s_per_conversion"] * rec["conversions"], rec["t_zero_s"])
    return dict(zip(XBAR_PARTS, (acc, noise, adc, rec["t_zero_s"] - adc)))


def crossbar_costs(runner, kind_density: dict[str, float], nb: int, seed: int = 0, min_s: float = 0.05) -> dict:
    """Standalone timings of the first crossbar of each layer kind, per call of ``nb`` samples (module docstring).

    Per kind: ``t_zero_s`` t(0, off), ``t_acc_s`` t(d, off), ``t_full_s`` t(d, on), ``t_fine_s`` t(0, off) with
    :data:`FINE_TILES` x the row tiles, ``s_per_conversion`` the slope, the adds at density d (measured active
    rows x columns), the conversions and outputs of one call, ``split`` (the fractions of
    :func:`split_crossbar`, summing to 1) and ``ns_per_conversion`` (noise + ADC + partial sums standalone).
    """
    rng = np.random.default_rng(seed)
    ops = nl.crossbars(runner.arch)
    rows = runner.cfg.tile.rows
    ids = np.arange(nb, dtype=np.int64)
    out = {}
    for kind in KINDS:
        name = next(n for n in ops if layer_kind(n) == kind)
        op = ops[name]
        d = kind_density.get(kind, 0.15)
        spk_d = (rng.random((nb, op.tokens, op.n_in)) < d).astype(np.uint8)
        spk_0 = np.zeros_like(spk_d)
        y = np.empty((nb, op.tokens, op.n_out), np.int32)

        def call(spk, noise):
            return lambda: runner.crossbar(name, spk, ids, 0, noise_on=noise, out=y)

        n_rt = -(-op.n_in // rows)
        rows_fine = max(1, -(-op.n_in // (FINE_TILES * n_rt)))
        n_rt_fine = -(-op.n_in // rows_fine)
        t_zero, t_acc, t_full, t_fine = best_times(
            [call(spk_0, False), call(spk_d, False), call(spk_d, True),
             lambda: _crossbar_retiled(runner, name, spk_0, ids, rows_fine, y)], min_s=min_s)
        rec = {"layer": name, "n_in": op.n_in, "n_out": op.n_out, "tokens": op.tokens, "density": d,
               "t_zero_s": t_zero, "t_acc_s": t_acc, "t_full_s": t_full, "t_fine_s": t_fine,
               "adds": float(spk_d.sum(dtype=np.int64)) * op.n_out, "row_tiles": n_rt, "row_tiles_fine": n_rt_fine,
               "conversions": nb * op.tokens * n_rt * op.n_out, "outputs": nb * op.tokens * op.n_out}
        extra = nb * op.tokens * (n_rt_fine - n_rt) * op.n_out
        rec["s_per_conversion"] = max(rec["t_fine_s"] - rec["t_zero_s"], 0.0) / extra if extra > 0 else 0.0
        sec = split_crossbar(rec)
        rec["split"] = {p: v / sum(sec.values()) for p, v in sec.items()}
        rec["ns_per_conversion"] = 1e9 * sum(sec[p] for p in CONVERSION_PARTS) / rec["conversions"]
        out[kind] = rec
    return out


def breakdown(chip, x: np.ndarray, timesteps: int, batch: int, kind_density: dict[str, float],
              min_s: float = 0.05) -> dict:
    """Share of the emulator's wall time per part (module docstring), and the conversion path's cost."""
    from bittrue.run import Runner

    arch = chip.arch
    prof = OpTimes()
    runner = Runner(chip, timesteps=timesteps)
    ids = np.arange(len(x), dtype=np.int64)
    runner.run_batch(x[:2], ids[:2])  # JIT warm-up (cache load)
    runner.profiler = prof
    t0 = time.perf_counter()
    for i in range(0, len(x), batch):
        runner.run_batch(x[i:i + batch], ids[i:i + batch])
    wall = time.perf_counter() - t0
    runner.profiler = None
    xc = crossbar_costs(runner, kind_density, min(batch, len(x)), min_s=min_s)
    kind_time = prof.crossbar_by_layer_kind()
    parts = dict.fromkeys(XBAR_PARTS, 0.0)
    for kind, t_in in kind_time.items():
        for part, f in xc[kind]["split"].items():
            parts[part] += f * t_in
    for kind, s in prof.by_kind().items():
        if kind != nl.XBAR:
            parts[PART_OF_KIND.get(kind, kind)] = parts.get(PART_OF_KIND.get(kind, kind), 0.0) + s
    parts["python_loop"] = max(wall - sum(prof.seconds.values()), 0.0)
    conversions = len(x) * conversions_per_image(arch, chip.config.tile.rows, timesteps)
    conv_s = sum(parts[p] for p in CONVERSION_PARTS)
    acc_s = parts["xbar_accumulate"]
    return {"wall_s": wall, "img_s": len(x) / wall, "n_images": len(x), "batch": batch, "seconds": parts,
            "shares": {k: v / wall for k, v in parts.items()}, "op_seconds": prof.by_kind(),
            "crossbar_by_kind_s": kind_time, "crossbar_standalone": xc, "conversions": conversions,
            "conversion_path_s": conv_s, "ns_per_conversion": 1e9 * conv_s / conversions,
            "accumulate_s": acc_s, "conversion_over_accumulate": conv_s / acc_s if acc_s > 0 else float("inf"),
            "conversion_le_half_accumulate": bool(conv_s <= 0.5 * acc_s)}


def roofline(arch, bd: dict, kind_density: dict, timesteps: int, emu_img_s: float, torch_img_s: float,
             torch_flops_img: float, gemm_gflops: float) -> dict:
    """The emulator's accumulate bound and its fraction of it; torch's share of this machine's GEMM peak."""
    c = bd["crossbar_standalone"]
    per_kind = {}
    for kind in KINDS:
        t = c[kind]["t_acc_s"] - c[kind]["t_zero_s"]
        per_kind[kind] = c[kind]["adds"] / t / 1e9 if t > 0 else float("nan")
    big = ("qkv", "mlp1", "mlp2")  # the layers that carry most adds (embed and head are small, proj sparse)
    acc_t = sum(max(c[k]["t_acc_s"] - c[k]["t_zero_s"], 0.0) for k in big)
    acc_rate = sum(c[k]["adds"] for k in big) / acc_t if acc_t > 0 else float("inf")
    api = adds_per_image(arch, kind_density, timesteps)
    bound = acc_rate / api
    return {
        "accumulate_gadds_s": acc_rate / 1e9,
        "accumulate_gadds_s_by_kind": per_kind,
        "accumulate_gbytes_s": acc_rate * 2 / 1e9,  # one int16 conductance read per add
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
