"""MIMO detection report (docs/mimo.md): SER and BER per SNR with 95 % intervals, SNR losses, table, JSON, plot.

Every detector is scored on the same tasks (paired).  Per SNR point and detector:

- **SER**: wrong antenna-symbols / antenna-symbols; **BER**: wrong Gray bits / bits (:func:`bit_errors`).
- **95 % interval** (:func:`cluster_wilson`): a Wilson score interval on an *effective* number of trials.  The
  errors of one task are correlated (one channel, one fade), so the antenna-symbols are clustered by task.  The
  design effect ``deff`` is the ratio of the cluster-robust variance of the mean (the variance of the per-task
  error fractions over the tasks, divided by their number) to the binomial variance ``p (1 - p) / N``, clipped
  to ``[1, m]`` (``m`` trials per task); the Wilson interval then uses ``N / deff`` trials.  With no error (or no
  spread) ``deff = m``: the task is the unit (the most conservative choice), so zero errors out of ``n`` tasks
  give the upper bound ``z^2 / (n + z^2)``, about ``3.8 / n``.  Deterministic (no resampling).
- **mean SER**: the unweighted mean of the per-SNR SERs over the training range 0..20 dB (the issue's figure of
  merit) and over all SNRs; **ratio**: mean / the reference's (LMMSE-LS) mean over 0..20 dB.
- **SNR at SER 1e-1 and 1e-2** (:func:`snr_at_ser`): the first crossing of the target, interpolated linearly in
  log10(SER) against SNR between the two grid points around it; ``None`` ("not reached") when the curve never
  falls to the target on the grid, or already sits below it at the first point.  **SNR loss** = SNR of the
  detector - SNR of LMMSE-LS at the same target (positive: the detector needs more SNR).
"""
from __future__ import annotations

import numpy as np

from .datasets.mimo import TRAIN_SNR_DB, MimoConfig
from .mimo_baselines import BASELINES, bit_errors

#: Display names of the classical baselines.
NAMES = {"lmmse-ls": "LMMSE-LS", "lmmse-true": "LMMSE-true", "zf-ls": "ZF-LS", "ml-ls": "ML-LS",
         "ml-true": "ML-true"}
REFERENCE = "LMMSE-LS"
#: SER targets of the SNR-loss figures.
TARGETS = (1e-1, 1e-2)
#: Tasks per SNR of the full-statistics run (the issue: >= 10^4 per SNR and >= 100 LMMSE-LS errors).
FULL_TASKS_PER_SNR = 10_000
MIN_REFERENCE_ERRORS = 100
Z95 = 1.959963984540054


def cluster_wilson(errors: np.ndarray, trials: int, z: float = Z95) -> tuple[float, float]:
    """95 % interval of a rate from per-task error counts ``errors`` (n,), ``trials`` per task (module docstring)."""
    e = np.asarray(errors, dtype=np.float64)
    n = e.size
    if n == 0:
        return (float("nan"), float("nan"))
    big_n = n * trials
    p = float(e.sum()) / big_n
    binom = p * (1.0 - p) / big_n
    robust = float(np.var(e / trials, ddof=1)) / n if n > 1 else 0.0
    deff = float(np.clip(robust / binom, 1.0, trials)) if binom > 0 and robust > 0 else float(trials)
    n_eff = big_n / deff
    z2 = z * z
    centre = (p + z2 / (2 * n_eff)) / (1 + z2 / n_eff)
    half = z / (1 + z2 / n_eff) * np.sqrt(p * (1 - p) / n_eff + z2 / (4 * n_eff * n_eff))
    lo = 0.0 if p == 0.0 else max(0.0, centre - half)
    hi = 1.0 if p == 1.0 else min(1.0, centre + half)
    return (float(lo), float(hi))


def snr_at_ser(snr_db, ser, target: float) -> float | None:
    """SNR (dB) where the SER curve first falls to ``target``, interpolated in log10 SER; None if not reached.

    A zero SER has no logarithm: :func:`mimo_report` passes ``max(SER, 0.5 / symbols)`` (half an error).
    """
    s = np.asarray(snr_db, dtype=np.float64)
    v = np.asarray(ser, dtype=np.float64)
    below = np.flatnonzero(v <= target)
    if below.size == 0 or below[0] == 0:
        return None
    j = int(below[0])
    lo, hi = np.log10(v[j - 1]), np.log10(max(v[j], 1e-300))
    return float(s[j - 1] + (lo - np.log10(target)) / (lo - hi) * (s[j] - s[j - 1]))


def mimo_report(tasks: dict[str, np.ndarray], preds: dict[str, np.ndarray], cfg: MimoConfig | None = None,
                reference: str = REFERENCE) -> dict:
    """Every number of the report (a JSON-ready dict) for detected indices ``preds`` ({name: (n, Q, n_t)}).

    Baseline keys of :data:`bittrue.mimo_baselines.BASELINES` are renamed to their display names.
    """
    cfg = MimoConfig() if cfg is None else cfg
    truth = tasks["query_idx"]
    snr = np.asarray(tasks["snr_db"], dtype=np.float64)
    n = len(snr)
    per_task = truth[0].size if n else cfg.queries * cfg.n_t  # antenna-symbols per task
    bits = int(cfg.order).bit_length() - 1
    grid = [float(s) for s in np.unique(snr)]
    cols = [NAMES.get(k, k) for k in preds]
    out = {"tasks": n, "snr_db": grid, "tasks_per_snr": [int(np.sum(snr == s)) for s in grid],
           "columns": cols, "reference": reference, "config": cfg.to_dict(),
           "symbols_per_snr": [int(np.sum(snr == s)) * per_task for s in grid],
           "bits_per_snr": [int(np.sum(snr == s)) * per_task * bits for s in grid],
           "interval": "95 % Wilson score interval on the cluster-robust effective sample size (tasks are the "
                       "clusters; docs/mimo.md)",
           "ser": {}, "ser_ci": {}, "ber": {}, "ber_ci": {}, "symbol_errors": {}, "bit_errors": {},
           "mean_ser": {}, "mean_ser_all": {}, "mean_ser_range_db": list(TRAIN_SNR_DB)}
    for key, name in zip(preds, cols):
        p = np.asarray(preds[key])
        if p.shape != truth.shape:
            raise ValueError(f"mimo_report: {name} predictions {p.shape}, labels {truth.shape}")
        sym = (p != truth).reshape(n, -1).sum(axis=1)
        bit = bit_errors(p, truth, cfg.order).reshape(n, -1).sum(axis=1)
        for field, e, m in (("ser", sym, per_task), ("ber", bit, per_task * bits)):
            out[field][name] = [float(e[snr == s].sum()) / (np.sum(snr == s) * m) for s in grid]
            out[field + "_ci"][name] = [list(cluster_wilson(e[snr == s], m)) for s in grid]
        out["symbol_errors"][name] = [int(sym[snr == s].sum()) for s in grid]
        out["bit_errors"][name] = [int(bit[snr == s].sum()) for s in grid]
        in_range = [v for s, v in zip(grid, out["ser"][name]) if TRAIN_SNR_DB[0] <= s <= TRAIN_SNR_DB[1]]
        out["mean_ser"][name] = float(np.mean(in_range)) if in_range else None
        out["mean_ser_all"][name] = float(np.mean(out["ser"][name])) if grid else None
    ref = out["mean_ser"].get(reference)
    out["ratio_to_lmmse_ls"] = {c: (m / ref if ref and m is not None else None) for c, m in out["mean_ser"].items()}
    floor = [0.5 / max(1, k) for k in out["symbols_per_snr"]]
    out["snr_at_ser"] = {f"{t:g}": {c: snr_at_ser(grid, np.maximum(out["ser"][c], floor), t) for c in cols}
                         for t in TARGETS}
    out["snr_loss_db"] = {}
    for t, at in out["snr_at_ser"].items():
        r = at.get(reference)
        out["snr_loss_db"][t] = {c: (None if r is None or v is None else v - r) for c, v in at.items()}
    if reference in out["symbol_errors"] and grid:
        errs = out["symbol_errors"][reference]
        out["min_reference_errors"] = int(min(errs))
        out["full_statistics"] = bool(min(errs) >= MIN_REFERENCE_ERRORS
                                      and min(out["tasks_per_snr"]) >= FULL_TASKS_PER_SNR)
    return out


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}"


def _cell(v: float, ci) -> str:
    return f"{_fmt(v)} [{_fmt(ci[0])}, {_fmt(ci[1])}]"


def format_report(m: dict) -> str:
    """The markdown tables of a report: SER with intervals, means, SNR losses, then BER, then the error counts."""
    cols = m["columns"]
    head = ["| SNR (dB) | tasks | " + " | ".join(cols) + " |", "|---:|---:|" + "---:|" * len(cols)]
    lines = ["SER per antenna-symbol, 95 % interval in brackets (task-clustered Wilson)", ""] + head
    for i, s in enumerate(m["snr_db"]):
        lines.append(f"| {s:g} | {m['tasks_per_snr'][i]} | "
                     + " | ".join(_cell(m["ser"][c][i], m["ser_ci"][c][i]) for c in cols) + " |")
    lo, hi = m["mean_ser_range_db"]
    lines.append(f"| mean {lo:g}..{hi:g} dB | | " + " | ".join(f"**{_fmt(m['mean_ser'][c])}**" for c in cols) + " |")
    lines.append("| mean, all SNRs | | " + " | ".join(_fmt(m["mean_ser_all"][c]) for c in cols) + " |")
    r = m["ratio_to_lmmse_ls"]
    lines.append(f"| mean / {m['reference']} | | " + " | ".join("-" if r[c] is None else f"{r[c]:.2f}" for c in cols)
                 + " |")
    for t in sorted(m["snr_at_ser"], key=float, reverse=True):
        at, loss = m["snr_at_ser"][t], m["snr_loss_db"][t]
        lines.append(f"| SNR at SER {t} (dB) | | " + " | ".join(
            "not reached" if at[c] is None else f"{at[c]:.1f}" for c in cols) + " |")
        lines.append(f"| loss vs {m['reference']} at {t} (dB) | | " + " | ".join(
            "not reached" if at[c] is None else "-" if loss[c] is None else f"{loss[c]:+.1f}" for c in cols) + " |")
    lines += ["", "BER per Gray bit, 95 % interval in brackets", ""] + head
    for i, s in enumerate(m["snr_db"]):
        lines.append(f"| {s:g} | {m['tasks_per_snr'][i]} | "
                     + " | ".join(_cell(m["ber"][c][i], m["ber_ci"][c][i]) for c in cols) + " |")
    if "min_reference_errors" in m:
        ref = m["reference"]
        lines += ["", f"{ref} symbol errors per SNR: " + ", ".join(str(e) for e in m["symbol_errors"][ref])
                  + (f" (fewest {m['min_reference_errors']}; full statistics need >= {MIN_REFERENCE_ERRORS} errors "
                     f"and >= {FULL_TASKS_PER_SNR} tasks per SNR: "
                     + ("met)" if m["full_statistics"] else f"not met, rerun with --tasks-per-snr "
                                                             f"{FULL_TASKS_PER_SNR})"))]
    return "\n".join(lines)


def plot_report(m: dict, path, force: bool = False, title: str = "") -> None:
    """Waterfall PNG: SER (log axis) against SNR, every detector, with its 95 % intervals (atomic write)."""
    from .fileio import atomic_output
    from .plot import new_figure, require_matplotlib

    require_matplotlib()
    fig = new_figure(8.0, 5.6)
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.1, top=0.89)
    ax = fig.add_subplot(1, 1, 1)
    s = np.asarray(m["snr_db"])
    styles = {"LMMSE-LS": ("k", "o", "-"), "LMMSE-true": ("k", "s", "--"), "ZF-LS": ("0.55", "v", "-"),
              "ML-LS": ("tab:green", "^", "-"), "ML-true": ("tab:green", "D", "--")}
    icl = iter(["tab:red", "tab:blue", "tab:purple", "tab:orange", "tab:brown"])
    for c in m["columns"]:
        color, marker, ls = styles.get(c) or (next(icl, "tab:gray"), "x" if "float" in c else "P", "-")
        v = np.asarray(m["ser"][c], dtype=np.float64)
        ci = np.asarray(m["ser_ci"][c], dtype=np.float64)
        ok = v > 0
        ax.errorbar(s[ok], v[ok], yerr=[v[ok] - ci[ok, 0], ci[ok, 1] - v[ok]], color=color, marker=marker,
                    linestyle=ls, markersize=4, capsize=2, linewidth=1.2, label=c)
    ax.set_yscale("log")
    ax.set_xlabel("SNR per receive antenna (dB)")
    ax.set_ylabel("SER per antenna-symbol")
    for t in TARGETS:
        ax.axhline(t, color="0.8", linewidth=0.8, zorder=0)
    ax.grid(True, which="both", color="0.93", linewidth=0.6)
    ax.legend(fontsize=8, loc="lower left")
    per = m["tasks_per_snr"]
    per = str(min(per)) if min(per) == max(per) else f"{min(per)}..{max(per)}"
    ax.set_title((title + "\n" if title else "") + f"{per} tasks per SNR; bars: 95 % intervals "
                 f"(task-clustered Wilson)", fontsize=9)
    with atomic_output(path, force) as tmp:
        fig.savefig(tmp, format="png")


# ---------------------------------------------------------------------------- infer --dataset mimo
def prepare_infer(args) -> None:
    """Check ``--tasks-per-snr`` and ``--plot`` before a run, and turn ``--tasks-per-snr`` into ``--limit``.

    ``--dataset mimo`` without ``--limit`` runs :data:`bittrue.workloads.MIMO_TEST_TASKS_PER_SNR` tasks per SNR
    of the test split.  Raises :class:`bittrue.options.UsageError` (one line, exit 2) on a bad combination, a
    missing matplotlib or an existing plot file without ``--force``.
    """
    from .datasets.mimo import EVAL_SNR_DB
    from .options import UsageError

    tps = getattr(args, "tasks_per_snr", None)
    plot = getattr(args, "plot", None)
    if args.dataset != "mimo":
        if tps is not None or plot:
            raise UsageError("--tasks-per-snr and --plot are for --dataset mimo")
        return
    if tps is not None:
        if args.limit is not None or args.start or args.split != "test":
            raise UsageError("--tasks-per-snr selects the first tasks of the test split: not with --limit, "
                             "--start or --split")
        args.limit = tps * len(EVAL_SNR_DB)
    if plot:
        from .fileio import check_output
        from .plot import require_matplotlib

        require_matplotlib()
        check_output(plot, args.force)


def infer_section(args, pred_joint: np.ndarray, sel: slice, drift_label: str | None, float_pred=None,
                  cfg: MimoConfig | None = None, timesteps: int | None = None) -> dict:
    """The ``mimo`` section of ``infer --dataset mimo``: the run's ICL, float ICL and every baseline on its tasks.

    ``pred_joint`` (n, Q): the run's joint predictions; ``float_pred``: a callable giving the float ICL's joint
    predictions on the same prompts (None when the run is the float model); ``cfg``: the model's token format
    (:func:`bittrue.workloads.mimo_config`, reported under ``config``; default the one-copy tokens);
    ``timesteps``: the run's T, named in the plot's title.  Writes ``--plot`` if given.  The ``train`` and ``all``
    splits have continuous SNRs: they are reported in bins of the nearest even dB.
    """
    from .datasets.mimo import split_joint
    from .mimo_baselines import detect
    from .workloads import mimo_tasks

    cfg = MimoConfig() if cfg is None else cfg
    tasks = {k: v[sel] for k, v in mimo_tasks(args.split, sel.stop).items()}
    if args.split != "test":  # training-distribution SNRs are continuous: report them in 2 dB bins
        tasks["snr_db"] = 2.0 * np.round(tasks["snr_db"] / 2.0)
    name = "ICL float" if args.device == "float" else "ICL " + (drift_label or args.device)
    preds = {name: split_joint(pred_joint, cfg.order, cfg.n_t)}
    if float_pred is not None:
        preds["ICL float"] = split_joint(float_pred(), cfg.order, cfg.n_t)
    for b in BASELINES:
        preds[b] = detect(tasks, cfg, b)
    rep = mimo_report(tasks, preds, cfg)
    rep.update(split=args.split, start=sel.start, icl_column=name, baselines_received="unquantised y")
    if getattr(args, "plot", None):
        net = "mimo-icl" if timesteps is None else f"mimo-icl (T = {timesteps})"
        plot_report(rep, args.plot, args.force,
                    title=f"{net}, 2x2 QPSK, L = {cfg.pilots}, Q = {cfg.queries}; {name}, "
                          f"program seed {args.program_seed}" if args.device == "pcm" else f"{net}; {name}")
        rep["plot"] = str(args.plot)
    return rep


def print_section(m: dict) -> None:
    """Print the report of :func:`infer_section` (stdout)."""
    print(f"\nmimo/{m['split']}: {m['tasks']} tasks from index {m['start']} (2x2 QPSK, 16 pilots, 4 queries; "
          f"baselines on the unquantised y)\n")
    print(format_report(m))
    if m.get("plot"):
        print(f"\nplot       {m['plot']}")
