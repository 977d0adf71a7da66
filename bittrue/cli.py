"""Command line: ``python -m bittrue <command>``.

Results (and ``--json``) go to stdout; logs and progress bars to stderr.
Exit codes: 0 ok, 1 mismatch / failed check, 2 usage or input error.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time

import numpy as np

from . import __version__
from .config import ConfigError, HardwareConfig
from .fileio import OutputError
from .model import ModelError
from .options import UsageError, parse_time
from .options import common_options as _common
from .options import fmt_time as _fmt_time
from .options import nonneg_int as _nonneg_int
from .options import pos_int as _pos_int
from .options import seed_int as _seed
from .pipeline import build_chip, load_config, load_model, load_selection  # noqa: F401  (public, as before)
from .progress import bar, log, setup_logging


INPUT_ERRORS = (ConfigError, ModelError, OutputError, UsageError)

def _signal_list(text: str) -> frozenset[str]:
    """'spikes,adc' -> frozenset of run.SIGNALS groups; 'all' and 'none' allowed."""
    from .run import SIGNALS

    items = [s.strip() for s in str(text).split(",") if s.strip()]
    if items == ["all"]:
        return frozenset(SIGNALS)
    if items == ["none"]:
        return frozenset()
    bad = [s for s in items if s not in SIGNALS]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"unknown signal group(s) {', '.join(bad) or repr(text)}: "
                                         f"choose all, none or a comma list of {', '.join(SIGNALS)}")
    return frozenset(items)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse prints usage too by default)
        from .boundary import one_line

        self.exit(2, f"{self.prog}: error: {one_line(message)}\n")


def _model_opts(p: argparse.ArgumentParser, by_dataset: bool = True) -> None:
    p.add_argument("--model", default=None,
                   help="float model .h5 (default: the shipped model of --dataset: digits, or mimo-icl for mimo)"
                   if by_dataset else "float model .h5 (default: the shipped digits model)")
    p.add_argument("--hardware", default=None, metavar="FILE.toml",
                   help="hardware configuration overriding any XPK-1 default (TOML)")
    p.add_argument("--timesteps", type=_pos_int, default=None, help="time steps T (default: the model's)")


def _device_opts(p: argparse.ArgumentParser, with_float: bool) -> None:
    choices = ("ideal", "pcm", "float") if with_float else ("ideal", "pcm")
    p.add_argument("--device", choices=choices, default="pcm",
                   help="device model: pcm (default), ideal devices" + (", or the float SNN" if with_float else ""))
    p.add_argument("--drift-time", type=parse_time, default=None, metavar="T",
                   help="inference time after programming: seconds or 1s/1h/1d/1y (default: 1d)")
    p.add_argument("--no-drift-compensation", action="store_true", help="disable global drift compensation")
    p.add_argument("--program-seed", type=_seed, default=0, help="seed of the device model (default 0)")


def _data_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="digits",
                   help="digits (default), mimo (in-context MIMO detection, docs/mimo.md: prints SER versus SNR "
                        "beside float ICL and the classical detectors) or cifar10 (--data-dir and --model, "
                        "docs/cifar10.md)")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="cifar10: the extracted cifar-10-batches-bin folder (data_batch_1..5.bin, test_batch.bin)")
    p.add_argument("--split", default="test", choices=("train", "test", "all"), help="split (default test)")
    p.add_argument("--start", type=_nonneg_int, default=0, help="first sample (mimo: task) index (default 0)")
    p.add_argument("--limit", type=_pos_int, default=None, help="number of samples (default: all)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="bittrue", description="Bit-true emulator of the XPK-1 spiking-transformer accelerator.")
    p.add_argument("--version", action="version", version=f"bittrue {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    q = sub.add_parser("infer", help="run a dataset through the emulated chip; accuracy and throughput")
    _model_opts(q)
    _device_opts(q, with_float=True)
    _data_opts(q)
    q.add_argument("--batch-size", type=_pos_int, default=64, help="samples per batch (default 64)")
    q.add_argument("--json", action="store_true", help="JSON on stdout, with per-sample predictions and logits")
    q.add_argument("--log", default=None, metavar="FILE.h5",
                   help="write an activation log (golden-file schema, docs/golden-schema.md), streamed per batch")
    q.add_argument("--log-signals", type=_signal_list, default=_signal_list("spikes,adc"), metavar="LIST",
                   help="signal groups to log: all, none or a comma list of input, seeds, encoder, spikes, membrane,"
                        " ssa, current, noise, adc, requant, residual, logits (default spikes,adc)")
    q.add_argument("--replayable", action="store_true",
                   help="refuse (exit 2) a --log-signals choice that an RTL replay (rtl check) could not use "
                        "(docs/golden-schema.md 5.2)")
    q.add_argument("--resume", action="store_true",
                   help="continue an interrupted --log run from its last complete batch (FILE.h5.partial)")
    q.add_argument("--force", action="store_true",
                   help="overwrite an existing --log file (or its partial file) or --plot file")
    q.add_argument("--tasks-per-snr", type=_pos_int, default=None, metavar="N",
                   help="mimo: the first N tasks per SNR of the test split (default 250; 10000 for the full "
                        "statistics, docs/mimo.md)")
    q.add_argument("--plot", default=None, metavar="FILE.png", help="mimo: write the SER-versus-SNR waterfall plot")
    from .dist import add_dist_options

    add_dist_options(q)
    _common(q)

    e = sub.add_parser("golden", aliases=["export-golden"],
                       help="export golden vectors: every signal of a few samples (.h5, docs/golden-schema.md)")
    _model_opts(e)
    _device_opts(e, with_float=False)
    e.add_argument("--dataset", default="digits", help="digits (default) or mimo")
    e.add_argument("--split", default="test", choices=("train", "test", "all"), help="split (default test)")
    e.add_argument("--start", type=_nonneg_int, default=0, help="first sample index (default 0)")
    e.add_argument("--samples", type=_pos_int, default=4, help="number of samples (default 4)")
    e.add_argument("--signals", type=_signal_list, default=_signal_list("all"), metavar="LIST",
                   help="signal groups to store (default all)")
    e.add_argument("--replayable", action="store_true",
                   help="refuse (exit 2) a --signals choice that an RTL replay (rtl check) could not use: every "
                        "stored block needs its companion groups (docs/golden-schema.md 5.2)")
    e.add_argument("--batch-size", type=_pos_int, default=64, help="samples per batch (default 64)")
    e.add_argument("-o", "--output", required=True, help="golden file to write")
    e.add_argument("--force", action="store_true", help="overwrite an existing output")
    _common(e)

    v = sub.add_parser("verify", help="replay a golden file on its own stored chip; first mismatch, exit 1")
    v.add_argument("file", help="golden file (or activation log) .h5")
    v.add_argument("--batch-size", type=_pos_int, default=64, help="samples per replay batch (default 64)")
    v.add_argument("--threads", type=_pos_int, default=None, help="Numba threads (default: all cores)")
    v.add_argument("--quiet", "-q", action="store_true", help="no progress bars or log lines on stderr")

    r = sub.add_parser("rtl", help="RTL reference of the digital blocks (docs/rtl.md): export the Verilog and "
                                   "cocotb testbenches, or replay a golden file through them")
    r.add_argument("action", choices=("export", "check"),
                   help="export: write hdl/ and tb/ to PATH; check: replay golden file PATH through the RTL "
                        "(needs iverilog and the rtl extra)")
    r.add_argument("path", help="export: output folder; check: golden file .h5 (schema >= 1.2)")
    r.add_argument("--rtl-dir", default=None, metavar="DIR",
                   help="check: sources laid out as export writes them (default: the shipped ones)")
    r.add_argument("--blocks", default=None, metavar="LIST",
                   help="check: comma list of encoder, ssa, colpath, lif (default: every block the file stores)")
    r.add_argument("--json", action="store_true", help="check: JSON on stdout")
    r.add_argument("--force", action="store_true", help="export: overwrite an existing folder")
    r.add_argument("--quiet", "-q", action="store_true", help="no log lines on stderr")

    c = sub.add_parser("compile", help="float model + hardware config -> hardware image (.h5)")
    _model_opts(c, by_dataset=False)
    c.add_argument("-o", "--output", required=True, help="hardware image file to write")
    c.add_argument("--force", action="store_true", help="overwrite an existing output")
    _common(c)

    g = sub.add_parser("program", help="hardware image -> programmed chip (conductance image, requant)")
    g.add_argument("image", help="hardware image .h5 from 'bittrue compile'")
    _device_opts(g, with_float=False)
    g.add_argument("-o", "--output", required=True, help="chip file to write")
    g.add_argument("--force", action="store_true", help="overwrite an existing output")
    _common(g)

    from .energy import add_energy_parser

    add_energy_parser(sub)
    from .plot import add_plot_parser
    from .sweep import add_sweep_parser

    add_sweep_parser(sub)
    add_plot_parser(sub)

    i = sub.add_parser("info", help="versions, threads, cache directory, defaults")
    i.add_argument("--json", action="store_true")
    for q in [p] + list(dict.fromkeys(sub.choices.values())):  # global, and accepted after COMMAND too
        q.add_argument("--debug", action="store_true", default=argparse.SUPPRESS if q is not p else False,
                       help="show the Python traceback of an internal error instead of one line")
    return p


def _check_args(args) -> None:
    """Option values that would only fail deep inside a command (overflow, nonsense), refused up front."""
    for opt, what in (("hardware", "hardware configuration"), ("table", "energy table")):
        path = getattr(args, opt, None)
        if path:  # a TOML file is read whole: /dev/zero, a FIFO or a huge file would never end or fill memory
            from .h5safe import check_regular

            p = check_regular(path, what, ConfigError)
            if p.stat().st_size > 1 << 20:
                raise ConfigError(f"{what} {path}: larger than 1 MiB (refused)")
    vdd = getattr(args, "vdd", None)
    if args.command == "energy" and vdd is not None and not (math.isfinite(vdd) and 0.05 <= vdd <= 10.0):
        raise UsageError(f"--vdd {vdd}: supply voltage must be in 0.05..10 V")
    node = getattr(args, "node_nm", None)
    if args.command == "energy" and node is not None and not (math.isfinite(node) and 1 <= node <= 1000):
        raise UsageError(f"--node-nm {node}: technology node must be in 1..1000 nm")


# ---------------------------------------------------------------------------- helpers
def _set_threads(n: int | None) -> None:
    if n is None:
        return
    import numba

    n = min(n, numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(n)


def _check_replayable(signals, option: str) -> None:
    """``--replayable``: a UsageError unless an RTL replay could use every stored block (golden-schema 5.2)."""
    from .golden import check_replayable

    try:
        check_replayable(signals)
    except ValueError as exc:
        raise UsageError(f"{option} with --replayable: {exc}") from None


def cmd_infer(args) -> int:
    from .run import Runner, predict
    from .workloads import DATASETS, check_data_dir

    if args.dataset not in DATASETS:
        raise UsageError(f"--dataset {args.dataset!r}: unknown; choose one of {', '.join(DATASETS)}")
    if args.replayable:
        _check_replayable(args.log_signals, "--log-signals")
    if args.dataset == "cifar10":  # no shipped model, user data: check both before any work
        try:
            check_data_dir(args.dataset, args.data_dir)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if args.model is None:
            raise UsageError("--dataset cifar10: no model ships; give --model M.h5 (tools/train.py cifar10, "
                             "docs/cifar10.md)")
    cfg = load_config(args)
    model = load_model(args.model, args.dataset, cfg)
    arch = model.arch
    if args.log and args.device == "float":
        raise UsageError("--log: the float SNN has no hardware signals; use --device pcm or ideal")
    if args.resume and not args.log:
        raise UsageError("--resume continues an interrupted --log run: give --log FILE.h5")
    if args.log:
        from .fileio import check_output, partial_path

        check_output(args.log, args.force)
        if args.resume and not partial_path(args.log).exists():
            raise UsageError(f"--resume: no partial log {partial_path(args.log)} to continue")
    if args.scheduler:
        from .dist import check_scheduler

        check_scheduler(args)
    from .mimo_report import prepare_infer

    prepare_infer(args)  # mimo: --tasks-per-snr, --plot
    x, labels, ids, sel = load_selection(args.dataset, args.split, arch, args.start, args.limit, args.data_dir)
    T = cfg.run.timesteps or arch.timesteps
    t0 = time.perf_counter()
    t_warm = 0.0
    done = 0  # samples already in a resumed log
    if args.device == "float":
        t_prep = time.perf_counter()
        logits = _float_logits(model, cfg, x, T, args.batch_size, args.quiet)
        t_run = time.perf_counter() - t_prep
        drift = None
        comp = None
    else:
        chip = build_chip(model, cfg, args.device, args.drift_time, args.no_drift_compensation,
                          args.program_seed, args.model, args.quiet, args.data_dir)
        drift = chip.t_inference_s
        comp = chip.drift_compensation
        runner = Runner(chip, timesteps=T)
        t_prep = time.perf_counter()
        # compile the kernels (or load them from Numba's cache) on one sample before timing; a sample's result
        # does not depend on what ran before it, so this changes nothing (on a cluster the workers compile)
        if not args.scheduler:
            runner.run_batch(x[:1], ids[:1])
        t_warm = time.perf_counter() - t_prep
        t_prep = time.perf_counter()
        logits = np.zeros((len(x),) + ((arch.readout_tokens,) if arch.readout_tokens else ()) + (arch.n_classes,),
                          dtype=np.int64)
        counter = None
        if args.json:  # exact activity counts for the energy section
            from .energy import ActivityCounter

            counter = ActivityCounter(chip.arch, chip.config, runner.T)
        with contextlib.ExitStack() as stack:
            writer = None
            done = 0
            if args.log:  # streamed per batch into FILE.partial; renamed into place only on success
                import h5py

                from .fileio import resumable_output
                from .golden import GoldenWriter

                part = stack.enter_context(resumable_output(args.log, args.force, args.resume))
                meta = {"dataset": args.dataset, "split": args.split, "start": np.int64(sel.start),
                        "n_requested": np.int64(len(x))}
                if args.resume and _no_complete_batch(part):
                    log.info("the partial log %s holds no complete batch (killed while starting): starting over",
                             part)
                    args.resume = False
                if args.resume:
                    from .golden import GoldenError
                    from .h5safe import open_h5

                    try:
                        fh = stack.enter_context(open_h5(part, "partial log", GoldenError, mode="r+",
                                                         complete=False))
                    except GoldenError as exc:
                        raise UsageError(f"--resume: {exc} (killed hard?): start over with --force") from None
                    writer = GoldenWriter.resume(fh, runner, args.log_signals, kind="log", meta=meta,
                                                 n_samples=len(x))
                    done = writer.n
                    if done:  # a partial interrupted in its first batch stores no logits yet
                        logits[:done] = writer.stored_logits()
                    log.info("resuming %s at sample %d of %d", args.log, done, len(x))
                else:
                    from .fileio import SpaceGuard

                    SpaceGuard(part).check(_chip_bytes(chip))  # room for the chip before HDF5 writes a byte
                    fh = stack.enter_context(h5py.File(part, "w", track_order=True))
                    writer = GoldenWriter(fh, runner, args.log_signals, kind="log", n_samples=len(x), meta=meta)
                    fh.attrs["samples_done"] = np.int64(0)  # resumable from here on (a full disk before batch 1)
                    fh.flush()
            from .energy import MultiSink

            sink = MultiSink(writer, counter) if (writer is not None or counter is not None) else None
            from .dist import infer_batches

            if writer is not None:
                from .fileio import SpaceGuard

                guard = SpaceGuard(part)
            with bar(len(x), f"XPK-1 {args.device}", args.quiet) as b, \
                    infer_batches(args, runner, x, ids, done, sink) as batches:
                b.update(done)
                try:
                    for i, j, run_batch in batches:
                        if writer is not None:
                            guard.check()  # a full disk stops here, between batches, with a resumable partial
                            writer.stage(x[i:j], labels[i:j])
                        logits[i:j] = run_batch(sink)
                        b.update(j - i)
                except OSError as exc:
                    if not args.resume or exc.errno == 28:  # ENOSPC: a full disk, not a damaged partial log
                        raise
                    # a hard kill can leave a half-written, checksum-failing chunk in the partial log
                    raise UsageError(f"--resume: partial log {partial_path(args.log)} is damaged ({exc}): start "
                                     f"over with --force") from None
            if writer is not None:
                writer.close()
        t_run = time.perf_counter() - t_prep
    total = time.perf_counter() - t0
    pred = predict(logits)
    correct = int((pred == labels).sum())
    acc = correct / labels.size  # mimo: per query token (joint symbol)
    mimo = None
    if args.dataset == "mimo":
        from .mimo_report import infer_section

        mimo = infer_section(args, pred, sel, f"pcm {_fmt_time(drift)}" if args.device == "pcm" else None,
                             None if args.device == "float" else
                             lambda: predict(_float_logits(model, cfg, x, T, args.batch_size, args.quiet)))
    res = {
        "bittrue_version": __version__, "dataset": args.dataset, "split": args.split, "start": sel.start,
        "samples": len(labels), "correct": correct, "accuracy": acc, "device": args.device,
        "drift_time_s": drift, "drift_compensation": comp, "timesteps": T, "root_seed": cfg.run.root_seed,
        "program_seed": args.program_seed if args.device == "pcm" else None,
        "images_per_s": (len(labels) - done) / t_run if t_run > 0 and len(labels) > done else None,
        "samples_run": len(labels) - done, "run_s": t_run,
        "prepare_s": t_prep - t0 - t_warm, "warmup_s": t_warm, "total_s": total, "config_hash": cfg.config_hash(), "model": arch.name,
        "log": args.log,
    }
    if mimo is not None:
        res["mimo"] = mimo
    if args.json:
        if args.device != "float":
            from .energy import energy_report

            res["energy"] = energy_report(counter.counts(), include_counts=False)
        res["labels"] = labels.tolist()
        res["predictions"] = pred.tolist()
        res["logits"] = logits.tolist()
        print(json.dumps(res))
    else:
        dev = args.device if args.device != "pcm" else (
            f"pcm, t = {_fmt_time(drift)}, drift compensation {'on' if comp else 'off'}, program seed {args.program_seed}")
        print(f"model      {arch.name} (T = {T})  device: {dev}")
        print(f"dataset    {args.dataset}/{args.split}  samples {len(labels)} (from index {sel.start})")
        per = " query symbols (joint)" if labels.ndim > 1 else ""
        print(f"accuracy   {acc:.4f}  ({correct}/{labels.size}{per})")
        ips = res["images_per_s"]
        resumed = f", {res['samples_run']} run now" if done else ""
        ips = "-" if ips is None else f"{ips:.1f}"
        print(f"throughput {ips} images/s{resumed}  (run {t_run:.2f} s; compile+program "
              f"{t_prep - t0 - t_warm:.2f} s; JIT/warm-up {t_warm:.2f} s; total {total:.2f} s)")
        print(f"config     {cfg.config_hash()}  root seed {cfg.run.root_seed}")
        if mimo is not None:
            from .mimo_report import print_section

            print_section(mimo)
        if args.log:
            from .run import SIGNALS

            print(f"log        {args.log}  (signals {','.join(s for s in SIGNALS if s in args.log_signals) or 'none'})")
    return 0


def _float_logits(model, cfg: HardwareConfig, x: np.ndarray, T: int, batch: int, quiet: bool) -> np.ndarray:
    """Logits of the float SNN (``--device float``): one rng seeded with the root seed, in batches."""
    from .floatmodel import float_forward

    arch = model.arch
    rng = np.random.default_rng(cfg.run.root_seed)
    logits = np.zeros((len(x),) + ((arch.readout_tokens,) if arch.readout_tokens else ()) + (arch.n_classes,))
    with bar(len(x), "float SNN", quiet) as b:
        for i in range(0, len(x), batch):
            logits[i:i + batch] = float_forward(
                model, x[i:i + batch], timesteps=T, rng=rng, k_s=cfg.k_s(arch.d_k),
                k_o=cfg.k_o(arch.n_tokens), leak_shift=cfg.lif.leak_shift, reset=cfg.lif.reset)
            b.update(min(batch, len(x) - i))
    return logits


def cmd_compile(args) -> int:
    from .compile import compile_model, file_sha256
    from .fileio import atomic_output, write_h5_file
    from .hwfile import write_image
    from .model import default_model_path
    from .workloads import calibration_tokens

    import h5py

    cfg = load_config(args)
    from .fileio import check_output

    check_output(args.output, args.force)
    model = load_model(args.model, cfg=cfg)
    calib = calibration_tokens(model.arch, cfg.tile.calibration_samples)
    with bar(len(calib) if calib is not None else 0, "calibrate", args.quiet) as b:
        image = compile_model(model, cfg, calib, model_sha256=file_sha256(args.model or default_model_path()),
                              progress=lambda n: b.update(n - b.n))
    with atomic_output(args.output, args.force) as tmp:
        write_h5_file(tmp, lambda f: write_image(f, image))
    print(f"hardware image {args.output}: {len(image.layers)} layers, "
          f"ADC full scales {[int(x) for lay in image.layers for x in lay.i_fs_code]}")
    return 0


def cmd_program(args) -> int:
    import h5py

    from .fileio import atomic_output, check_output, write_h5_file
    from .hwfile import read_image, write_chip
    from .program import program

    check_output(args.output, args.force)
    image = _open_h5(args.image, read_image)
    chip = program(image, args.device, t_inference_s=args.drift_time,
                   drift_compensation=False if args.no_drift_compensation else None, program_seed=args.program_seed)
    with atomic_output(args.output, args.force) as tmp:
        write_h5_file(tmp, lambda f: write_chip(f, chip))
    print(f"chip {args.output}: device {chip.device}, t = {_fmt_time(chip.t_inference_s)}, "
          f"drift compensation {'on' if chip.drift_compensation else 'off'}, "
          f"alpha {[round(float(a), 4) for lay in chip.layers for a in lay.alpha]}")
    return 0


def cmd_golden(args) -> int:
    import h5py

    from .compile import file_sha256
    from .fileio import atomic_output, check_output
    from .golden import GoldenWriter, write_run
    from .run import SIGNALS, Runner
    from .workloads import DATASETS

    if args.dataset not in DATASETS:
        raise UsageError(f"--dataset {args.dataset!r}: unknown; choose one of {', '.join(DATASETS)}")
    if args.replayable:
        _check_replayable(args.signals, "--signals")
    check_output(args.output, args.force)
    cfg = load_config(args)
    model = load_model(args.model, args.dataset, cfg)
    arch = model.arch
    x, labels, ids, sel = load_selection(args.dataset, args.split, arch, args.start, args.samples)
    chip = build_chip(model, cfg, args.device, args.drift_time, args.no_drift_compensation,
                      args.program_seed, args.model, args.quiet)
    runner = Runner(chip, timesteps=cfg.run.timesteps or arch.timesteps)
    meta = {"dataset": args.dataset, "split": args.split, "start": np.int64(sel.start)}
    with atomic_output(args.output, args.force) as tmp:
        from .fileio import SpaceGuard

        SpaceGuard(tmp).check(_chip_bytes(chip))  # room for the chip before HDF5 writes a byte
        with h5py.File(tmp, "w", track_order=True) as fh:
            writer = GoldenWriter(fh, runner, args.signals, kind="golden", meta=meta, n_samples=len(x))
            with bar(len(x), "golden", args.quiet) as b:
                guard = SpaceGuard(tmp)
                guard.check()
                write_run(writer, runner, x, ids, labels, args.batch_size, lambda n: (b.update(n), guard.check()))
    sigs = ",".join(s for s in SIGNALS if s in args.signals) or "none"
    print(f"golden {args.output}: {len(x)} samples from {args.dataset}/{args.split}[{sel.start}:], T = {runner.T}, "
          f"signals {sigs}; sha256 {file_sha256(args.output)}")
    return 0


def cmd_verify(args) -> int:
    from .golden import verify

    with bar(None, "verify", args.quiet) as b:
        res = verify(args.file, batch_size=args.batch_size, progress=b.update)
    if res.ok:
        print(f"verify {args.file}: OK {res.samples} samples, T = {res.timesteps}, {res.datasets} datasets, "
              f"{res.values:,} values bit-exact; chip sha256 {res.image_sha256[:16]} ({res.seconds:.2f} s)")
        return 0
    print(f"verify {args.file}: {res.mismatch.line()}")
    return 1


def cmd_rtl(args) -> int:
    from . import rtl

    if args.action == "export":
        files = rtl.export(args.path, args.force)
        print(f"rtl export {args.path}: {len(files)} files (hdl/: Verilog, tb/: cocotb testbenches; docs/rtl.md)")
        return 0
    blocks = [b.strip() for b in args.blocks.split(",") if b.strip()] if args.blocks else None
    res = rtl.check(args.path, rtl_dir=args.rtl_dir, blocks=blocks, log=None if args.quiet else log.info)
    print(rtl.report(res, args.path, as_json=args.json))
    return 0 if res.ok else 1


def _no_complete_batch(part) -> bool:
    """True for a readable partial log that records no complete batch yet (nothing to keep: start it over)."""
    from .golden import GoldenError
    from .h5safe import open_h5

    try:
        with open_h5(part, "partial log", GoldenError, complete=False) as f:
            return "samples_done" not in f.attrs or not all(g in f for g in ("chip", "inputs", "layers", "outputs"))
    except GoldenError:
        return False  # unreadable: the resume path reports it


def _chip_bytes(chip) -> int:
    """Upper bound of the bytes a chip group takes in an HDF5 file (uncompressed conductance images + slack)."""
    return sum(2 * lay.g_pos_code.nbytes + 64 * lay.m_code.size for lay in chip.layers) + (256 << 10)


def _open_h5(path: str, reader):
    from .h5safe import open_h5

    with open_h5(path, "file", ModelError) as f:
        return reader(f)


def cmd_info(args) -> int:
    import h5py
    import numba

    info = {"bittrue": __version__, "python": sys.version.split()[0], "numpy": np.__version__,
            "numba": numba.__version__, "h5py": h5py.__version__, "threads": numba.get_num_threads(),
            "numba_cache_dir": numba.config.CACHE_DIR or "(beside the kernel sources, __pycache__)",
            "default_config_hash": HardwareConfig().config_hash()}
    if args.json:
        print(json.dumps(info))
    else:
        for k, v in info.items():
            print(f"{k:16s} {v}")
    return 0


from .energy import cmd_energy  # noqa: E402
from .plot import cmd_plot  # noqa: E402
from .sweep import cmd_sweep  # noqa: E402

COMMANDS = {"energy": cmd_energy, "infer": cmd_infer, "compile": cmd_compile, "program": cmd_program, "info": cmd_info,
            "golden": cmd_golden, "export-golden": cmd_golden, "verify": cmd_verify, "sweep": cmd_sweep, "plot": cmd_plot,
            "rtl": cmd_rtl}


def _terminate_as_interrupt():
    """SIGTERM (and SIGHUP, a closed terminal) unwind like Ctrl-C: temporary files removed, partial logs kept.

    Returns the previous handlers by signal (restored when ``main`` returns), or None.
    """
    import signal
    import threading

    from . import boundary

    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        boundary.note_interrupt(signum)  # survives a KeyboardInterrupt that Python swallows in a finaliser
        raise KeyboardInterrupt

    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is None or (name == "SIGHUP" and signal.getsignal(sig) is not signal.SIG_DFL):
            continue  # SIGHUP ignored (nohup) stays ignored
        try:
            previous[sig] = signal.signal(sig, handler)
        except (ValueError, OSError):  # pragma: no cover - not allowed here
            pass
    return previous or None


def _passive_openmp() -> None:
    """Let idle OpenMP workers sleep instead of spin (unless the user chose ``OMP_WAIT_POLICY``).

    Numba's OpenMP pool is loaded at the first parallel kernel, after this runs.  With spinning workers,
    a machine with anything else running loses whole time slices at every parallel launch (measured on 2
    cores with one other busy process: digits 38 instead of 690 images/s); sleeping workers cost a
    few microseconds per launch on an idle machine.  See docs/performance.md.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv: list[str] | None = None) -> int:
    from . import NUMBA_CACHE_NOTE, boundary

    _passive_openmp()
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "quiet", False))
    if NUMBA_CACHE_NOTE and not getattr(args, "quiet", False):
        print(f"bittrue: note: {boundary.one_line(NUMBA_CACHE_NOTE)}", file=sys.stderr)
    debug = bool(getattr(args, "debug", False))
    boundary.clear_interrupt()
    previous = _terminate_as_interrupt()
    try:
        _set_threads(getattr(args, "threads", None))
        _check_args(args)
        with boundary.one_line_warnings(debug):
            rc = COMMANDS[args.command](args)
        boundary.check_interrupt()
        boundary.flush_stdout()
        return rc
    except INPUT_ERRORS as exc:
        print(f"bittrue {args.command}: error: {boundary.one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = ""
        if getattr(args, "log", None):
            from .fileio import partial_path

            if partial_path(args.log).exists():
                hint = f"; partial log kept at {partial_path(args.log)}: rerun with --resume to continue"
        print(f"bittrue {args.command}: interrupted{hint}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        boundary.silence_stdout()
        return 1
    except Exception as exc:  # the one boundary: one line, exit 2 (--debug: the traceback)
        if debug:
            raise
        rc = boundary.report(exc, args, f"bittrue {args.command}")
        if boundary.is_disk_full(exc):  # HDF5 cannot be torn down cleanly after a failed write: leave now
            boundary.silence_stdout()
            sys.stderr.flush()
            os._exit(rc)
        return rc
    finally:
        if previous is not None:
            import signal

            for sig, handler in previous.items():
                signal.signal(sig, handler)
