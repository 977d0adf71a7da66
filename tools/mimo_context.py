"""SER against context length L and on an out-of-distribution channel, for the ICL detectors and LMMSE-LS.

    python tools/mimo_context.py                        # table on stdout (docs/mimo.md 8); --json for every number
    python tools/mimo_context.py --tasks-per-snr 250 --program-seed 0 --rx-corr 0.9

The shipped ``mimo-icl`` model has 20 token positions (L = 16 pilots + Q = 4 queries, spec 6).  For L < 16 the
prompt keeps its 20 positions: the 16 pilot slots hold the L distinct pilot pairs repeated cyclically
(``slot j`` holds pilot ``j mod L``), so the model sees exactly the information of L pilots and the queries keep
their trained positions.  LMMSE-LS is computed on the L distinct pilots (repeating a pilot does not change the LS
estimate).  L > 16 does not fit the model's positions: its ICL cells read "n/a" and only LMMSE-LS is given.

The out-of-distribution row uses L = 16 and a receive-correlated channel (Kronecker model, receive side:
``R[i, j] = rho^|i - j|``, ``--rx-corr``, default 0.9; the training channels are i.i.d.).

Every row is the evaluation set of ``bittrue.datasets.mimo.eval_tasks`` (seed ``TEST_SEED``, 0..30 dB) with the
row's L, scored with :mod:`bittrue.mimo_report` (same tasks for every detector of a row).  Bit-true ICL runs the
emulated chip (PCM, 1 day, drift compensation on, ``--program-seed``); float ICL is ``float_forward``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CONTEXTS = (4, 8, 16, 32)


def _icl_prompt(tasks: dict, cfg_l, cfg16) -> dict:
    """The 20-token prompt of L-pilot tasks: 16 pilot slots filled cyclically with the L pilots, then the queries."""
    L = cfg_l.pilots
    order = np.r_[np.arange(cfg16.pilots) % L, L + np.arange(cfg16.queries)]
    return {k: (v[:, order] if k in ("y", "x", "x_idx") else v) for k, v in tasks.items()}


def main(argv=None) -> int:
    from bittrue.datasets.mimo import EVAL_SNR_DB, MimoConfig, eval_tasks, prompt_tokens, split_joint
    from bittrue.floatmodel import float_forward
    from bittrue.mimo_baselines import detect
    from bittrue.mimo_report import mimo_report
    from bittrue.pipeline import build_chip, load_config, load_model
    from bittrue.run import Runner, predict
    from bittrue.workloads import mimo_config

    p = argparse.ArgumentParser(prog="python tools/mimo_context.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks-per-snr", type=int, default=100, help="tasks per SNR point per row (default 100)")
    p.add_argument("--program-seed", type=int, default=0, help="PCM programming seed (default 0)")
    p.add_argument("--rx-corr", type=float, default=0.9, help="receive correlation of the OOD row (default 0.9)")
    p.add_argument("--model", default=None, help="float model .h5 (default: the shipped mimo-icl)")
    p.add_argument("--ann", default=None, metavar="FILE.npz",
                   help="add the same-size ANN detector (tools/train_mimo_ann.py, numpy forward) as a column")
    p.add_argument("--no-snn", action="store_true", help="skip the bit-true and float ICL (with --ann: ANN only)")
    p.add_argument("--json", action="store_true", help="JSON with every row's full report")
    args = p.parse_args(argv)
    if args.tasks_per_snr < 1 or not 0 <= args.rx_corr < 1:
        print("error: --tasks-per-snr must be >= 1 and --rx-corr in [0, 1)", file=sys.stderr)
        return 2
    ns = argparse.Namespace(hardware=None, seed=None, timesteps=None)
    hw = load_config(ns)
    model = load_model(args.model, "mimo", hw)
    arch = model.arch
    T = arch.timesteps
    if not args.no_snn:
        chip = build_chip(model, hw, "pcm", None, False, args.program_seed, args.model, True)
        runner = Runner(chip, timesteps=T)
    ann = None
    if args.ann:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from ann import ann_arch, load_ann
        from train_mimo_ann import ann_predict

        ann = load_ann(args.ann)
        ann_a = ann_arch(ann)
    cfg16 = MimoConfig()
    n = args.tasks_per_snr * len(EVAL_SNR_DB)

    def icl(tokens):
        ids = np.arange(len(tokens), dtype=np.int64)
        bit = np.concatenate([runner.run_batch(tokens[i:i + 64], ids[i:i + 64]) for i in range(0, n, 64)])
        rng = np.random.default_rng(hw.run.root_seed)
        flt = np.concatenate([float_forward(model, tokens[i:i + 64], timesteps=T, rng=rng, k_s=hw.resolved_k_s(arch.d_k),
                                            k_o=hw.resolved_k_o(arch.n_tokens), leak_shift=hw.lif.leak_shift,
                                            reset=hw.lif.reset) for i in range(0, n, 64)])
        return (split_joint(predict(bit), cfg16.order, cfg16.n_t), split_joint(predict(flt), cfg16.order, cfg16.n_t))

    rows = []
    for L, rho in [(L, 0.0) for L in CONTEXTS] + [(16, args.rx_corr)]:
        t0 = time.perf_counter()
        cfg_l = MimoConfig(pilots=L)
        tasks = eval_tasks(cfg_l, n, rx_corr=rho)
        preds = {}
        if L <= cfg16.pilots:
            prompt = _icl_prompt(tasks, cfg_l, cfg16)
            tokens = np.ascontiguousarray(prompt_tokens(prompt, cfg16))
            if not args.no_snn:  # the model's own token format (its copies of the ramp and one-hot blocks)
                bit, flt = icl(np.ascontiguousarray(prompt_tokens(prompt, mimo_config(arch))))
                preds = {f"ICL pcm 1d (seed {args.program_seed})": bit, "ICL float": flt}
            if ann is not None:
                preds["ANN ICL"] = split_joint(ann_predict(ann, tokens, ann_a), cfg16.order, cfg16.n_t)
        preds["lmmse-ls"] = detect(tasks, cfg_l, "lmmse-ls")
        if rho:
            preds["lmmse-true"] = detect(tasks, cfg_l, "lmmse-true")
            preds["ml-ls"] = detect(tasks, cfg_l, "ml-ls")
        rep = mimo_report(tasks, preds, cfg_l)
        rows.append({"pilots": L, "rx_corr": rho, "report": rep, "seconds": time.perf_counter() - t0})
        print(f"L = {L}, rho = {rho}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if args.json:
        print(json.dumps({"tasks_per_snr": args.tasks_per_snr, "program_seed": args.program_seed, "rows": rows}))
        return 0
    cols = [c for c in rows[2]["report"]["columns"]] + ["LMMSE-true", "ML-LS"]  # row 2: L = 16, every ICL column
    print(f"mean SER over 0..20 dB ({args.tasks_per_snr} tasks per SNR, 0..30 dB grid), [SER at 20 dB]\n")
    print("| pilots L | channel | " + " | ".join(cols) + " | ICL pcm / LMMSE-LS |")  # "n/a" without the SNN
    print("|---:|---|" + "---:|" * (len(cols) + 1))
    for r in rows:
        m = r["report"]
        i20 = m["snr_db"].index(20.0)
        cells = [f"{m['mean_ser'][c]:.3f} [{m['ser'][c][i20]:.3f}]" if c in m["mean_ser"]
                 else "n/a" if "ICL" in c else "-" for c in cols]
        ratio = m["ratio_to_lmmse_ls"].get(cols[0]) if cols[0].startswith("ICL") else None
        chan = "i.i.d." if not r["rx_corr"] else f"rx corr {r['rx_corr']:g}"
        print(f"| {r['pilots']} | {chan} | " + " | ".join(cells) + f" | {'n/a' if ratio is None else f'{ratio:.2f}'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
