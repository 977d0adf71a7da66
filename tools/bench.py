#!/usr/bin/env python
"""Benchmark: bit-true emulator vs a PyTorch float simulation of the same spiking transformer.

Usage::

    python tools/bench.py                 # full run (a few minutes): headline, roofline, breakdown, digits, scaling
    python tools/bench.py --quick         # 40 s on 2 idle cores (80 s when Numba first compiles): fewer images, no grid
    python tools/bench.py --json          # the same, one JSON object on stdout (logs on stderr)

What one run measures (``docs/performance.md`` explains the method); the parts live in ``tools/_bench_*.py``:

1. **Workload** (``_bench_workload``).  A random float model of ``cifar10-vit-small`` (spec 6: N = 65 tokens,
   D = 512, depth 6, 8 heads of d_k = 64, MLP 2048) whose LIF thresholds are set, layer by layer in data-flow
   order, so that every LIF population fires at rate ``--density`` (default 0.15) on a handful of random images.
   It is compiled by ``bittrue.compile.compile_model`` (ADC calibration on those images), programmed with the
   PCM device model (drift to 1 day, output noise on) and run at T = 4.  The spike densities that the emulator
   sees at every crossbar input are measured with a ``bittrue.run.Sink`` and printed.
2. **Headline** (``_bench_timing``, ``_bench_torch``).  Emulator images/s (``Runner.run_batch``) and those of
   ``TorchSim``, a float32 PyTorch simulation of the same network on the same threads, timed in alternation,
   repetition by repetition; best, median and paired ratios.  The emulator's logits must be identical in every
   repetition and at every batch size.
3. **Roofline and breakdown** (``_bench_breakdown``).  Through the runner's public hooks (a ``Profiler`` and
   ``Runner.crossbar``): each part's share of the emulator's time, the emulator's fraction of its own
   accumulate bound, and the conversion path's (output noise + ADC + partial sums) cost in ns per conversion.
4. **Digits.**  The full digits test split at T = 8 through ``bittrue.run.run``, after warm-up.
5. **Scaling** (full run only).  Emulator and torch ms/image for tokens N in (17, 65, 257) x width D in
   (64, 256, 512), depth 6, d_k = 64 (heads = D / 64), MLP = 4 D, T = 4, same density.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

TOOLS = Path(__file__).resolve().parent
if str(TOOLS) not in sys.path:  # the parts are imported by bare name, as when run as a script
    sys.path.insert(0, str(TOOLS))

from _bench_breakdown import breakdown, roofline  # noqa: E402
from _bench_timing import digits_timing, scaling, time_pair  # noqa: E402
from _bench_torch import TorchSim, torch_gemm_gflops  # noqa: E402
from _bench_workload import KINDS, build_workload, emulator_densities, kind_densities, log, make_arch  # noqa: E402
from _bench_workload import random_inputs  # noqa: E402

#: issue 19's lines: paired ratio at the headline, ratio at every scaling point
RATIO_TARGET = 1.6
SCALING_RATIO_TARGET = 1.3


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


def _render_headline(res: dict, out: list[str]) -> None:
    h = res["headline"]
    e, t = h["emulator"], h["torch"]
    out.append(f"== {h['arch']['name']}, T = {h['timesteps']}, {h['n_images']} random images, device pcm ==")
    out.append(_fmt_table(
        ["", "images/s", "median img/s", "batch", "note"],
        [["emulator (bit-true)", f"{e['img_s']:.2f}", f"{e['img_s_median']:.2f}", e["batch"],
          f"logits identical: {e['identical_logits']}"],
         ["torch float32 sim", f"{t['img_s']:.2f}", f"{t['img_s_median']:.2f}", t["batch"], "dense addmm + bernoulli"],
         ["ratio emulator/torch", f"{h['ratio']:.2f}x", f"{h['ratio_median']:.2f}x", "",
          f"paired per repetition: {h['ratio_paired']:.2f}x"]]))
    out.append("(emulator and torch are timed in alternation, repetition by repetition; images/s is the best "
               "repetition, median img/s the median one)")
    out.append("per batch size: emulator " + ", ".join(f"{b}: {r['img_s']:.2f}" for b, r in e["by_batch"].items())
               + "; torch " + ", ".join(f"{b}: {r['img_s']:.2f}" for b, r in t["by_batch"].items()))
    out.append("targets: " + ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in res["targets"].items()))
    out.append("")
    out.append("crossbar input spike densities (emulator | float calibration pass | torch sim), mean over blocks:")
    kd, kf, kt = h["density_emulator_by_kind"], h["density_float_by_kind"], h["density_torch_by_kind"]
    nan = float("nan")
    out.append(_fmt_table(["layer", "emulator", "float", "torch"],
                          [[k, f"{kd.get(k, nan):.4f}", f"{kf.get(k, nan):.4f}", f"{kt.get(k, nan):.4f}"]
                           for k in KINDS]))
    out.append("per layer (emulator): " + ", ".join(f"{k}: {v:.3f}" for k, v in h["density_emulator"].items()
                                                     if not k.startswith("ssa_in:")))


def _render_profile(res: dict, out: list[str]) -> None:
    r, b = res["roofline"], res["breakdown"]
    out.append("== roofline ==")
    out.append(f"bare crossbar accumulate: {r['accumulate_gadds_s']:.2f} G adds/s "
               f"({r['accumulate_gbytes_s']:.1f} GB/s of int16 conductance rows); per kind "
               + ", ".join(f"{k} {v:.2f}" if np.isfinite(v) else f"{k} -"
                           for k, v in r["accumulate_gadds_s_by_kind"].items()))
    out.append(f"adds per image: {r['adds_per_image'] / 1e6:.1f} M -> accumulate-only bound "
               f"{r['accumulate_bound_img_s']:.1f} img/s; emulator reaches "
               f"{100 * r['emulator_fraction_of_bound']:.0f}% of its own accumulate bound")
    out.append(f"torch: {r['torch_flops_per_image'] / 1e9:.2f} GFLOP/image, "
               f"{r['torch_gflops_s']:.1f} GFLOP/s achieved, "
               f"dense GEMM peak {r['gemm_gflops_s']:.1f} GFLOP/s ({100 * r['torch_fraction_of_gemm']:.0f}%), "
               f"GEMM-only bound {r['gemm_bound_img_s']:.1f} img/s")
    out.append("")
    out.append(f"== emulator time breakdown ({b['n_images']} images, batch {b['batch']}, {b['img_s']:.2f} img/s with "
               "the profiler) ==")
    out.append(_fmt_table(["part", "share", "seconds"],
                          [[k, f"{100 * v:.1f}%", f"{b['seconds'][k]:.3f}"]
                           for k, v in sorted(b["shares"].items(), key=lambda kv: -kv[1])]))
    out.append(f"conversion path (noise + ADC + partial sums): {b['conversion_path_s']:.3f} s for "
               f"{b['conversions'] / 1e6:.1f} M conversions = {b['ns_per_conversion']:.2f} ns per conversion "
               f"({res['machine']['threads']} threads); {b['conversion_over_accumulate']:.2f}x the accumulate's "
               f"{b['accumulate_s']:.3f} s: <= half {'PASS' if b['conversion_le_half_accumulate'] else 'FAIL'}")
    out.append("crossbar standalone per call (ms; t(0,off), t(d,off), t(d,on), t(0,off) with 4x row tiles; "
               "ns/conversion): " + "; ".join(
                   f"{k}: {1e3 * c['t_zero_s']:.2f}, {1e3 * c['t_acc_s']:.2f}, {1e3 * c['t_full_s']:.2f}, "
                   f"{1e3 * c['t_fine_s']:.2f}; {c['ns_per_conversion']:.2f}"
                   for k, c in b["crossbar_standalone"].items()))


def render(res: dict) -> str:
    m = res["machine"]
    out = [f"machine: {m.get('cpu', '?')}, {m['cpus']} CPUs, AVX-512 {m.get('avx512')}, threads {m['threads']}; "
           f"numba {m['numba']}, torch {m['torch']}, numpy {m['numpy']}",
           f"load average at start {res['load_start']}, at end {res['load_end']}", ""]
    _render_headline(res, out)
    out.append("")
    _render_profile(res, out)
    d = res.get("digits")
    if d:
        out.append("")
        out.append(f"== digits test split: {d['n_images']} images, T = {d['timesteps']}, batch {d['batch']}: "
                   f"{d['best_s']:.2f} s (median {d['median_s']:.2f} s, {d['img_s']:.0f} img/s), accuracy "
                   f"{100 * d['accuracy']:.1f}% [{d['model']}] ==")
    if res.get("scaling"):
        out.append("")
        out.append("== scaling (depth 6, d_k 64, MLP 4D, T 4; ms per image) ==")
        nan = float("nan")
        rows = [[s["N"], s["D"], s["heads"], f"{s['adds_per_image'] / 1e6:.1f}", f"{s['emu_ms_img']:.2f}",
                 f"{s.get('torch_ms_img', nan):.2f}", f"{s.get('ratio', nan):.2f}x", s["n_images"]]
                for s in res["scaling"]]
        out.append(_fmt_table(["N", "D", "heads", "M adds/img", "emulator ms/img", "torch ms/img",
                               "emu/torch speed", "images"], rows))
    out.append("")
    out.append(f"total bench time {res['total_s']:.1f} s ("
               + ", ".join(f"{k} {v:.1f}" for k, v in res.get("section_s", {}).items()) + ")")
    return "\n".join(out)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="fewer images, no scaling grid (about 40 s on 2 idle cores; 80 s with a cold Numba cache)")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    ap.add_argument("--threads", type=int, default=None, help="numba and torch threads (default: numba's default)")
    ap.add_argument("--density", type=float, default=0.15, help="target spike density (default 0.15)")
    ap.add_argument("--images", type=int, default=None, help="headline images (default 64, quick 32)")
    ap.add_argument("--reps", type=int, default=None, help="timed repetitions, best taken (default 3, quick 2)")
    ap.add_argument("--emu-batch", type=int, nargs="+", default=None, help="emulator batch sizes (default 16 32 64)")
    ap.add_argument("--torch-batch", type=int, nargs="+", default=None, help="torch batch sizes (default 16 32 64)")
    ap.add_argument("--digits-model", default=None, help="digits float model (default: the shipped one, if any)")
    ap.add_argument("--no-digits", action="store_true", help="skip the digits test split")
    ap.add_argument("--no-scaling", action="store_true", help="skip the N x D scaling grid")
    ap.add_argument("--arch", type=int, nargs=3, metavar=("N", "D", "DEPTH"), default=(65, 512, 6),
                    help="headline architecture: tokens, width, depth (default 65 512 6 = cifar10-vit-small; "
                         "d_k = min(64, D), MLP 4 D)")
    return ap


def run_bench(args: argparse.Namespace) -> dict:
    """Every section of the bench (module docstring) with the options of :func:`build_parser`; the report dict."""
    threads = args.threads_used
    quick = args.quick
    n_img = args.images or (32 if quick else 64)
    reps = args.reps or (2 if quick else 3)
    emu_b = tuple(args.emu_batch or ((32,) if quick else (16, 32, 64)))
    tor_b = tuple(args.torch_batch or ((32,) if quick else (16, 32, 64)))
    t_start = time.perf_counter()
    res: dict = {"machine": machine_info(threads), "load_start": [round(v, 2) for v in os.getloadavg()],
                 "args": {k: v for k, v in vars(args).items() if k != "threads_used"}, "section_s": {}}
    t_sec = [time.perf_counter()]

    def section(name: str) -> None:
        now = time.perf_counter()
        res["section_s"][name] = now - t_sec[0]
        t_sec[0] = now

    n_tok, dim, depth = args.arch
    default = tuple(args.arch) == (65, 512, 6)
    arch = make_arch(n_tok, dim, depth=depth, timesteps=4, name="cifar10-vit-small" if default else None)
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

    log("breakdown ...")
    bd = breakdown(wl.chip, x[:min(len(x), 16 if quick else 64)], T, min(emu["batch"], 16 if quick else 64), kd,
                   min_s=0.02 if quick else 0.05)
    res["breakdown"] = bd
    res["roofline"] = roofline(arch, bd, kd, T, emu["img_s"], tor["img_s"], sim.flops_per_image(),
                               torch_gemm_gflops())
    section("breakdown_roofline")
    if not args.no_digits:
        log("digits test split ...")
        res["digits"] = digits_timing(args.digits_model, args.density, reps=1 if quick else 3)
        log(f"digits: {res['digits']['best_s']:.2f} s")
        section("digits")
    if not quick and not args.no_scaling:
        log("scaling grid ...")
        res["scaling"] = scaling(density=args.density, timesteps=4)
        section("scaling")
    res["summary"] = {"ratio_paired": tor["paired_ratio"],
                      "fraction_of_accumulate_bound": res["roofline"]["emulator_fraction_of_bound"],
                      "ns_per_conversion": bd["ns_per_conversion"],
                      "conversion_over_accumulate": bd["conversion_over_accumulate"],
                      "conversion_le_half_accumulate": bd["conversion_le_half_accumulate"]}
    tg = {f"emulator >= {RATIO_TARGET}x torch (paired)": tor["paired_ratio"] >= RATIO_TARGET,
          "conversion path <= half the accumulate": bd["conversion_le_half_accumulate"],
          "emulator >= 17 img/s": emu["img_s"] >= 17.0,
          "bit-identical logits across reps and batch sizes": emu["identical_logits"]}
    if "digits" in res:
        tg["digits test split < 5 s"] = res["digits"]["best_s"] < 5.0
    if res.get("scaling"):
        tg[f"every scaling point >= {SCALING_RATIO_TARGET}x torch"] = all(
            s["ratio"] >= SCALING_RATIO_TARGET for s in res["scaling"])
    res["targets"] = tg
    res["load_end"] = [round(v, 2) for v in os.getloadavg()]
    res["total_s"] = time.perf_counter() - t_start
    return res


def _check(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Bad options end in argparse's usage error (exit 2) before anything is built."""
    from bittrue.model import ModelError

    if not 0.0 < args.density < 1.0:
        ap.error(f"--density {args.density}: must be in (0, 1)")
    for opt in ("threads", "images", "reps"):
        if getattr(args, opt) is not None and getattr(args, opt) < 1:
            ap.error(f"--{opt} {getattr(args, opt)}: must be >= 1")
    for opt in ("emu_batch", "torch_batch"):
        if getattr(args, opt) is not None and min(getattr(args, opt)) < 1:
            ap.error(f"--{opt.replace('_', '-')}: batch sizes must be >= 1")
    if min(args.arch) < 1:
        ap.error(f"--arch {' '.join(map(str, args.arch))}: tokens, width and depth must be >= 1")
    try:
        make_arch(args.arch[0], args.arch[1], depth=args.arch[2])
    except (ModelError, ValueError) as exc:
        ap.error(f"--arch {' '.join(map(str, args.arch))}: {exc}")


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    _check(ap, args)
    import numba
    try:
        import torch
    except ImportError:
        print("bench.py: error: the bench compares with PyTorch: install the train extra (pip install -e '.[train]')",
              file=sys.stderr)
        return 2

    saved = numba.get_num_threads(), torch.get_num_threads()
    if args.threads:
        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    args.threads_used = numba.get_num_threads()
    torch.set_num_threads(args.threads_used)
    try:
        res = run_bench(args)
    finally:  # a caller in the same process (a test) gets its thread counts back
        numba.set_num_threads(saved[0])
        torch.set_num_threads(saved[1])
    print(json.dumps(res, indent=1, default=_json_default) if args.json else render(res))
    return 0


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


if __name__ == "__main__":
    raise SystemExit(main())
