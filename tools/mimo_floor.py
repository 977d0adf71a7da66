"""Where the mimo-icl error floor comes from: float-model ablations of the stochastic sources and of T.

    python tools/mimo_floor.py                       # the table of docs/mimo.md 11; --json for every number
    python tools/mimo_floor.py --tasks-per-snr 250 --rows "T=8" "T=8 expect=encoder" "T=16"
    python -m bittrue infer --dataset mimo --tasks-per-snr 100 --json > run.json
    python tools/mimo_floor.py --breakdown run.json   # high-SNR errors by the channel's smallest singular value

Each row runs the shipped model's float network (``bittrue.floatmodel.float_forward``, root seed 0) on the first
``--tasks-per-snr`` tasks per SNR of the evaluation set (the same tasks as ``infer --dataset mimo``) with some of
its stochastic sources replaced by their expectation (``expect=``: ``encoder``, the Bernoulli input spikes;
``score``, the SSA score spikes S; ``output``, the SSA output spikes O) and/or another number of time steps T.
A row with every source in expectation form and a large T approaches the network's noise-free function: what is
left there is what the trained weights can do, not what the sampling costs.  Reported: mean SER over 0..20 dB,
the ratio to LMMSE-LS on the same tasks, and the SER at 20 and 30 dB (the floor).

``--breakdown RUN.json`` reads the predictions of an ``infer --dataset mimo --json`` run instead and splits its
errors on the tasks of at least ``--min-snr`` dB (default 16, where the floor is) by the quartiles of the true
channel's smallest singular value ``s_min`` (the distance between the received constellation points scales with
it), beside LMMSE-LS on the same tasks, and by query position.  A detector limited only by the channel noise
makes almost no error in the top quartiles at these SNRs; a floor that stays there is the detector's own noise.
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


def breakdown(tasks, pred_idx, ref_idx, min_snr: float = 16.0) -> dict:
    """High-SNR symbol errors by ``s_min`` quartile of the true channel and by query position.

    ``pred_idx`` and ``ref_idx``: per-antenna indices (n, Q, n_t) of the detector and of the reference (LMMSE-LS).
    Returns ``{"tasks": k, "min_snr_db": ..., "s_min_quartiles": [{"lo", "hi", "tasks", "ser", "ser_ref"}],
    "ser_by_query": [...], "ser_ref_by_query": [...]}`` over the ``k`` tasks with ``snr_db >= min_snr``.
    """
    hi = np.asarray(tasks["snr_db"]) >= min_snr
    if not hi.any():
        raise ValueError(f"no task has SNR >= {min_snr} dB")
    truth = tasks["query_idx"]
    err = (np.asarray(pred_idx) != truth).mean(-1)[hi]  # (k, Q)
    ref = (np.asarray(ref_idx) != truth).mean(-1)[hi]
    s_min = np.linalg.svd(tasks["H"][hi], compute_uv=False)[:, -1]
    edges = np.quantile(s_min, [0.0, 0.25, 0.5, 0.75, 1.0])
    quart = np.searchsorted(edges[1:-1], s_min, side="right")  # 0..3
    rows = [{"lo": float(edges[b]), "hi": float(edges[b + 1]), "tasks": int((quart == b).sum()),
             "ser": float(err[quart == b].mean()), "ser_ref": float(ref[quart == b].mean())} for b in range(4)]
    return {"tasks": int(hi.sum()), "min_snr_db": float(min_snr), "s_min_quartiles": rows,
            "ser_by_query": err.mean(0).tolist(), "ser_ref_by_query": ref.mean(0).tolist()}


def _breakdown_main(args) -> int:
    from bittrue.datasets.mimo import EVAL_SNR_DB, MimoConfig, eval_tasks, split_joint
    from bittrue.mimo_baselines import detect

    cfg = MimoConfig()
    try:
        with open(args.breakdown, encoding="utf-8") as f:
            run = json.load(f)
        n = int(run["mimo"]["tasks"])
        pred = np.asarray(run["predictions"], dtype=np.int64)
        if run.get("dataset") != "mimo" or pred.shape != (n, cfg.queries) or run.get("start", 0) != 0:
            raise ValueError("not the output of 'infer --dataset mimo --json' from task 0")
        if pred.min() < 0 or pred.max() >= cfg.n_classes:
            raise ValueError("predictions out of range")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: {args.breakdown}: {exc}", file=sys.stderr)
        return 2
    tasks = eval_tasks(cfg, n)
    if n % len(EVAL_SNR_DB):
        print(f"note: {n} tasks is not a whole number per SNR", file=sys.stderr)
    try:
        rep = breakdown(tasks, split_joint(pred, cfg.order, cfg.n_t), detect(tasks, cfg, "lmmse-ls"), args.min_snr)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rep))
        return 0
    name = run.get("device", "icl")
    print(f"{args.breakdown}: {rep['tasks']} tasks of >= {rep['min_snr_db']:g} dB, device {name}\n")
    print("| s_min of H (quartile) | tasks | ICL SER | LMMSE-LS SER |")
    print("|---|---:|---:|---:|")
    for r in rep["s_min_quartiles"]:
        print(f"| {r['lo']:.2f} .. {r['hi']:.2f} | {r['tasks']} | {r['ser']:.3f} | {r['ser_ref']:.3f} |")
    print("\nSER by query position: ICL " + ", ".join(f"{v:.3f}" for v in rep["ser_by_query"])
          + "; LMMSE-LS " + ", ".join(f"{v:.3f}" for v in rep["ser_ref_by_query"]))
    return 0


def main(argv=None) -> int:
    from bittrue.config import HardwareConfig
    from bittrue.datasets.mimo import EVAL_SNR_DB, eval_tasks, prompt_tokens, split_joint
    from bittrue.floatmodel import SOURCES, float_forward
    from bittrue.mimo_baselines import detect
    from bittrue.mimo_report import mimo_report
    from bittrue.model import default_model_path, load_float_model
    from bittrue.workloads import mimo_config

    p = argparse.ArgumentParser(prog="python tools/mimo_floor.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks-per-snr", type=int, default=250)
    p.add_argument("--model", default=None, help="float model .h5 (default: the shipped mimo-icl)")
    p.add_argument("--rows", nargs="+", default=list(DEFAULT_ROWS), help="rows: 'T=N expect=a,b'")
    p.add_argument("--json", action="store_true")
    p.add_argument("--breakdown", default=None, metavar="RUN.json",
                   help="no rows: split the high-SNR errors of an 'infer --dataset mimo --json' run by s_min of H")
    p.add_argument("--min-snr", type=float, default=16.0, help="--breakdown: lowest SNR (dB) counted")
    args = p.parse_args(argv)
    if args.breakdown is not None:
        return _breakdown_main(args)
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
    cfg = mimo_config(arch)  # the model's token format (its copies of the ramp and one-hot blocks)
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
