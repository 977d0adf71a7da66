"""The ``python -m bittrue energy`` command: run (or recount a golden file), count, price, print."""
from __future__ import annotations

import argparse
import json

import numpy as np

from .counts import ActivityCounter, counts_from_golden
from .report import energy_report, format_report
from .table import EnergyTableError, load_energy_table
from .tuning import random_tokens, tune_random_model


# =============================================================================== CLI
def add_energy_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``energy`` subcommand to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    from ..options import chip_options, common_options, device_options, model_options, nonneg_int, pos_int, seed_int

    p = subparsers.add_parser("energy", help="activity counts -> energy per inference, beside a digital baseline")
    model_options(p)
    p.add_argument("--random-model", default=None, metavar="ARCH",
                   help="instead of --model: a random model of ARCH (e.g. cifar10-vit-small) whose LIF threshold is "
                        "tuned to --density on random images")
    p.add_argument("--model-seed", type=seed_int, default=0, help="seed of --random-model's weights (default 0)")
    p.add_argument("--density", type=float, default=0.15,
                   help="target crossbar-input spike density of --random-model (default 0.15)")
    device_options(p, with_float=False)
    chip_options(p)
    p.add_argument("--dataset", default="digits",
                   help="digits (default), mimo, or random (uniformly random 8-bit images of the model's shape)")
    p.add_argument("--split", default="test", choices=("train", "test", "all"), help="split (default test)")
    p.add_argument("--start", type=nonneg_int, default=0, help="first sample index (default 0)")
    p.add_argument("--limit", type=pos_int, default=None, help="number of samples (default: all; random: 4)")
    p.add_argument("--batch-size", type=pos_int, default=64, help="samples per batch (default 64)")
    p.add_argument("--table", default=None, metavar="FILE.toml",
                   help="energy table overriding entries of the shipped bittrue/hardware/energy.toml")
    p.add_argument("--node-nm", type=float, default=None, help="technology node for digital scaling (default 45)")
    p.add_argument("--vdd", type=float, default=None, help="supply voltage for digital scaling (default 0.9)")
    p.add_argument("--golden", default=None, metavar="FILE.h5",
                   help="no run: recount the spikes stored in a golden file / activation log (needs the encoder, "
                        "spikes and ssa signal groups); model and data options are then ignored")
    p.add_argument("--json", action="store_true", help="JSON on stdout (with the raw counts)")
    common_options(p)
    return p


def cmd_energy(args) -> int:
    """``python -m bittrue energy``: run, count, price; print the report (exit 0)."""
    from ..options import UsageError
    from ..pipeline import build_chip, load_config, stored_chip
    from ..progress import bar
    from ..run import Runner

    try:
        tab = load_energy_table(args.table, node_nm=args.node_nm, vdd_V=args.vdd)
    except EnergyTableError as exc:
        raise UsageError(str(exc)) from None
    if args.golden is not None:
        from ..golden import GoldenError

        try:
            counts = counts_from_golden(args.golden)
        except (GoldenError, EnergyTableError) as exc:
            raise UsageError(str(exc)) from None
        rep = energy_report(counts, tab, include_counts=args.json)
        rep["golden"] = str(args.golden)
        print(json.dumps(rep) if args.json else format_report(rep))
        return 0
    if args.random_model is not None and (args.model or args.chip or args.image) is not None:
        raise UsageError("--random-model excludes --model, --chip and --image")
    stored = stored_chip(args)  # --chip / --image; None: compile and program the (random) float model
    model = None
    if stored is not None:
        chip, cfg = stored
        arch = chip.arch
    else:
        cfg = load_config(args)
        model = _float_model(args, cfg)
        arch = model.arch
    x, ids = _samples(args, arch, cfg)
    if stored is None and (args.random_model is not None or arch.name != "digits"):
        from ..compile import compile_model
        from ..program import program

        calib = random_tokens(arch, 8, seed=7) if args.dataset == "random" else None
        if calib is None and args.dataset != "random":
            from ..workloads import calibration_tokens

            calib = calibration_tokens(arch, cfg.tile.calibration_samples)
        image = compile_model(model, cfg, calib)
        chip = program(image, args.device, t_inference_s=args.drift_time,
                       drift_compensation=False if args.no_drift_compensation else None,
                       program_seed=args.program_seed)
    elif stored is None:
        chip = build_chip(model, cfg, args.device, args.drift_time, args.no_drift_compensation, args.program_seed,
                          args.model, args.quiet)
    runner = Runner(chip)
    counter = ActivityCounter(chip.arch, chip.config, runner.T)
    with bar(len(x), f"XPK-1 {args.device} (counting)", args.quiet) as b:
        for i in range(0, len(x), args.batch_size):
            j = min(len(x), i + args.batch_size)
            runner.run_batch(x[i:j], ids[i:j], sink=counter)
            b.update(j - i)
    rep = energy_report(counter.counts(), tab, include_counts=args.json)
    rep["dataset"] = args.dataset
    rep["device"] = args.device
    if args.random_model is not None:
        rep["random_model"] = dict(model.training)
    if args.json:
        print(json.dumps(rep))
    else:
        print(format_report(rep))
    return 0


def _float_model(args, cfg):
    """``--model`` (or the dataset's shipped model), or ``--random-model`` tuned to ``--density``."""
    from ..options import UsageError
    from ..pipeline import load_model

    if args.random_model is None:
        return load_model(args.model, args.dataset, cfg)
    from ..model import ARCHITECTURES

    if args.random_model not in ARCHITECTURES:
        raise UsageError(f"--random-model {args.random_model!r}: choose one of {', '.join(ARCHITECTURES)}")
    if not 0.0 < args.density < 1.0:
        raise UsageError(f"--density {args.density}: must be in (0, 1)")
    model, _ = tune_random_model(ARCHITECTURES[args.random_model], args.density, seed=args.model_seed, cfg=cfg)
    return model


def _samples(args, arch, cfg) -> tuple[np.ndarray, np.ndarray]:
    """(tokens, global sample ids) of ``--dataset`` (random: seeded by the root seed) from ``--start``."""
    from ..options import UsageError
    from ..pipeline import select

    if args.dataset == "random":
        n = args.limit or 4
        x = random_tokens(arch, args.start + n, seed=1000 + int(cfg.run.root_seed))[args.start:]
        return x, np.arange(args.start, args.start + n, dtype=np.int64)
    from ..workloads import SHIPPED_DATASETS, dataset_error, load_tokens

    if msg := dataset_error(args.dataset, ("random", *SHIPPED_DATASETS)):
        raise UsageError(msg)
    try:
        xs, _ = load_tokens(args.dataset, args.split, arch)
    except ValueError as exc:  # a stored chip of another architecture
        raise UsageError(str(exc)) from None
    sel = select(len(xs), args.start, args.limit)
    return xs[sel], np.arange(sel.start, sel.stop, dtype=np.int64)

