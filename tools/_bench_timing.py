"""The bench's timing (``tools/bench.py``): emulator and torch timed in alternation, the digits test split, and
the N x D scaling grid.

The emulator is always timed through public entry points: ``Runner.run_batch`` (headline, scaling) and
``bittrue.run.run`` (digits, the CLI's path).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from _bench_torch import TorchSim
from _bench_workload import (adds_per_image, build_workload, calibrate_thresholds, emulator_densities,
                             kind_densities, log, make_arch, random_inputs)


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


def time_torch(sim: TorchSim, x: np.ndarray, batches=(16, 64), reps: int = 3) -> dict:
    sim.forward(x[:min(len(x), max(batches))])  # warm-up (allocator, kernels)
    res = {}
    for bs in batches:
        times, _ = _timed_runs(lambda xb, ib: sim.forward(xb), x, bs, reps)
        res[bs] = _rate(times, len(x))
    best_bs = max(res, key=lambda b: res[b]["img_s"])
    return {"by_batch": res, "batch": best_bs, "img_s": res[best_bs]["img_s"],
            "img_s_median": res[best_bs]["img_s_median"], "n_images": len(x), "reps": reps}


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
