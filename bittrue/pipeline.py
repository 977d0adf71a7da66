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


def compile_image(model, cfg: HardwareConfig, model_path: str | None = None, quiet: bool = False,
                  data_dir: str | None = None):
    """compile, with the ADC calibration on training samples (cifar10: of ``data_dir``) and a progress bar."""
    from .compile import compile_model, file_sha256
    from .model import default_model_path
    from .workloads import calibration_tokens

    calib = calibration_tokens(model.arch, cfg.tile.calibration_samples, data_dir)
    default = {"mimo-icl": "mimo-icl"}.get(model.arch.name, "digits")
    sha = file_sha256(model_path or default_model_path(default))
    with bar(len(calib) if calib is not None else 0, "calibrate", quiet) as b:
        return compile_model(model, cfg, calib, model_sha256=sha, progress=lambda n: b.update(n - b.n))


def build_chip(model, cfg: HardwareConfig, device: str, drift_time: float | None, no_comp: bool,
               program_seed: int, model_path: str | None = None, quiet: bool = False, data_dir: str | None = None):
    """compile (with calibration on training samples; cifar10: of ``data_dir``) + program."""
    from .program import program

    image = compile_image(model, cfg, model_path, quiet, data_dir)
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


# ---------------------------------------------------------------------------- stored images and chips
def device_settings(args) -> None:
    """Resolve ``--device`` (default pcm) and ``--program-seed`` (default 0) in place (see ``options``)."""
    if getattr(args, "device", None) is None:
        args.device = "pcm"
    if getattr(args, "program_seed", None) is None:
        args.program_seed = 0


def read_chip_file(path: str):
    """The :class:`bittrue.program.Chip` of a file written by ``program -o`` (checked whole first: h5safe)."""
    from .h5safe import open_h5
    from .hwfile import read_chip
    from .model import ModelError

    with open_h5(path, "chip file", ModelError) as f:
        return _read_stored(f, path, read_chip, "chip", "--chip", ("hardware-image", "--image"))


def read_image_file(path: str, opt: str = "--image", chip_hint: str = "--chip"):
    """The :class:`bittrue.compile.HardwareImage` of a file written by ``compile -o`` (checked whole first).

    ``opt`` names the file in messages; ``chip_hint`` says where a chip file given here belongs.
    """
    from .h5safe import open_h5
    from .hwfile import read_image
    from .model import ModelError

    with open_h5(path, "hardware image file", ModelError) as f:
        return _read_stored(f, path, read_image, "hardware-image", opt, ("chip", chip_hint))


def _read_stored(f, path: str, reader, kind: str, opt: str, other: tuple[str, str]):
    """``reader(f)`` with the file named in its error, and a hint when the file is of the other kind."""
    from .model import ModelError

    have = f.attrs.get("kind")
    have = have.decode() if isinstance(have, bytes) else have
    if have == other[0]:
        raise UsageError(f"{opt} {path}: this file holds a {have.replace('-', ' ')}: pass it with {other[1]}")
    if have != kind:
        raise ModelError(f"{opt} {path}: not a {kind.replace('-', ' ')} file (kind {have!r}); write one with "
                         f"{'program -o' if kind == 'chip' else 'compile -o'}")
    try:
        return reader(f)
    except ModelError as exc:
        raise ModelError(f"{opt} {path}: {exc}") from None


def config_difference(a: HardwareConfig, b: HardwareConfig, skip: tuple[str, ...] = ()) -> str | None:
    """The first ``section.field`` (in declaration order) where ``a`` and ``b`` differ, or None."""
    da, db = a.to_dict(), b.to_dict()
    for sec, fields in da.items():
        for k, v in fields.items():
            if f"{sec}.{k}" not in skip and db[sec][k] != v:
                return f"{sec}.{k}"
    return None


def stored_chip(args):
    """``--chip FILE`` or ``--image FILE``: (the chip to run, its configuration), or None when neither is given.

    The configuration travels with the file; the run options may restate it but not change what was compiled:
    ``--hardware`` must agree with it field by field (its ``run.root_seed`` applies), ``--timesteps`` must be the
    T it was calibrated for, ``--model`` must be the file it was compiled from (sha256).  ``--seed`` sets the
    root seed (default: the file's).  With ``--chip`` the device options may only repeat the chip's own values;
    with ``--image`` they program it as ``program`` does.  Anything else: :class:`UsageError` (exit 2).
    """
    import dataclasses

    chip_path, image_path = getattr(args, "chip", None), getattr(args, "image", None)
    if chip_path is None and image_path is None:
        device_settings(args)
        return None
    opt = "--chip" if chip_path else "--image"
    if getattr(args, "device", None) == "float":
        raise UsageError(f"{opt}: --device float runs the float model, not a hardware image")
    if chip_path:
        chip = read_chip_file(chip_path)
        image = chip.image
    else:
        chip, image = None, read_image_file(image_path)
    have = image.config
    arch = image.arch
    t_have = have.run.timesteps or arch.timesteps
    want = load_config(args) if getattr(args, "hardware", None) else None
    t_want = getattr(args, "timesteps", None) or (want.run.timesteps if want is not None else 0)
    if t_want and t_want != t_have:
        what = "--timesteps" if getattr(args, "timesteps", None) else f"--hardware {args.hardware}: run.timesteps ="
        raise UsageError(f"{opt}: {what} {t_want}, but the file was compiled for T = {t_have} "
                         f"(compile again with that T)")
    seed = have.run.root_seed
    if want is not None:
        diff = config_difference(want, have, skip=("run.root_seed", "run.timesteps"))
        if diff is not None:
            raise UsageError(f"{opt}: --hardware {args.hardware} sets {diff} = {_field(want, diff)!r}, the file "
                             f"was compiled with {_field(have, diff)!r}")
        seed = want.run.root_seed
    elif getattr(args, "seed", None) is not None:
        seed = args.seed
    if getattr(args, "model", None) and image.model_sha256:
        from .compile import file_sha256

        if file_sha256(args.model) != image.model_sha256:
            raise UsageError(f"{opt}: the file was compiled from another model than --model {args.model} "
                             f"(sha256 {image.model_sha256[:16]}...)")
    cfg = dataclasses.replace(have, run=dataclasses.replace(have.run, root_seed=int(seed))).validate()
    image = dataclasses.replace(image, config=cfg)
    if chip is not None:
        _check_chip_options(args, chip)
        args.device, args.program_seed = chip.device, chip.program_seed
        args.drift_time = chip.t_inference_s
        return dataclasses.replace(chip, image=image), cfg
    device_settings(args)
    from .program import program

    chip = program(image, args.device, t_inference_s=args.drift_time,
                   drift_compensation=False if args.no_drift_compensation else None, program_seed=args.program_seed)
    return chip, cfg


def model_or_chip(args, dataset: str, model_too: bool = False):
    """(configuration, float model or None, stored chip or None, architecture) of a command's options.

    With ``--chip``/``--image`` (:func:`stored_chip`) the chip comes from the file and the float model is read only
    when ``model_too``; otherwise the configuration and float model are loaded and the chip is None (the caller
    builds it with :func:`build_chip` once the cheap checks have passed).
    """
    stored = stored_chip(args)
    if stored is None:
        cfg = load_config(args)
        model = load_model(args.model, dataset, cfg)
        return cfg, model, None, model.arch
    chip, cfg = stored
    return cfg, (load_model(args.model, dataset, cfg) if model_too else None), chip, chip.arch


def _field(cfg: HardwareConfig, dotted: str):
    sec, name = dotted.split(".")
    return cfg.to_dict()[sec][name]


def _check_chip_options(args, chip) -> None:
    """``--chip``: device options that would program the chip differently (a value equal to the chip's is fine)."""
    given = [("--device", args.device, chip.device),
             ("--drift-time", args.drift_time, chip.t_inference_s),
             ("--program-seed", args.program_seed, chip.program_seed)]
    for opt, v, own in given:
        if v is not None and v != own:
            raise UsageError(f"--chip: {opt} {v} differs from the chip's own {own} (a programmed chip cannot be "
                             f"reprogrammed: use --image with compile's output, or program it again)")
    if args.no_drift_compensation and chip.drift_compensation:
        raise UsageError("--chip: --no-drift-compensation, but the chip was programmed with drift compensation on "
                         "(use --image, or program it again)")

