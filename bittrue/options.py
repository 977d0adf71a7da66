"""Option types and the error class of bad option values, shared by the CLI and the command modules.

Nothing here imports the CLI: ``bittrue.cli`` (and the commands in ``energy``, ``sweep``, ``plot``, ``dist``) sit
on top of it.
"""
from __future__ import annotations

import argparse
import math
import re


class UsageError(ValueError):
    """A bad option value, reported as one line and exit code 2."""


UNITS = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 365.25 * 86400.0}


def parse_time(text: str) -> float:
    """'86400', '1s', '1h', '1d', '1y', '2.5d' -> seconds (>= 0)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-z]*)\s*", str(text))
    if not m or (m.group(2) and m.group(2) not in UNITS):
        raise argparse.ArgumentTypeError(f"invalid time {text!r}: use seconds or a number with s, m, h, d, w or y")
    val = float(m.group(1)) * UNITS.get(m.group(2) or "s", 1.0)
    if not math.isfinite(val):
        raise argparse.ArgumentTypeError(f"invalid time {text!r}")
    return val


def nonneg_int(text: str) -> int:
    try:
        v = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return v


def seed_int(text: str) -> int:
    """A seed: an unsigned 64-bit integer, decimal (leading zeros allowed) or 0x... hex."""
    t = str(text).strip()
    try:
        v = int(t, 10) if t.isdigit() else int(t, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid seed {text!r}: use a decimal or 0x hex integer") from None
    if not 0 <= v < 1 << 64:
        raise argparse.ArgumentTypeError(f"seed {text!r} outside 0..2^64-1")
    return v


def pos_int(text: str) -> int:
    v = nonneg_int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return v


def model_options(p: argparse.ArgumentParser, by_dataset: bool = True) -> None:
    """``--model``, ``--hardware``, ``--timesteps``: what ``compile`` reads (and the commands that compile)."""
    p.add_argument("--model", default=None,
                   help="float model .h5 (default: the shipped model of --dataset: digits, or mimo-icl for mimo)"
                   if by_dataset else "float model .h5 (default: the shipped digits model)")
    p.add_argument("--hardware", default=None, metavar="FILE.toml",
                   help="hardware configuration overriding any XPK-1 default (TOML)")
    p.add_argument("--timesteps", type=pos_int, default=None, help="time steps T (default: the model's)")


def device_options(p: argparse.ArgumentParser, with_float: bool) -> None:
    """``--device``, ``--drift-time``, ``--no-drift-compensation``, ``--program-seed``: what ``program`` reads.

    ``--device`` and ``--program-seed`` default to None (pcm and 0 once resolved by
    :func:`bittrue.pipeline.device_settings`), so that a value given with ``--chip`` can be told from the default.
    """
    choices = ("ideal", "pcm", "float") if with_float else ("ideal", "pcm")
    p.add_argument("--device", choices=choices, default=None,
                   help="device model: pcm (default), ideal devices" + (", or the float SNN" if with_float else ""))
    p.add_argument("--drift-time", type=parse_time, default=None, metavar="T",
                   help="inference time after programming: seconds or 1s/1h/1d/1y (default: 1d)")
    p.add_argument("--no-drift-compensation", action="store_true", help="disable global drift compensation")
    p.add_argument("--program-seed", type=seed_int, default=None, help="seed of the device model (default 0)")


def chip_options(p: argparse.ArgumentParser) -> None:
    """``--chip`` / ``--image``: run a stored chip or image instead of compiling the float model."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--chip", default=None, metavar="FILE.h5",
                   help="run this programmed chip (written by 'program -o') instead of compiling and programming "
                        "the float model; device, hardware and time-step options may only repeat its own values")
    g.add_argument("--image", default=None, metavar="FILE.h5",
                   help="program this hardware image (written by 'compile -o') with the device options instead of "
                        "compiling the float model")


def common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=seed_int, default=None,
                   help="root seed (uint64) of every LFSR and the output-noise generator "
                        "(default: run.root_seed of the hardware configuration, 0)")
    p.add_argument("--threads", type=pos_int, default=None, help="Numba threads (default: all cores)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or log lines on stderr")


def fmt_time(t: float | None) -> str:
    if t is None:
        return "-"
    for unit, s in (("y", UNITS["y"]), ("d", 86400.0), ("h", 3600.0), ("s", 1.0)):
        if t >= s and abs(t / s - round(t / s)) < 1e-9:
            return f"{round(t / s)}{unit}"
    return f"{t:g} s"
