"""``bittrue golden`` (export golden vectors) and ``bittrue verify`` (replay one)."""
from __future__ import annotations

import numpy as np

from ..options import UsageError
from ..pipeline import build_chip, load_selection, model_or_chip
from ..progress import bar
from .common import check_loggable, check_replayable_option, check_user_dataset, chip_bytes


def cmd_golden(args) -> int:
    import h5py

    from ..compile import file_sha256
    from ..fileio import atomic_output, check_output
    from ..golden import GoldenWriter, write_run
    from ..run import SIGNALS, Runner
    from ..workloads import dataset_error

    if msg := dataset_error(args.dataset):
        raise UsageError(msg)
    check_user_dataset(args)  # cifar10: the data directory and --model, before any work
    if args.replayable:
        check_replayable_option(args.signals, "--signals")
    check_output(args.output, args.force)
    cfg, model, chip, arch = model_or_chip(args, args.dataset)  # chip: --chip / --image, else None
    check_loggable(cfg, None)  # "bittrue golden: error: golden vectors ..."
    x, labels, ids, sel = load_selection(args.dataset, args.split, arch, args.start, args.samples, args.data_dir)
    if chip is None:
        chip = build_chip(model, cfg, args.device, args.drift_time, args.no_drift_compensation,
                          args.program_seed, args.model, args.quiet, args.data_dir)
    runner = Runner(chip, timesteps=cfg.run.timesteps or arch.timesteps)
    meta = {"dataset": args.dataset, "split": args.split, "start": np.int64(sel.start)}
    with atomic_output(args.output, args.force) as tmp:
        from ..fileio import SpaceGuard

        SpaceGuard(tmp).check(chip_bytes(chip))  # room for the chip before HDF5 writes a byte
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
    from ..golden import verify

    with bar(None, "verify", args.quiet) as b:
        res = verify(args.file, batch_size=args.batch_size, progress=b.update)
    if res.ok:
        print(f"verify {args.file}: OK {res.samples} samples, T = {res.timesteps}, {res.datasets} datasets, "
              f"{res.values:,} values bit-exact; chip sha256 {res.image_sha256[:16]} ({res.seconds:.2f} s)")
        return 0
    print(f"verify {args.file}: {res.mismatch.line()}")
    return 1
