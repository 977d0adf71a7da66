"""The pipeline as the commands use it: configuration, model, chip (compile + program) and sample selection.

Shared by ``bittrue.cli`` and the command modules (``energy``, ``sweep``); it never imports the CLI.
"""
from __future__ import annotations

import sys

import numpy as np

from .config import HardwareConfig
from .options import UsageError
from .progress import bar


def load_config(args) -> HardwareConfig:
    cfg = HardwareConfig.load(args.hardware) if getattr(args, "hardware", None) else HardwareConfig()
    import dataclasses

    seed = getattr(args, "seed", None)
    if seed is not None and seed >= 1 << 64:
        raise UsageError(f"--seed {seed}: must be below 2^64")
    run = dataclasses.replace(cfg.run, root_seed=int(cfg.run.root_seed if seed is None else seed))
    if getattr(args, "timesteps", None):
        run = dataclasses.replace(run, timesteps=int(args.timesteps))
    return dataclasses.replace(cfg, run=run).validate()


def model_path(path: str | None, dataset: str = "digits") -> str:
    """``--model``, or the shipped model of ``dataset`` (digits, or mimo-icl for mimo)."""
    from .model import default_model_path
    from .workloads import DEFAULT_MODEL

    return str(path or default_model_path(DEFAULT_MODEL.get(dataset, "digits")))


def load_model(path: str | None, dataset: str = "digits", cfg: HardwareConfig | None = None):
    """The float model; with ``cfg``, a warning on stderr for each setting it was not trained for."""
    from .model import load_float_model, trained_config_mismatches

    model = load_float_model(model_path(path, dataset))
    if cfg is not None:
        for msg in trained_config_mismatches(model, cfg):
            from .boundary import one_line

            print(f"bittrue: warning: {one_line(msg)}", file=sys.stderr)
    return model


def build_chip(model, cfg: HardwareConfig, device: str, drift_time: float | None, no_comp: bool,
               program_seed: int, model_path: str | None = None, quiet: bool = False, data_dir: str | None = None):
    """compile (with calibration on training samples; cifar10: of ``data_dir``) + program."""
    from .compile import compile_model, file_sha256
    from .model import default_model_path
    from .program import program
    from .workloads import calibration_tokens

    calib = calibration_tokens(model.arch, cfg.tile.calibration_samples, data_dir)
    default = {"mimo-icl": "mimo-icl"}.get(model.arch.name, "digits")
    sha = file_sha256(model_path or default_model_path(default))
    with bar(len(calib) if calib is not None else 0, "calibrate", quiet) as b:
        image = compile_model(model, cfg, calib, model_sha256=sha, progress=lambda n: b.update(n - b.n))
    return program(image, device, t_inference_s=drift_time, drift_compensation=False if no_comp else None,
                   program_seed=program_seed)


def load_selection(dataset: str, split: str, arch, start: int, limit: int | None, data_dir: str | None = None):
    """(tokens, labels, global sample ids, slice) of ``dataset``/``split`` from ``start``, ``limit`` samples."""
    from .workloads import load_tokens

    try:
        x, labels = load_tokens(dataset, split, arch, data_dir, None if limit is None else start + limit)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    sel = select(len(x), start, limit)
    return x[sel], labels[sel], np.arange(sel.start, sel.stop, dtype=np.int64), sel


def select(n: int, start: int, limit: int | None) -> slice:
    if start >= n:
        raise UsageError(f"--start {start}: the split has {n} samples (valid 0..{n - 1})")
    stop = n if limit is None else start + limit
    if stop > n:
        raise UsageError(f"--limit {limit}: only {n - start} samples from --start {start} (split has {n})")
    return slice(start, stop)


# ---------------------------------------------------------------------------- commands
