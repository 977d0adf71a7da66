"""The same-size ANN in-context detector of mimo-icl: train it (PyTorch, CPU) or evaluate it (numpy, no torch).

The network is ``tools/_torch_net.py``'s ``AnnTransformer`` of the ``mimo-icl`` architecture (the SNN's netlist
with each op replaced by its ANN counterpart, ``tools/ann.py``'s ``ann_plan``): same depth (2), D (64), heads (4),
MLP (256), the same 20 tokens of 73 features (real inputs ``code / 255``), causal softmax attention, pre-LayerNorm
blocks, tanh-GELU, a final LayerNorm and the head on the last Q = 4 tokens (16 joint classes each).  It sees
exactly the token codes that the chip's spike encoder gets, so the difference between it and the bit-true ICL is
the cost of the spiking, stochastic and analog hardware, and the difference between it and LMMSE-LS is the
in-context capacity of a transformer of this size trained this way.

Training: the task distribution and seeds of ``tools/train_mimo.py`` (fresh tasks per step, SNR uniform
0..20 dB, seed ``TRAIN_SEED_BASE + 10^7 seed + step``; model selection on its validation set, seed 77, never the
test seed), AdamW, 3 % warm-up then cosine to 0, time-budgeted like ``train_mimo.py``::

    python tools/train_mimo_ann.py train --time-budget 1500 --out /tmp/mimo-icl-ann.npz     # torch, 2 CPU threads

Evaluation (numpy only, ``tools/ann.py``'s forward; the first N tasks per SNR of the evaluation set, the same
tasks as ``python -m bittrue infer --dataset mimo --tasks-per-snr N``)::

    python tools/train_mimo_ann.py eval /tmp/mimo-icl-ann.npz --tasks-per-snr 250     # --json for every number
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "tools") not in sys.path:
    sys.path.insert(0, str(ROOT / "tools"))

from ann import ATTENTIONS, NORMS  # noqa: E402  (numpy only, from tools/)


def _parse(argv):
    ap = argparse.ArgumentParser(prog="python tools/train_mimo_ann.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train with PyTorch on the CPU and write the .npz")
    t.add_argument("--out", type=Path, required=True, help="ANN weights (.npz, tools/ann.py format)")
    t.add_argument("--steps", type=int, default=100000, help="training steps (one fresh batch each)")
    t.add_argument("--time-budget", type=float, default=1500.0,
                   help="stop after this many seconds (0: none); the LR schedule follows max(step / steps, "
                        "elapsed / budget)")
    t.add_argument("--batch", type=int, default=256)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--weight-decay", type=float, default=1e-4)
    t.add_argument("--dropout", type=float, default=0.0)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--eval-every", type=int, default=250)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--attention", choices=ATTENTIONS, default=ATTENTIONS[0],
                   help="softmax attention, or the SSA's normalised linear attention on real rates (an ablation)")
    t.add_argument("--norm", choices=NORMS, default=NORMS[0],
                   help="LayerNorm, or a per-feature scale and offset without data-dependent division (an ablation)")
    t.add_argument("--init", type=Path, default=None, metavar="ANN.npz",
                   help="start from these ANN weights (any attention form: only the weights are taken)")
    t.add_argument("--force", action="store_true", help="overwrite --out")
    e = sub.add_parser("eval", help="SER table of the ANN beside the classical baselines (numpy only)")
    e.add_argument("ann", type=Path, help="ANN weights (.npz)")
    e.add_argument("--tasks-per-snr", type=int, default=250)
    e.add_argument("--json", action="store_true")
    return ap.parse_args(argv)


def ann_predict(params: dict, tokens: np.ndarray, arch) -> np.ndarray:
    """Joint predictions (n, Q) of the numpy forward on uint8 tokens (n, 20, 73), in batches."""
    from ann import ann_forward_tokens

    return np.concatenate([ann_forward_tokens(params, tokens[i:i + 512].astype(np.float64) / 255.0, arch)
                           .argmax(-1) for i in range(0, len(tokens), 512)])


def evaluate(args) -> int:
    from ann import ann_arch, load_ann
    from bittrue.datasets.mimo import EVAL_SNR_DB, MimoConfig, eval_tasks, prompt_tokens, split_joint
    from bittrue.mimo_baselines import baseline_predictions
    from bittrue.mimo_report import format_report, mimo_report

    if not args.ann.is_file() or args.tasks_per_snr < 1:
        print(f"error: {args.ann}: no such file (or --tasks-per-snr < 1)", file=sys.stderr)
        return 2
    params = load_ann(args.ann)
    arch = ann_arch(params)
    cfg = MimoConfig()
    tasks = eval_tasks(cfg, args.tasks_per_snr * len(EVAL_SNR_DB))
    t0 = time.perf_counter()
    pred = ann_predict(params, prompt_tokens(tasks, cfg), arch)
    secs = time.perf_counter() - t0
    rep = mimo_report(tasks, {"ANN ICL": split_joint(pred, cfg.order, cfg.n_t), **baseline_predictions(tasks, cfg)},
                      cfg)
    rep.update(ann=str(args.ann), ann_seconds=secs)
    print(json.dumps(rep) if args.json else format_report(rep))
    return 0


def train(args) -> int:  # noqa: C901
    import torch
    from _torch_net import AnnTransformer, ann_to_arrays, arrays_to_ann
    from ann import READ_ERRORS, load_ann, save_ann
    from train_mimo import TRAIN_SEED_BASE, VAL_SEED, VAL_TASKS
    from bittrue.datasets.mimo import (EVAL_SNR_DB, MimoConfig, eval_tasks, generate_tasks, prompt_tokens,
                                       query_labels, split_joint)
    from bittrue.fileio import atomic_output, check_output
    from bittrue.mimo_baselines import detect, mean_ser, ser_by_snr
    from bittrue.model import default_model_path, load_float_model

    check_output(args.out, args.force)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    cfg = MimoConfig()
    # exactly the shipped SNN's architecture, on the one-copy tokens: the copies of its ramp and one-hot blocks
    # (docs/mimo.md 11.7) average the chip's device noise and add nothing for a float network
    arch = dataclasses.replace(load_float_model(default_model_path("mimo-icl")).arch, ramp_copies=1,
                               onehot_copies=1, token_features=cfg.token_features)
    net = AnnTransformer(arch, dropout=args.dropout, attention=args.attention, norm=args.norm)
    if args.init is not None:
        try:
            arrays_to_ann(net, load_ann(args.init))
        except READ_ERRORS as exc:
            print(f"error: --init {args.init}: {exc}", file=sys.stderr)
            return 2
    seed0 = TRAIN_SEED_BASE + args.seed * 10_000_000
    val = eval_tasks(cfg, VAL_TASKS, seed=VAL_SEED, snr_grid_db=EVAL_SNR_DB[:11])
    val_x = torch.from_numpy(prompt_tokens(val, cfg).astype(np.float32) / 255.0)
    val_lmmse = mean_ser(ser_by_snr(detect(val, cfg, "lmmse-ls"), val["query_idx"], val["snr_db"]))

    def val_ser() -> float:
        net.eval()
        with torch.no_grad():
            p = torch.cat([net(val_x[i:i + 550]) for i in range(0, len(val_x), 550)]).argmax(-1).numpy()
        net.train()
        return mean_ser(ser_by_snr(split_joint(p, cfg.order, cfg.n_t), val["query_idx"], val["snr_db"]))

    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    lossf = torch.nn.CrossEntropyLoss()
    t_start = time.perf_counter()
    best = (float("inf"), None, -1)
    step, run_loss = 0, 0.0
    while step < args.steps:
        progress = step / args.steps
        if args.time_budget > 0:
            progress = max(progress, (time.perf_counter() - t_start) / args.time_budget)
        if progress >= 1.0:
            break
        lr = args.lr * (progress / 0.03 if progress < 0.03 else 0.5 * (1 + math.cos(math.pi * (progress - 0.03)
                                                                                   / 0.97)))
        for g in opt.param_groups:
            g["lr"] = lr
        tasks = generate_tasks(cfg, args.batch, seed0 + step)
        x = torch.from_numpy(prompt_tokens(tasks, cfg).astype(np.float32) / 255.0)
        y = torch.from_numpy(query_labels(tasks, cfg))
        loss = lossf(net(x).reshape(-1, arch.n_classes), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        run_loss += float(loss.detach())
        step += 1
        if step % args.eval_every == 0:
            m = val_ser()
            if m < best[0]:
                best = (m, copy.deepcopy(net.state_dict()), step)
            print(f"step {step} ({100 * progress:.0f} %): loss {run_loss / args.eval_every:.4f} val SER {m:.4f} "
                  f"(LMMSE-LS {val_lmmse:.4f}) lr {lr:.2e} [{time.perf_counter() - t_start:.0f} s]",
                  file=sys.stderr, flush=True)
            run_loss = 0.0
    m = val_ser()
    if m < best[0] or best[1] is None:
        best = (m, copy.deepcopy(net.state_dict()), step)
    net.load_state_dict(best[1])
    train_s = time.perf_counter() - t_start
    arrays = ann_to_arrays(net, arch)
    cmd = "python tools/train_mimo_ann.py " + " ".join(sys.argv[1:])
    arrays["meta.training"] = np.array(json.dumps({
        "command": cmd, "steps_run": step, "best_step": best[2], "train_seconds": round(train_s),
        "val_mean_ser": round(best[0], 6), "val_lmmse_ls_mean_ser": round(val_lmmse, 6),
        "data": f"generate_tasks(MimoConfig(), {args.batch}, {seed0} + step); validation eval_tasks(cfg, "
                f"{VAL_TASKS}, seed={VAL_SEED}, 0..20 dB)", "torch_version": torch.__version__}))
    np_pred = ann_predict(arrays, prompt_tokens(val, cfg), arch)
    np_ser = mean_ser(ser_by_snr(split_joint(np_pred, cfg.order, cfg.n_t), val["query_idx"], val["snr_db"]))
    with atomic_output(args.out, args.force) as tmp:
        save_ann(tmp, arrays)
    print(f"best step {best[2]} of {step} ({train_s:.0f} s): val mean SER torch {best[0]:.4f}, numpy {np_ser:.4f}, "
          f"LMMSE-LS {val_lmmse:.4f}; wrote {args.out}")
    return 0


def main(argv=None) -> int:
    args = _parse(argv)
    return train(args) if args.cmd == "train" else evaluate(args)


if __name__ == "__main__":
    raise SystemExit(main())
