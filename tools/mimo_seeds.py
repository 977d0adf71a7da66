#!/usr/bin/env python
"""The issue's bit-true MIMO figures over program seeds: mean SER over 0..20 dB and SER at 20 dB, against LMMSE-LS.

    python tools/mimo_seeds.py [--model M.h5] [--hardware HW.toml] [--tasks-per-snr N] [--seeds 0,1,2,3,4] [--json]

For each program seed the tool compiles and programs the chip as ``infer`` does (PCM at 1 day, drift
compensation on, the default hardware configuration or ``--hardware``'s), runs the first N tasks per SNR of the test split that lie
in 0..20 dB through the bit-true emulator, and prints their mean SER and SER at 20 dB beside LMMSE-LS on the same
tasks.  The bit-true predictions are those of ``python -m bittrue infer --dataset mimo --tasks-per-snr N
--program-seed S`` (the same sample ids and seeds); the tool skips the 22..30 dB tasks and the float ICL, so the
full statistics (N = 10000, 110,000 tasks per seed) take minutes per seed instead of about an hour
(docs/mimo.md §8).  Tokens are built in chunks, so memory stays small at any N.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

CHUNK = 4096  #: tasks per token chunk


def measure(model_path, tasks_per_snr: int, seeds, quiet: bool = False, hardware=None) -> dict:
    """Per-seed and mean bit-true figures (module docstring) as a dict."""
    from bittrue.datasets.mimo import EVAL_SNR_DB, prompt_tokens, split_joint
    from bittrue.mimo_baselines import detect, mean_ser, ser_by_snr
    from bittrue.pipeline import build_chip, load_config, load_model
    from bittrue.run import Runner, predict
    from bittrue.workloads import mimo_config, mimo_tasks

    hw = load_config(argparse.Namespace(hardware=hardware, seed=None, timesteps=None))
    model = load_model(model_path, "mimo", hw)
    cfg = mimo_config(model.arch)
    n = tasks_per_snr * len(EVAL_SNR_DB)
    tasks = {k: v[:n] for k, v in mimo_tasks("test", n).items()}
    keep = np.nonzero(tasks["snr_db"] <= 20.0)[0]
    sub = {k: v[keep] for k, v in tasks.items()}
    ref = ser_by_snr(detect(sub, cfg, "lmmse-ls"), sub["query_idx"], sub["snr_db"])
    rows = []
    for seed in seeds:
        t0 = time.perf_counter()
        chip = build_chip(model, hw, "pcm", None, False, seed, model_path, True)
        runner = Runner(chip, timesteps=hw.run.timesteps or model.arch.timesteps)
        logits = []
        for i in range(0, len(keep), CHUNK):
            tok = np.ascontiguousarray(prompt_tokens({k: v[i:i + CHUNK] for k, v in sub.items()}, cfg))
            ids = keep[i:i + CHUNK].astype(np.int64)
            logits += [runner.run_batch(tok[j:j + 64], ids[j:j + 64]) for j in range(0, len(ids), 64)]
        pred = split_joint(predict(np.concatenate(logits)), cfg.order, cfg.n_t)
        ser = ser_by_snr(pred, sub["query_idx"], sub["snr_db"])
        rows.append({"program_seed": seed, "mean_ser": mean_ser(ser), "ser_20db": ser[20.0],
                     "ser": list(ser.values()), "seconds": time.perf_counter() - t0})
        if not quiet:
            print(f"program seed {seed}: mean SER {rows[-1]['mean_ser']:.4f}, 20 dB {ser[20.0]:.4f} "
                  f"({rows[-1]['seconds']:.0f} s)", file=sys.stderr)
    m, m20 = float(np.mean([r["mean_ser"] for r in rows])), float(np.mean([r["ser_20db"] for r in rows]))
    lm, lm20 = mean_ser(ref), ref[20.0]
    return {"model": str(model_path), "hardware": None if hardware is None else str(hardware),
            "tasks_per_snr": tasks_per_snr, "tasks_per_seed": int(len(keep)),
            "snr_db": list(ref), "lmmse_ls_ser": list(ref.values()), "seeds": rows, "mean_ser": m,
            "sd_over_seeds": float(np.std([r["mean_ser"] for r in rows], ddof=1)) if len(rows) > 1 else 0.0,
            "ser_20db": m20, "lmmse_ls_mean_ser": lm, "lmmse_ls_ser_20db": lm20,
            "ratio_mean": m / lm, "ratio_20db": m20 / lm20 if lm20 else None}


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a comma-separated list of integers") from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: program seeds are integers >= 0")
    return seeds


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="mimo_seeds.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="mimo-icl float model .h5 (default: the shipped one)")
    p.add_argument("--hardware", default=None, help="hardware configuration TOML (as infer's; default: the spec's)")
    p.add_argument("--tasks-per-snr", type=int, default=100, help="first N tasks per SNR (default 100; 10000: "
                   "the full statistics)")
    p.add_argument("--seeds", type=_seeds, default=[0, 1, 2, 3, 4], help="program seeds (default 0,1,2,3,4)")
    p.add_argument("--json", action="store_true", help="print JSON with every number")
    p.add_argument("--quiet", action="store_true", help="no per-seed lines on stderr")
    args = p.parse_args(argv)
    from bittrue.config import ConfigError
    from bittrue.model import ModelError, default_model_path

    if args.tasks_per_snr < 1:
        print("mimo_seeds.py: error: --tasks-per-snr must be >= 1", file=sys.stderr)
        return 2
    path = args.model or str(default_model_path("mimo-icl"))
    try:
        rep = measure(path, args.tasks_per_snr, args.seeds, args.quiet, args.hardware)
    except (ConfigError, ModelError, ValueError, OSError) as exc:
        print(f"mimo_seeds.py: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rep))
        return 0
    print(f"{rep['model']}: {rep['tasks_per_snr']} tasks per SNR, 0..20 dB ({rep['tasks_per_seed']:,} tasks per "
          f"seed), PCM 1 day, compensation on\n")
    print("| program seed | mean SER 0..20 dB | SER 20 dB |\n|---:|---:|---:|")
    for r in rep["seeds"]:
        print(f"| {r['program_seed']} | {r['mean_ser']:.4f} | {r['ser_20db']:.4f} |")
    print(f"| mean (sd) | {rep['mean_ser']:.4f} ({rep['sd_over_seeds']:.4f}) | {rep['ser_20db']:.4f} |")
    print(f"| LMMSE-LS, same tasks | {rep['lmmse_ls_mean_ser']:.4f} | {rep['lmmse_ls_ser_20db']:.4f} |")
    r20 = "n/a (no LMMSE-LS error)" if rep["ratio_20db"] is None else f"{rep['ratio_20db']:.2f}"
    print(f"| bit-true / LMMSE-LS | {rep['ratio_mean']:.3f} | {r20} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
