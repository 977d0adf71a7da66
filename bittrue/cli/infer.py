"""``bittrue infer``: a dataset through the emulated chip (or the float SNN); accuracy, throughput, logs."""
from __future__ import annotations

import contextlib
import json
import time

import numpy as np

from .. import __version__
from ..options import UsageError
from ..options import fmt_time as _fmt_time
from ..pipeline import build_chip, load_selection, model_or_chip
from ..progress import bar, log
from .common import (check_loggable, check_replayable_option, check_user_dataset, chip_bytes, float_logits,
                     no_complete_batch)


def cmd_infer(args) -> int:
    from ..run import Runner, predict
    from ..workloads import dataset_error

    if msg := dataset_error(args.dataset):
        raise UsageError(msg)
    if args.replayable:
        check_replayable_option(args.log_signals, "--log-signals")
    check_user_dataset(args)  # cifar10: no shipped model, user data: both checked before any work
    # chip: --chip / --image, checked against the other options; None: compiled from the model below (with a
    # stored chip the float model is read only for the float ICL column of mimo's table)
    cfg, model, chip, arch = model_or_chip(args, args.dataset, model_too=args.dataset == "mimo")
    stored = chip is not None
    if args.log and args.device == "float":
        raise UsageError("--log: the float SNN has no hardware signals; use --device pcm or ideal")
    if args.resume and not args.log:
        raise UsageError("--resume continues an interrupted --log run: give --log FILE.h5")
    if args.log:
        from ..fileio import check_output, partial_path

        check_loggable(cfg, "--log")
        check_output(args.log, args.force)
        if args.resume and not partial_path(args.log).exists():
            raise UsageError(f"--resume: no partial log {partial_path(args.log)} to continue")
    if args.scheduler:
        from ..dist import check_scheduler

        check_scheduler(args)
    from ..mimo_report import prepare_infer

    prepare_infer(args)  # mimo: --tasks-per-snr, --plot
    x, labels, ids, sel = load_selection(args.dataset, args.split, arch, args.start, args.limit, args.data_dir)
    T = cfg.run.timesteps or arch.timesteps
    t0 = time.perf_counter()
    t_warm = 0.0
    done = 0  # samples already in a resumed log
    if args.device == "float":
        t_prep = time.perf_counter()
        logits = float_logits(model, cfg, x, T, args.batch_size, args.quiet)
        t_run = time.perf_counter() - t_prep
        drift = None
        comp = None
    else:
        if not stored:
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
            from ..energy import ActivityCounter

            counter = ActivityCounter(chip.arch, chip.config, runner.T)
        with contextlib.ExitStack() as stack:
            writer = None
            done = 0
            if args.log:  # streamed per batch into FILE.partial; renamed into place only on success
                import h5py

                from ..fileio import resumable_output
                from ..golden import GoldenWriter

                part = stack.enter_context(resumable_output(args.log, args.force, args.resume))
                meta = {"dataset": args.dataset, "split": args.split, "start": np.int64(sel.start),
                        "n_requested": np.int64(len(x))}
                if args.resume and no_complete_batch(part):
                    log.info("the partial log %s holds no complete batch (killed while starting): starting over",
                             part)
                    args.resume = False
                if args.resume:
                    from ..golden import GoldenError
                    from ..h5safe import open_h5

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
                    from ..fileio import SpaceGuard

                    SpaceGuard(part).check(chip_bytes(chip))  # room for the chip before HDF5 writes a byte
                    fh = stack.enter_context(h5py.File(part, "w", track_order=True))
                    writer = GoldenWriter(fh, runner, args.log_signals, kind="log", n_samples=len(x), meta=meta)
                    fh.attrs["samples_done"] = np.int64(0)  # resumable from here on (a full disk before batch 1)
                    fh.flush()
            from ..energy import MultiSink

            sink = MultiSink(writer, counter) if (writer is not None or counter is not None) else None
            from ..dist import infer_batches

            if writer is not None:
                from ..fileio import SpaceGuard

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
        from ..mimo_report import infer_section
        from ..workloads import mimo_config

        mimo = infer_section(args, pred, sel, f"pcm {_fmt_time(drift)}" if args.device == "pcm" else None,
                             None if args.device == "float" else
                             lambda: predict(float_logits(model, cfg, x, T, args.batch_size, args.quiet)),
                             cfg=mimo_config(arch), timesteps=T)
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
            from ..energy import energy_report

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
            from ..mimo_report import print_section

            print_section(mimo)
        if args.log:
            from ..run import SIGNALS

            print(f"log        {args.log}  (signals {','.join(s for s in SIGNALS if s in args.log_signals) or 'none'})")
    return 0
