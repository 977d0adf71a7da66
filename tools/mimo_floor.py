"""Where the mimo-icl error floor comes from: float-model ablations of the stochastic sources and of T.

    python tools/mimo_floor.py                       # the table of docs/mimo.md 11; --json for every number
    python tools/mimo_floor.py --tasks-per-snr 250 --rows "T=8" "T=8 expect=encoder" "T=16"

Each row runs the shipped model's float network (``bittrue.floatmodel.float_forward``, root seed 0) on the first
``--tasks-per-snr`` tasks per SNR of the evaluation set (the same tasks as ``infer --dataset mimo``) with some of
its stochastic sources replaced by their expectation (``expect=``: ``encoder``, the Bernoulli input spikes;
``score``, the SSA score spikes S; ``output``, the SSA output spikes O) and/or another number of time steps T.
A row with every source in expectation form and a large T approaches the network's noise-free function: what is
left there is what the trained weights can do, not what the sampling costs.  Reported: mean SER over 0..20 dB,
the ratio to LMMSE-LS on the same tasks, and the SER at 20 and 30 dB (the floor).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

DEFAULT_ROWS = ("T=8", "T=8 expect=encoder", "T=8 expect=score,output", "T=8 expect=encoder,score,output",
                "T=16", "T=32 expect=encoder,score,output")


def _row(text: str) -> tuple[int, tuple[str, ...]]:
    t, expect = 8, ()
    for part in text.split():
        key, _, val = part.partition("=")
        if key == "T":
            t = int(val)
        elif key == "expect":
            expect = tuple(v for v in val.split(",") if v)
        else:
            raise ValueError(f"row {text!r}: unknown field {key!r} (T=N, expect=a,b)")
    return t, expect


def main(argv=None) -> int:
    from bittrue.config import HardwareConfig
    from bittrue.datasets.mimo import EVAL_SNR_DB, MimoConfig, eval_tasks, prompt_tokens, split_joint
    from bittrue.floatmodel import SOURCES, float_forward
    from bittrue.mimo_baselines import detect
    from bittrue.mimo_report import mimo_report
    from bittrue.model import default_model_path, load_float_model

    p = argparse.ArgumentParser(prog="python tools/mimo_floor.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks-per-snr", type=int, default=250)
    p.add_argument("--model", default=None, help="float model .h5 (default: the shipped mimo-icl)")
    p.add_argument("--rows", nargs="+", default=list(DEFAULT_ROWS), help="rows: 'T=N expect=a,b'")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    try:
        rows = [_row(r) for r in args.rows]
        bad = [s for _, e in rows for s in e if s not in SOURCES]
        if bad or args.tasks_per_snr < 1 or any(t < 1 for t, _ in rows):
            raise ValueError(f"unknown source(s) {bad} (choose {', '.join(SOURCES)}), or T / --tasks-per-snr < 1")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    hw = HardwareConfig()
    model = load_float_model(args.model or default_model_path("mimo-icl"))
    arch = model.arch
    cfg = MimoConfig()
    tasks = eval_tasks(cfg, args.tasks_per_snr * len(EVAL_SNR_DB))
    x = prompt_tokens(tasks, cfg)
    ref = detect(tasks, cfg, "lmmse-ls")
    out = []
    for text, (T, expect) in zip(args.rows, rows):
        t0 = time.perf_counter()
        rng = np.random.default_rng(hw.run.root_seed)
        lg = np.concatenate([float_forward(model, x[i:i + 256], timesteps=T, rng=rng, k_s=hw.resolved_k_s(arch.d_k),
                                           k_o=hw.resolved_k_o(arch.n_tokens), leak_shift=hw.lif.leak_shift,
                                           reset=hw.lif.reset, expectation=frozenset(expect))
                             for i in range(0, len(x), 256)])
        rep = mimo_report(tasks, {text: split_joint(np.argmax(lg, -1), cfg.order, cfg.n_t), "lmmse-ls": ref}, cfg)
        i20, i30 = rep["snr_db"].index(20.0), rep["snr_db"].index(30.0)
        out.append({"row": text, "timesteps": T, "expectation": list(expect), "mean_ser": rep["mean_ser"][text],
                    "ratio_to_lmmse_ls": rep["ratio_to_lmmse_ls"][text], "ser_20db": rep["ser"][text][i20],
                    "ser_30db": rep["ser"][text][i30], "ser_ci_20db": rep["ser_ci"][text][i20],
                    "ser": rep["ser"][text], "seconds": time.perf_counter() - t0})
        print(f"{text}: mean SER {out[-1]['mean_ser']:.4f}, 20 dB {out[-1]['ser_20db']:.4f} "
              f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    if args.json:
        print(json.dumps({"tasks_per_snr": args.tasks_per_snr, "rows": out}))
        return 0
    print(f"float mimo-icl, {args.tasks_per_snr} tasks per SNR; LMMSE-LS mean SER 0..20 dB on the same tasks: "
          f"{rep['mean_ser']['LMMSE-LS']:.4f}\n")
    print("| float ablation | mean SER 0..20 dB | / LMMSE-LS | SER 20 dB [95 %] | SER 30 dB |")
    print("|---|---:|---:|---:|---:|")
    for r in out:
        lo, hi = r["ser_ci_20db"]
        print(f"| {r['row']} | {r['mean_ser']:.4f} | {r['ratio_to_lmmse_ls']:.2f} | {r['ser_20db']:.4f} "
              f"[{lo:.4f}, {hi:.4f}] | {r['ser_30db']:.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
