"""Plots (PNG, matplotlib from the ``plot`` extra): sweeps and activation logs / golden files (docs/sweep.md).

``plot_sweep``: the metric (accuracy, or SER for MIMO) against each swept field, one line per combination of the
other fields, seed spread as error bars; and the metric-energy plane with the Pareto front marked.

``plot_log`` (``python -m bittrue plot FILE.h5 -o DIR``): spike rasters per LIF population, SSA score and output
spike densities per block and head, ADC code histograms with the fraction at a rail, membrane traces.

Figures are drawn with matplotlib's object API on an Agg canvas (no pyplot, no global backend change).  Every
figure names its model, configuration hash and seeds.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

INSTALL_HINT = "pip install 'bittrue[plot]'"


def require_matplotlib():
    """Import matplotlib or raise the CLI's one-line usage error with the install command."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError:
        from .options import UsageError

        raise UsageError(f"plotting needs matplotlib: {INSTALL_HINT}") from None


def new_figure(w: float, h: float):
    """A matplotlib Figure of ``w`` x ``h`` inches on the Agg canvas (no pyplot state; shared with mimo_report)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=90)  # fixed margins (_save): a layout engine costs seconds per figure
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | Path, force: bool) -> Path:
    from .fileio import atomic_output

    h = fig.get_size_inches()[1]
    fig.subplots_adjust(left=0.07, right=0.97, bottom=0.9 / h, top=1 - 0.75 / h, hspace=0.65,
                        wspace=0.35)
    with atomic_output(path, force) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def _grid(n: int, ncol: int) -> tuple[int, int]:
    ncol = max(1, min(ncol, n))
    return -(-n // ncol), ncol


# ============================================================================ sweeps
def pareto_front(energy: np.ndarray, metric: np.ndarray, maximize: bool = True) -> np.ndarray:
    """Indices of the points no other point beats in both energy (lower) and metric, by increasing energy."""
    m = metric if maximize else -metric
    order = np.lexsort((-m, energy))  # by energy, ties: best metric first
    front, best = [], -np.inf
    for i in order:
        if m[i] > best:
            front.append(int(i))
            best = m[i]
    return np.array(front, dtype=np.int64)


def plot_sweep(doc: dict, path: str | Path, force: bool = False) -> Path:
    """One PNG: the metric against each swept axis (error bars: std over seeds) and the metric-energy plane."""
    from .config import HardwareConfig

    metric = doc["metric"]
    pts = doc["points"]
    axes = doc["axes"]
    names = list(axes)
    shape = [len(axes[a]) for a in names]
    swept = [a for a in names if len(axes[a]) > 1]
    mean = np.array([p[f"{metric}_mean"] for p in pts])
    std = np.array([p[f"{metric}_std"] for p in pts])
    energy = np.array([p["energy_nJ_mean"] for p in pts])
    idx = np.array([np.unravel_index(i, shape) for i in range(len(pts))]) if names else np.zeros((len(pts), 0), int)
    n = len(swept) + 1
    rows, cols = _grid(n, 3)
    fig = new_figure(4.6 * cols, 3.6 * rows + 0.5)
    ax_list = fig.subplots(rows, cols, squeeze=False).ravel()
    for a, ax in zip(swept, ax_list):
        k = names.index(a)
        others = [j for j in range(len(names)) if j != k and shape[j] > 1]
        combos = sorted({tuple(idx[i, others]) for i in range(len(pts))})
        for combo in combos:
            sel = [i for i in range(len(pts)) if tuple(idx[i, others]) == combo]
            sel.sort(key=lambda i: idx[i, k])
            label = ", ".join(f"{names[j]}={axes[names[j]][c]}" for j, c in zip(others, combo)) or None
            ax.errorbar(idx[sel, k], mean[sel], yerr=std[sel], marker="o", capsize=3, label=label)
        ax.set_xticks(range(shape[k]), axes[a])
        ax.set_xlabel(a)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        if len(combos) > 1:
            ax.legend(fontsize=7)
    ax = ax_list[len(swept)]
    front = pareto_front(energy, mean, maximize=metric != "ser")
    ax.errorbar(energy, mean, yerr=std, fmt="o", color="0.6", capsize=2, label="points (mean +- std over seeds)")
    ax.plot(energy[front], mean[front], "-o", color="C3", zorder=3, label="Pareto front")
    for i in front:
        ax.annotate(pts[i].get("config_hash", "")[:6], (energy[i], mean[i]), fontsize=6, xytext=(3, 3),
                    textcoords="offset points")
    ax.set_xlabel("energy per inference (nJ)")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    for ax in ax_list[n:]:
        ax.set_visible(False)
    h = doc["header"]
    base = HardwareConfig.from_json(h["base_configuration"]).config_hash()
    model = pts[0]["model"] if pts else "?"
    fig.suptitle(f"{model} on {h['dataset']}: base config {base} (point hashes on the front and in the table); "
                 f"program seeds {_seeds(doc['program_seeds'])}", fontsize=9)
    return _save(fig, path, force)


def _seeds(seeds: list[int]) -> str:
    s = list(seeds)
    if len(s) > 2 and s == list(range(s[0], s[-1] + 1)):
        return f"{s[0]}-{s[-1]}"
    return ",".join(str(x) for x in s)


# ============================================================================ logs / golden files
#: Plot name -> (signal group needed, file name).
LOG_PLOTS = {"raster": ("spikes", "raster.png"), "attention": ("ssa", "attention.png"),
             "adc": ("adc", "adc_hist.png"), "membrane": ("membrane", "membrane.png")}


def _title(attrs, what: str, sample_ids: list[int]) -> str:
    from .config import HardwareConfig

    arch = json.loads(attrs["arch_json"])
    cfg = HardwareConfig.from_json(attrs["config_json"]).config_hash()
    dev = str(attrs.get("device", "?"))
    drift = float(attrs.get("drift_time_s", 0.0))
    return (f"{what}: {arch.get('name', '?')} (T = {int(attrs['timesteps'])}), config {cfg}, {dev}"
            + (f" t = {drift:g} s" if dev == "pcm" else "")
            + f"; root seed {int(attrs['root_seed'])}, program seed {int(attrs['program_seed'])}; "
              f"sample{'s' if len(sample_ids) > 1 else ''} {_seeds(sample_ids)}")


def _by_signal(sigs: dict, suffix: str) -> list[str]:
    return [k for k in sigs if k.endswith("/" + suffix)]


def plot_log(path: str | Path, outdir: str | Path, *, sample: int = 0, samples: int = 16, neurons: int = 4,
             force: bool = False) -> list[Path]:
    """PNGs of an activation log / golden file into ``outdir``; returns the paths written.

    ``sample``: row (not sample id) of the file for rasters, attention maps and membrane traces; ``samples``: rows
    whose ADC codes go into the histograms.  A plot whose signal group the file lacks is skipped with a warning.
    """
    import sys

    from .golden import GoldenFile

    outdir = Path(outdir)
    written: list[Path] = []
    with GoldenFile(path) as gf:
        a = gf.attrs
        sigs = gf.signals()
        n = len(gf.f["inputs/sample_id"])
        if not 0 <= sample < n:
            from .options import UsageError

            raise UsageError(f"--sample {sample}: the file has {n} samples (rows 0..{n - 1})")
        sid = [int(gf.f["inputs/sample_id"][sample])]
        rows = slice(0, min(n, samples))
        sids_h = [int(v) for v in gf.f["inputs/sample_id"][rows]]
        stored = set(json.loads(a["signals"]))
        for name, (group, fname) in LOG_PLOTS.items():
            if group not in stored:
                print(f"bittrue plot: warning: {path} has no '{group}' signals: no {fname} (log them with "
                      f"--log-signals ...,{group})", file=sys.stderr)
                continue
            target = outdir / fname
            if name == "raster":
                fig = _raster(gf, sigs, sample, _title(a, "spike rasters", sid))
            elif name == "attention":
                fig = _attention(gf, sigs, sample, _title(a, "SSA spike densities over T", sid))
            elif name == "adc":
                fig = _adc(gf, sigs, rows, json.loads(a["config_json"])["tile"]["adc_bits"],
                           _title(a, "ADC codes", sids_h))
            else:
                fig = _membrane(gf, sigs, sample, neurons, _title(a, "membrane traces", sid))
            written.append(_save(fig, target, force))
    return written


def _raster(gf, sigs, s, title):
    keys = [k for k in _by_signal(sigs, "spikes") if k.startswith(("lif.", "encoder/"))]
    rows, cols = _grid(len(keys), 3)
    fig = new_figure(5.0 * cols, 2.2 * rows + 0.6)
    axs = fig.subplots(rows, cols, squeeze=False).ravel()
    for k, ax in zip(keys, axs):
        x = gf.read(k, slice(s, s + 1))[0]  # (T, tokens, width)
        T = x.shape[0]
        flat = x.reshape(T, -1)
        t_idx, n_idx = np.nonzero(flat)
        ax.scatter(n_idx, t_idx, s=1.5, marker="|", color="k", linewidths=0.6)
        ax.set_xlim(-0.5, flat.shape[1] - 0.5)
        ax.set_ylim(T - 0.5, -0.5)
        ax.set_title(f"{k.split('/')[0]}  density {flat.mean():.3f}", fontsize=8)
        ax.set_xlabel("neuron (token-major)", fontsize=7)
        ax.set_ylabel("t", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in axs[len(keys):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=9)
    return fig


def _attention(gf, sigs, s, title):
    blocks = sorted({k.split("/")[0] for k in _by_signal(sigs, "s_spikes")})
    items = []
    for b in blocks:
        sc = gf.read(f"{b}/s_spikes", slice(s, s + 1))[0].mean(axis=0)  # (H, N, N)
        oc = gf.read(f"{b}/o_spikes", slice(s, s + 1))[0].mean(axis=0)  # (H, N, d_k)
        items.append((b, "score S", sc, "key"))
        items.append((b, "output O", oc, "channel"))
    heads = items[0][2].shape[0] if items else 1
    fig = new_figure(2.6 * heads + 1.0, 2.5 * len(items) + 0.6)
    axs = fig.subplots(len(items), heads, squeeze=False)
    for r, (b, what, dens, xl) in enumerate(items):
        for h in range(heads):
            ax = axs[r, h]
            im = ax.imshow(dens[h], vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto", interpolation="nearest")
            ax.set_title(f"{b} {what} head {h}", fontsize=7)
            ax.set_xlabel(xl, fontsize=6)
            ax.set_ylabel("query", fontsize=6)
            ax.tick_params(labelsize=5)
        fig.colorbar(im, ax=axs[r, -1], fraction=0.05, label="spike density")
    fig.suptitle(title, fontsize=9)
    return fig


def _adc(gf, sigs, rows, bits, title):
    keys = _by_signal(sigs, "adc_code")
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    r, c = _grid(len(keys), 3)
    fig = new_figure(4.6 * c, 2.8 * r + 0.6)
    axs = fig.subplots(r, c, squeeze=False).ravel()
    for k, ax in zip(keys, axs):
        x = np.asarray(gf.read(k, rows), np.int64).ravel()
        sat = float(np.mean((x == lo) | (x == hi))) if x.size else 0.0
        counts = np.bincount(x - lo, minlength=hi - lo + 1)
        ax.stairs(counts, np.arange(lo, hi + 2) - 0.5, fill=True, color="C0")
        ax.plot([lo, hi], counts[[0, -1]], "v", color="C3", label="at a rail")
        ax.set_yscale("log")
        ax.set_title(f"{k.split('/')[0]}: {100 * sat:.2f} % saturated", fontsize=8)
        ax.set_xlabel(f"ADC code ({bits} bits)", fontsize=7)
        ax.tick_params(labelsize=6)
    if keys:
        axs[0].legend(fontsize=7)
    for ax in axs[len(keys):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=9)
    return fig


def _membrane(gf, sigs, s, neurons, title):
    keys = _by_signal(sigs, "v_code")
    chip = gf.chip()
    theta = chip.image.lif_theta_code
    frac = chip.config.lif.frac_bits
    r, c = _grid(len(keys), 3)
    fig = new_figure(4.6 * c, 2.6 * r + 0.6)
    axs = fig.subplots(r, c, squeeze=False).ravel()
    for k, ax in zip(keys, axs):
        unit = k.split("/")[0]
        v = gf.read(k, slice(s, s + 1))[0]  # (T, tokens, width)
        T = v.shape[0]
        flat = v.reshape(T, -1)
        # the most active neurons (largest mean |v|), lowest index on ties: deterministic
        pick = np.argsort(-np.abs(flat).mean(axis=0), kind="stable")[:neurons]
        for i in pick:
            ax.plot(range(T), flat[:, i] / (1 << frac), marker=".", lw=1, label=f"#{int(i)}")
        th = theta.get(unit[4:]) if hasattr(theta, "get") else None
        if th is not None:
            ax.axhline(float(np.max(th)) / (1 << frac), color="k", ls="--", lw=0.8, label="theta")
        ax.set_title(unit, fontsize=8)
        ax.set_xlabel("t", fontsize=7)
        ax.set_ylabel("v", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=5, ncol=2)
    for ax in axs[len(keys):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=9)
    return fig


# ============================================================================ command
def add_plot_parser(subparsers) -> argparse.ArgumentParser:
    from .options import nonneg_int, pos_int

    p = subparsers.add_parser("plot", help="PNG plots of an activation log or golden file (the plot extra)")
    p.add_argument("file", help="activation log (infer --log) or golden file .h5")
    p.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="directory for raster.png, attention.png, adc_hist.png, membrane.png (created if missing)")
    p.add_argument("--sample", type=nonneg_int, default=0,
                   help="row of the file for rasters, attention and membranes (default 0)")
    p.add_argument("--samples", type=pos_int, default=16, help="rows whose ADC codes are histogrammed (default 16)")
    p.add_argument("--neurons", type=pos_int, default=4, help="membrane traces per population (default 4)")
    p.add_argument("--force", action="store_true", help="overwrite existing PNGs")
    p.add_argument("--quiet", "-q", action="store_true", help="no log lines on stderr")
    return p


def cmd_plot(args) -> int:
    from .options import UsageError

    require_matplotlib()
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UsageError(f"-o {out}: not a directory")
    if not out.parent.is_dir():
        raise UsageError(f"-o {out}: directory {out.parent} does not exist")
    from .fileio import check_output

    for _, fname in LOG_PLOTS.values():
        if out.is_dir():
            check_output(out / fname, args.force)
    out.mkdir(exist_ok=True)
    paths = plot_log(args.file, out, sample=args.sample, samples=args.samples, neurons=args.neurons,
                     force=args.force)
    if not paths:
        raise UsageError(f"{args.file}: no plottable signals (log spikes, ssa, adc or membrane)")
    print(f"plot {args.file}: " + ", ".join(str(p) for p in paths))
    return 0
