"""The MIMO SER table of ``infer --dataset mimo`` (to be replaced by ``bittrue.mimo_report``)."""
from __future__ import annotations

import numpy as np

from ..config import HardwareConfig
from ..options import fmt_time as _fmt_time
from .common import float_logits as _float_logits


def _mimo_table(args, model, cfg: HardwareConfig, x: np.ndarray, pred: np.ndarray, sel: slice, T: int,
                drift: float | None) -> dict:
    """SER versus SNR on the selected tasks: the run's ICL, float ICL and the classical baselines (docs/mimo.md).

    SER counts wrong antenna-symbols (joint predictions split per transmit antenna); per SNR over the tasks of
    that SNR; "mean" is the unweighted mean over the SNRs present.  Float ICL is ``float_forward`` on the same
    prompts with the root seed (the run itself when ``--device float``).  The baselines see the unquantised y.
    """
    from ..datasets.mimo import MimoConfig, split_joint
    from ..mimo_baselines import BASELINES, detect, mean_ser, ser_by_snr
    from ..run import predict
    from ..workloads import mimo_tasks

    mcfg = MimoConfig()
    tasks = {k: v[sel] for k, v in mimo_tasks(args.split).items()}
    truth, snr = tasks["query_idx"], tasks["snr_db"]

    def icl(p):
        return ser_by_snr(split_joint(p, mcfg.order, mcfg.n_t), truth, snr)

    if args.device == "float":
        name = "ICL float"
        cols = {name: icl(pred)}
    else:
        name = "ICL " + (f"pcm {_fmt_time(drift)}" if args.device == "pcm" else args.device)
        cols = {name: icl(pred)}
        cols["ICL float"] = icl(predict(_float_logits(model, cfg, x, T, args.batch_size, args.quiet)))
    names = {"lmmse-ls": "LMMSE-LS", "lmmse-true": "LMMSE-true", "zf-ls": "ZF-LS"}
    for b in BASELINES:
        cols[names.get(b, b)] = ser_by_snr(detect(tasks, mcfg, b), truth, snr)
    snrs = sorted(cols[name])
    means = {c: mean_ser(t) for c, t in cols.items()}
    ref = means["LMMSE-LS"]
    return {"tasks": len(snr), "split": args.split, "snr_db": snrs,
            "tasks_per_snr": [int(np.sum(snr == s)) for s in snrs], "columns": list(cols),
            "ser": {c: [t[s] for s in snrs] for c, t in cols.items()}, "mean_ser": means,
            "ratio_to_lmmse_ls": {c: (m / ref if ref > 0 else None) for c, m in means.items()},
            "icl_column": name, "baselines_received": "unquantised y"}


def _print_mimo(m: dict) -> None:
    cols = m["columns"]
    print(f"\nSER versus SNR, {m['tasks']} tasks of mimo/{m['split']} (2x2 QPSK, 16 pilots, 4 queries; "
          f"SER per antenna-symbol)\n")
    print("| SNR (dB) | " + " | ".join(cols) + " |")
    print("|---:|" + "---:|" * len(cols))
    for i, s in enumerate(m["snr_db"]):
        print(f"| {s:g} | " + " | ".join(f"{m['ser'][c][i]:.4f}" for c in cols) + " |")
    print("| **mean** | " + " | ".join(f"**{m['mean_ser'][c]:.4f}**" for c in cols) + " |")
    r = m["ratio_to_lmmse_ls"]
    print("| mean / LMMSE-LS | " + " | ".join("-" if r[c] is None else f"{r[c]:.2f}" for c in cols) + " |")
