"""Design-space exploration: ``python -m bittrue sweep`` (docs/sweep.md).

A sweep is the grid (cartesian product) of hardware-config fields (``--set tile.adc_bits=4,6,8``, TOML names), device
models, drift times and time steps; every grid point runs once per program seed.  A *row* of the result table is
one point and one program seed: its configuration (swept values, config hash), accuracy (and SER for MIMO),
energy per inference (the energy model of ``bittrue.energy``, the ``energy`` section of ``infer --json``), images/s,
the crossbar-input spike density of every layer and the fraction of ADC conversions at a rail of every layer.

Rows are computed in shards of samples (``bittrue.dist``), locally or on a Dask cluster, and merged in shard order,
so every column except the wall-clock ones (:data:`TIMING_COLUMNS`) is identical whatever ran where.  Finished rows
are kept in ``OUT.partial`` (rewritten atomically after each row); a rerun of the same sweep skips them.  The file
records the model's sha256, the dataset selection, the base configuration and a digest of bittrue's source: a rerun
with any of them changed refuses to mix (one line, exit 2).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import itertools
import json
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from .config import ConfigError, HardwareConfig

#: Columns that are wall-clock measurements (they differ between runs; everything else is bit-exact).
TIMING_COLUMNS = ("images_per_s", "run_s")
#: Axes that are not hardware-config fields.
RUN_AXES = ("device", "drift_time", "timesteps")
DEFAULT_MAX_POINTS = 1000
STATE_FORMAT = "bittrue-sweep-state/1"


class SweepError(ValueError):
    """A bad sweep (unknown field, refused value, too many points, a state file that does not match)."""


# ============================================================================ the grid
@dataclass(frozen=True)
class Axis:
    name: str  #: "section.field", or one of RUN_AXES
    values: tuple  #: parsed values (TOML types; drift times in seconds)
    labels: tuple  #: as the user wrote them (for plots)


def parse_value(text: str) -> Any:
    """A TOML value (``4``, ``0.5``, ``true``, ``"row"``), or the bare text as a string (``row``)."""
    t = text.strip()
    try:
        return tomllib.loads(f"v = {t}")["v"]
    except tomllib.TOMLDecodeError:
        return t


def parse_seeds(text: str) -> tuple[int, ...]:
    """``0-2`` -> (0, 1, 2); ``0,3,7`` -> (0, 3, 7); ranges and lists mix (``0-2,9``)."""
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        try:
            if m:
                a, b = int(m.group(1)), int(m.group(2))
                if b < a:
                    raise ValueError
                out.extend(range(a, b + 1))
            else:
                out.append(int(part, 0))
        except ValueError:
            raise SweepError(f"--program-seeds {text!r}: use a range 0-2 or a comma list of seeds") from None
    if not out or any(not 0 <= s < 1 << 64 for s in out):
        raise SweepError(f"--program-seeds {text!r}: seeds are integers in 0..2^64-1")
    if len(set(out)) != len(out):
        raise SweepError(f"--program-seeds {text!r}: a seed is repeated")
    return tuple(out)


def _field_axis(name: str, values: list, base: HardwareConfig) -> Axis:
    sec, _, fld = name.partition(".")
    sections = {f.name: f for f in fields(HardwareConfig)}
    if sec not in sections or not fld:
        raise SweepError(f"unknown field {name!r}: use section.field with a section of {', '.join(sections)}, "
                         f"or {', '.join(RUN_AXES)}")
    if sec == "run" and fld == "timesteps":
        raise SweepError("sweep time steps with --timesteps, not run.timesteps")
    if not values:
        raise SweepError(f"--set {name}: give at least one value")
    parsed = []
    for v in values:
        try:
            cfg = HardwareConfig.from_dict({sec: {fld: v}}, base)  # ConfigError names an unknown field or range
        except ConfigError as exc:
            raise SweepError(f"--set {name}={v!r}: {exc}") from None
        parsed.append(getattr(getattr(cfg, sec), fld))
    if len(set(parsed)) != len(parsed):
        raise SweepError(f"--set {name}: a value is repeated")
    return Axis(name, tuple(values), tuple(str(v) for v in values))


def _time_axis(values: list) -> Axis:
    from .options import parse_time

    secs = []
    for v in values:
        try:
            secs.append(parse_time(str(v)) if not isinstance(v, (int, float)) else float(v))
        except argparse.ArgumentTypeError as exc:
            raise SweepError(f"--drift-time: {exc}") from None
    if len(set(secs)) != len(secs):
        raise SweepError("--drift-time: a time is repeated")
    return Axis("drift_time", tuple(secs), tuple(str(v) for v in values))


def _split_list(text: str) -> list[str]:
    return [v.strip() for v in str(text).split(",") if v.strip()]


def _sweep_file(path: str) -> dict[str, list]:
    """A TOML sweep file: hardware sections with lists of values, and ``[sweep]`` with the run axes."""
    from .config import read_toml

    data = read_toml(path, "sweep file", SweepError)
    out: dict[str, list] = {}
    for sec, body in data.items():
        if not isinstance(body, dict):
            raise SweepError(f"sweep file {path}: [{sec}] must be a table")
        for k, v in body.items():
            vals = list(v) if isinstance(v, list) and not (sec == "lfsr" and k == "taps" and v and
                                                            not isinstance(v[0], list)) else [v]
            if sec == "sweep":
                if k not in ("device", "drift_time", "timesteps", "program_seeds"):
                    raise SweepError(f"sweep file {path}: unknown key sweep.{k} (device, drift_time, timesteps, "
                                     f"program_seeds)")
                out[k] = vals if k != "program_seeds" or isinstance(v, list) else [v]
            else:
                out[f"{sec}.{k}"] = vals
    return out


@dataclass
class Grid:
    axes: list[Axis]
    seeds: tuple[int, ...]

    def points(self) -> list[dict[str, Any]]:
        """Every grid point as {axis name: value}, the first axis varying slowest."""
        return [dict(zip([a.name for a in self.axes], combo))
                for combo in itertools.product(*[a.values for a in self.axes])]


def build_grid(args, base: HardwareConfig) -> Grid:
    """The grid of ``--set``/``--sweep``/``--device``/``--drift-time``/``--timesteps``/``--program-seeds``."""
    spec: dict[str, list] = {}
    if args.sweep:
        spec.update(_sweep_file(args.sweep))
    for item in args.set or []:
        name, eq, vals = item.partition("=")
        if not eq:
            raise SweepError(f"--set {item!r}: use section.field=v1,v2,...")
        spec[name.strip()] = [parse_value(v) for v in _split_list(vals)]
    if args.device:
        spec["device"] = _split_list(args.device)
    if args.drift_time:
        spec["drift_time"] = _split_list(args.drift_time)
    if args.timesteps:
        spec["timesteps"] = _split_list(args.timesteps)
    seeds = parse_seeds(args.program_seeds if args.program_seeds is not None else
                        ",".join(str(s) for s in spec.pop("program_seeds", [0])))
    spec.pop("program_seeds", None)
    axes = []
    for name, vals in spec.items():
        if name == "device":
            bad = [v for v in vals if v not in ("ideal", "pcm")]
            if bad or not vals:
                raise SweepError(f"--device {','.join(map(str, vals))}: a sweep runs the chip: ideal and/or pcm")
            axes.append(Axis("device", tuple(vals), tuple(vals)))
        elif name == "drift_time":
            axes.append(_time_axis(vals))
        elif name == "timesteps":
            try:
                ts = tuple(int(v) for v in vals)
            except (TypeError, ValueError):
                raise SweepError(f"--timesteps {vals!r}: integers >= 1") from None
            if not ts or any(t < 1 or t > 1024 for t in ts) or len(set(ts)) != len(ts):
                raise SweepError(f"--timesteps {vals!r}: distinct integers in 1..1024")
            axes.append(Axis("timesteps", ts, tuple(str(t) for t in ts)))
        else:
            axes.append(_field_axis(name, vals, base))
    return Grid(axes, seeds)


def point_config(base: HardwareConfig, point: dict[str, Any]) -> HardwareConfig:
    """The hardware configuration of a grid point (its fields set; T in ``run.timesteps``)."""
    over: dict[str, dict[str, Any]] = {}
    for name, v in point.items():
        if name in RUN_AXES:
            continue
        sec, _, fld = name.partition(".")
        over.setdefault(sec, {})[fld] = v
    if "timesteps" in point:
        over.setdefault("run", {})["timesteps"] = int(point["timesteps"])
    return HardwareConfig.from_dict(over, base)


def code_digest() -> str:
    """sha256 of bittrue's Python sources (package, kernels, datasets): a changed code version."""
    import bittrue

    root = Path(bittrue.__file__).resolve().parent
    dirs = [root] + [Path(m.__file__).resolve().parent for m in _subpackages()]
    h = hashlib.sha256()
    for d in dirs:
        for p in sorted(d.glob("*.py")):
            h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def _subpackages():
    from . import datasets, kernels

    return [kernels, datasets]


# ============================================================================ rows
def _row_key(point: dict[str, Any], seed: int) -> str:
    return json.dumps({"point": point, "program_seed": seed}, sort_keys=True)


def make_row(point_index: int, point: dict[str, Any], seed: int, cfg: HardwareConfig, chip_info: dict,
             res: dict, labels: np.ndarray, meta: dict) -> dict[str, Any]:
    """One table row from the merged shard results of a point and seed."""
    from .energy import ActivityCounts, energy_report, spike_densities
    from .run import predict

    counts = ActivityCounts.from_dict(res["counts"], chip_info["arch"], cfg)
    rep = energy_report(counts, include_counts=False)
    pred = predict(res["logits"])
    correct = int((pred == labels).sum())
    row: dict[str, Any] = {"point": point_index, "program_seed": int(seed)}
    for k, v in point.items():
        if k != "drift_time":
            row[k] = v
    row.update({"device": chip_info["device"], "drift_time_s": chip_info["drift_time_s"],
                "drift_compensation": chip_info["drift_compensation"], "timesteps": chip_info["timesteps"],
                "config_hash": cfg.config_hash(), "model": meta["model"], "dataset": meta["dataset"],
                "split": meta["split"], "start": meta["start"], "samples": int(len(labels)), "correct": correct,
                "accuracy": correct / labels.size})
    if meta["dataset"] == "mimo":
        row["ser"] = _mimo_ser(pred, meta)
    # every logit of every sample, in sample order: two rows with the same digest computed the same numbers
    row["logits_sha256"] = hashlib.sha256(np.ascontiguousarray(res["logits"], np.int64).tobytes()).hexdigest()[:16]
    row["energy_nJ"] = rep["xpk1"]["energy_per_inference_nJ"]
    run_s = res["run_s"]
    row["images_per_s"] = len(labels) / run_s if run_s > 0 else None
    row["run_s"] = run_s
    for layer, d in spike_densities(counts).items():
        row[f"density.{layer}"] = d
    for layer, (n_sat, n) in sorted(res["adc"].items(), key=lambda kv: chip_info["layers"].index(kv[0])):
        row[f"adc_sat.{layer}"] = n_sat / n if n else 0.0
    return row


def _mimo_ser(pred: np.ndarray, meta: dict) -> float:
    """Fraction of wrong antenna-symbols over the selected tasks (docs/mimo.md)."""
    from .datasets.mimo import MimoConfig, split_joint
    from .workloads import mimo_tasks

    mcfg = MimoConfig()
    sel = slice(meta["start"], meta["start"] + len(pred))
    truth = mimo_tasks(meta["split"])["query_idx"][sel]
    return float(np.mean(split_joint(pred, mcfg.order, mcfg.n_t) != truth))


def table_columns(rows: list[dict]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    return cols


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    cols = table_columns(rows)
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    return buf.getvalue()


def summarize(rows: list[dict], metric: str) -> list[dict]:
    """Per point: mean and sample std over seeds of the metric and energy (for plots and the JSON)."""
    by: dict[int, list[dict]] = {}
    for r in rows:
        by.setdefault(r["point"], []).append(r)
    out = []
    for p in sorted(by):
        rs = by[p]
        m = np.array([r[metric] for r in rs], float)
        e = np.array([r["energy_nJ"] for r in rs], float)
        s = {k: v for k, v in rs[0].items() if k not in ("program_seed",) and not k.startswith(("density.",
             "adc_sat.")) and k not in TIMING_COLUMNS and k not in ("correct", "accuracy", "ser", "energy_nJ")}
        s.update({"seeds": [r["program_seed"] for r in rs], f"{metric}_mean": float(m.mean()),
                  f"{metric}_std": float(m.std(ddof=1)) if len(m) > 1 else 0.0, "energy_nJ_mean": float(e.mean())})
        out.append(s)
    return out


def _write_atomic(path: Path, text: str, force: bool = True) -> None:
    from .fileio import atomic_output

    with atomic_output(path, force) as tmp:
        tmp.write_text(text)


# ============================================================================ the command
def add_sweep_parser(subparsers) -> argparse.ArgumentParser:
    from .options import common_options, pos_int
    from .dist import add_dist_options

    p = subparsers.add_parser("sweep", help="design-space sweep over hardware fields, drift, device, T and seeds: "
                                            "a CSV/JSON table and plots")
    p.add_argument("--set", action="append", metavar="SECTION.FIELD=V1,V2,...",
                   help="a hardware-config field (TOML name) and its values; repeat for more fields")
    p.add_argument("--sweep", default=None, metavar="FILE.toml",
                   help="sweep file: hardware sections with lists of values, [sweep] device, drift_time, timesteps, "
                        "program_seeds (command-line options win)")
    p.add_argument("--device", default=None, metavar="LIST", help="device models: pcm (default) and/or ideal")
    p.add_argument("--drift-time", default=None, metavar="LIST",
                   help="inference times after programming, e.g. 1s,1h,1d,1y (default: the config's, 1d)")
    p.add_argument("--timesteps", default=None, metavar="LIST", help="time steps T (default: the model's)")
    p.add_argument("--program-seeds", default=None, metavar="SEEDS",
                   help="program seeds per point: a range 0-2 or a list 0,3 (default 0)")
    p.add_argument("--model", default=None,
                   help="float model .h5 (default: the shipped model of --dataset: digits, or mimo-icl for mimo)")
    p.add_argument("--hardware", default=None, metavar="FILE.toml", help="base hardware configuration (TOML)")
    p.add_argument("--dataset", default="digits", help="digits (default) or mimo (the table then has SER)")
    p.add_argument("--split", default="test", choices=("train", "test", "all"), help="split (default test)")
    p.add_argument("--start", type=int, default=0, help="first sample index (default 0)")
    p.add_argument("--limit", type=pos_int, default=None, help="number of samples (default: all)")
    p.add_argument("--batch-size", type=pos_int, default=64, help="samples per batch (default 64)")
    p.add_argument("--max-points", type=pos_int, default=DEFAULT_MAX_POINTS,
                   help=f"refuse a sweep of more rows (points x seeds) than this (default {DEFAULT_MAX_POINTS})")
    add_dist_options(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE.csv",
                   help="the table (CSV); the same rows go to FILE.json with per-point means")
    p.add_argument("--plot", default=None, metavar="FILE.png",
                   help="plot the metric against each swept field and the accuracy-energy plane (the plot extra)")
    p.add_argument("--force", action="store_true", help="overwrite outputs and start over (drop OUT.partial)")
    common_options(p)
    return p


def _outputs(args) -> tuple[Path, Path, Path]:
    out = Path(args.output)
    return out, out.with_suffix(".json") if out.suffix != ".json" else out.with_name(out.name + ".json"), \
        out.with_name(out.name + ".partial")


def _load_state(part: Path, header: dict) -> dict[str, dict]:
    """Finished rows of an interrupted sweep (key -> row); SweepError if it was made by another setting."""
    try:
        state = json.loads(part.read_text())
        if state.get("format") != STATE_FORMAT:
            raise ValueError
    except (OSError, ValueError):
        raise SweepError(f"{part}: not a sweep state file (remove it or pass --force)") from None
    old = state.get("header", {})
    for k in header:
        if old.get(k) != header[k]:
            raise SweepError(f"{part} was made with another {k.replace('_', ' ')}: refusing to mix results; "
                             f"pass --force to start over")
    return {r["key"]: r["row"] for r in state.get("rows", [])}


def cmd_sweep(args) -> int:
    from . import __version__
    from .options import UsageError
    from .pipeline import load_config, load_model, model_path, select
    from .compile import file_sha256
    from .dist import ChipSpec, DistError, executor, shards
    from .fileio import check_output
    from .progress import bar, log
    from .workloads import SHIPPED_DATASETS, dataset_error, load_tokens

    # ---- everything that can be wrong is checked before any point runs
    if msg := dataset_error(args.dataset, SHIPPED_DATASETS):
        raise UsageError(msg)
    if args.start < 0:
        raise UsageError(f"--start {args.start}: must be >= 0")
    base = load_config(args)
    try:
        grid = build_grid(args, base)
        points = grid.points()
        n_rows = len(points) * len(grid.seeds)
        if n_rows > args.max_points:
            raise SweepError(f"{len(points)} points x {len(grid.seeds)} seeds = {n_rows} rows exceed --max-points "
                             f"{args.max_points}")
        cfgs = [point_config(base, pt) for pt in points]
    except SweepError as exc:
        raise UsageError(str(exc)) from None
    out_csv, out_json, part = _outputs(args)
    for p in (out_csv, out_json):
        check_output(p, args.force)
    if args.plot:
        from .plot import require_matplotlib

        require_matplotlib()
        check_output(args.plot, args.force)
    mpath = model_path(args.model, args.dataset)
    model = load_model(args.model, args.dataset, base)
    sha = file_sha256(mpath)
    try:
        x, labels = load_tokens(args.dataset, args.split, model.arch)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    sel = select(len(x), args.start, args.limit)
    x, labels = x[sel], labels[sel]
    ids = np.arange(sel.start, sel.stop, dtype=np.int64)
    meta = {"model": model.arch.name, "dataset": args.dataset, "split": args.split, "start": sel.start}
    header = {"model_sha256": sha, "dataset": f"{args.dataset}/{args.split}[{sel.start}:{sel.stop}]",
              "base_configuration": base.to_json(), "code_version": f"{__version__}+{code_digest()}"}
    done: dict[str, dict] = {}
    if part.exists():
        if args.force:
            part.unlink()
        else:
            try:
                done = _load_state(part, header)
            except SweepError as exc:
                raise UsageError(str(exc)) from None
    try:
        ex = executor(args.scheduler)
    except DistError as exc:
        raise UsageError(str(exc)) from None

    # ---- run: one task per (point, seed, shard); rows merged in shard order
    metric = "ser" if args.dataset == "mimo" else "accuracy"
    layers = list(model.arch.linear_shapes())
    todo = [(pi, s) for pi in range(len(points)) for s in grid.seeds if _row_key(points[pi], s) not in done]
    rng = shards(len(x), args.shard_size)
    if done:
        log.info("resuming %s: %d of %d rows done, %d to run", part, n_rows - len(todo), n_rows, len(todo))
    rows: dict[str, dict] = dict(done)
    try:
        model_f = ex.share(model) if todo else None
        x_f = ex.share(x) if todo else None

        def tasks():
            for pi, s in todo:
                pt, cfg = points[pi], cfgs[pi]
                spec = ChipSpec(sha, cfg.to_json(), pt.get("device", "pcm"), pt.get("drift_time"), None, s)
                for k, (a, b) in enumerate(rng):
                    yield (pi, s, k), _shard_task, (spec, model_f, x_f, a, b, ids[a:b]), \
                        {"timesteps": cfg.run.timesteps or model.arch.timesteps, "batch_size": args.batch_size}

        parts: dict[tuple[int, int], dict[int, dict]] = {}
        left = {pi: sum(1 for q, _ in todo if q == pi) for pi in range(len(points))}
        with bar(len(todo) * len(x), "sweep", args.quiet) as b:
            for (pi, s, k), res in ex.run(tasks()):
                got = parts.setdefault((pi, s), {})
                got[k] = res
                b.update(rng[k][1] - rng[k][0])
                if len(got) < len(rng):
                    continue
                merged = _merge([got[i] for i in range(len(rng))])
                del parts[(pi, s)]
                info = dict(res["chip"], arch=model.arch, layers=layers)
                row = make_row(pi, points[pi], s, cfgs[pi], info, merged, labels, meta)
                rows[_row_key(points[pi], s)] = row
                _write_atomic(part, json.dumps({"format": STATE_FORMAT, "header": header, "rows": [
                    {"key": key, "row": r} for key, r in rows.items()]}))
                left[pi] -= 1
                if left[pi] == 0:
                    _log_point(log, pi, points, grid, rows, metric)
    finally:
        ex.close()

    ordered = [rows[_row_key(points[pi], s)] for pi in range(len(points)) for s in grid.seeds]
    summary = summarize(ordered, metric)
    doc = {"bittrue_version": __version__, "header": header, "axes": {a.name: list(a.labels) for a in grid.axes},
           "program_seeds": list(grid.seeds), "metric": metric, "timing_columns": list(TIMING_COLUMNS),
           "rows": ordered, "points": summary}
    _write_atomic(out_json, json.dumps(doc, indent=1), args.force)
    _write_atomic(out_csv, to_csv(ordered), args.force)
    if args.plot:
        from .plot import plot_sweep

        plot_sweep(doc, args.plot, force=args.force)
    part.unlink(missing_ok=True)
    print(f"sweep {out_csv}: {len(points)} points x {len(grid.seeds)} seeds = {len(ordered)} rows "
          f"({len(todo)} run now), {len(x)} samples each; table also in {out_json}"
          + (f"; plot {args.plot}" if args.plot else ""))
    return 0


def _shard_task(spec, model, x, a, b, ids, *, timesteps, batch_size):
    """One sweep work unit (runs on a worker): shard [a, b) of the point's chip, with counts and ADC rails."""
    from .dist import build_chip, run_shard

    chip = build_chip(model, spec)
    res = run_shard(chip, x[a:b], ids, timesteps=timesteps, batch_size=batch_size, counts=True, adc_saturation=True)
    res["chip"] = {"device": chip.device, "drift_time_s": float(chip.t_inference_s),
                   "drift_compensation": bool(chip.drift_compensation), "timesteps": int(timesteps)}
    return res


def _merge(parts: list[dict]) -> dict:
    from .dist import merge_counts

    adc: dict[str, list[int]] = {}
    for p in parts:
        for layer, (s, n) in p["adc"].items():
            c = adc.setdefault(layer, [0, 0])
            c[0] += s
            c[1] += n
    return {"logits": np.concatenate([p["logits"] for p in parts]), "counts": merge_counts([p["counts"] for p in parts]),
            "adc": adc, "run_s": sum(p["run_s"] for p in parts)}


def _log_point(log, pi: int, points: list[dict], grid: Grid, rows: dict, metric: str) -> None:
    rs = [rows[_row_key(points[pi], s)] for s in grid.seeds]
    m = np.array([r[metric] for r in rs])
    e = np.mean([r["energy_nJ"] for r in rs])
    desc = ", ".join(f"{k}={_fmt(k, v)}" for k, v in points[pi].items()) or "defaults"
    sd = f" +- {m.std(ddof=1):.4f}" if len(m) > 1 else ""
    log.info("point %d/%d  %s: %s %.4f%s over %d seed(s), %.1f nJ/inference", pi + 1, len(points), desc, metric,
             m.mean(), sd, len(m), e)


def _fmt(name: str, v) -> str:
    if name == "drift_time":
        from .options import fmt_time

        return fmt_time(v)
    return str(v)
