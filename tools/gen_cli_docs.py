#!/usr/bin/env python
"""Regenerate docs/cli.md from the argparse parser (the help blocks must match ``--help`` exactly).

Usage: ``python tools/gen_cli_docs.py [--check]``; ``--check`` exits 1 if docs/cli.md is stale.
tests/unit/test_cli_docs.py runs the same comparison.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = "100"

HEADER = """# Command line reference

`python -m bittrue COMMAND [options]` (or the `bittrue` script). Results and `--json` go to stdout; log lines
and progress bars go to stderr (`--quiet` silences them).

## Exit codes

| code | meaning |
|---|---|
| 0 | success |
| 1 | a check failed: `verify` or `rtl check` found a mismatch (the first one is named) |
| 2 | usage or input error: one line on stderr naming the problem and the fix, never a traceback; also a full disk, an exhausted resource, an OS or HDF5 error, and (one line ending in a pointer to `--debug`) an internal error |
| 130 | interrupted (Ctrl-C or SIGTERM); outputs are left untouched, an `infer --log` run keeps `FILE.partial` for `--resume` |

## The pipeline's stages as files

`compile -o image.h5` writes the hardware image (tiles, conductance targets, calibrated ADC full scales,
requantisation affine, the hardware configuration and the model's sha256); `program image.h5 -o chip.h5` writes
the programmed chip (the integer conductance image at the drift time, requantisation codes, device settings).
`infer`, `golden` and `energy` read either back instead of compiling the float model: `--chip chip.h5` runs the
chip as it is, `--image image.h5` programs the image in memory with the device options (`--device`,
`--drift-time`, `--no-drift-compensation`, `--program-seed`). Both run exactly as the chip built in memory
from the same options (same logits, golden datasets and activity counts). The configuration travels with the
file: `--hardware` may only restate it (its `[run] root_seed` applies), `--timesteps` must be the T it was
calibrated for, `--model` must be the file it was compiled from, and with `--chip` the device options may only
repeat the chip's own; anything else is refused with one line and exit 2. The root seed is `--seed`, else the
file's. A chip or image file is checked like any other input file (below) before anything is read.

## Warnings

`infer`, `compile`, `golden` and `energy` print `bittrue: warning: ...` on stderr, and carry on, when the
hardware configuration's SSA saturations (`[ssa] k_s`, `k_o`), LIF leak shift or reset mode differ from the
values recorded in the model's training metadata. A model run with other values than it was trained for usually
loses most of its accuracy (a digits model trained for K_O = 16 scores 0.16 at K_O = 32).

## Hostile files, outputs and odd environments (guarantees)

**Files are read without leaving them.** Every HDF5 file a command reads (float model, hardware image, chip,
golden file, activation log, and a partial log on `--resume`) is checked whole before any dataset is read
(`bittrue/h5safe.py`), and refused with one line naming the file and the object when:

- it is not a regular file (a device such as `/dev/zero`, a FIFO, a directory);
- an object is reached through anything but a hard link: soft links (which can loop or lead to external links),
  external links and user-defined links are refused, so are datasets with external raw storage
  (`H5Pset_external`) and virtual datasets: no byte of another file is ever opened;
- a dataset holds anything but bool, integer or float values of at most 8 bytes (complex, text, compound,
  reference and variable-length data are refused), has more than 8 dimensions, uses a filter other than
  deflate, shuffle, fletcher32 or lzf, declares chunks over 64 MiB, or declares more data than it stores
  (unwritten chunks or a short contiguous block: a small file cannot declare terabytes);
- an attribute is larger than 1 MiB or of another type, or an attribute bittrue interprets is out of range
  (`root_seed` and `program_seed` 0..2^64-1, `timesteps` 1..65536, `bn_eps` in (0, 1], `packed_length`
  1..2^31 and within the dataset's bytes, `s_shift` 0..62, `t_inference_s` finite and >= 0, ...).

Then every dataset's declared shape and dtype is compared with what the architecture needs before it is read,
and golden-file signals are shape-checked against the replay before each batch of rows is read. An
architecture may describe at most 2^26 parameters and 2^24 inputs per sample. TOML files (`--hardware`,
`--table`) must be regular files of at most 1 MiB. Refusing a file takes well under 1 GiB of memory (the
tests run the refusals under a 1 GiB address-space limit).

**One error boundary.** Every command ends in exit 0, 1, 2 or 130. Foreseeable failures (the error classes
below, recursion in a deeply nested input, numeric overflow, memory exhaustion, HDF5 and operating-system
errors, a full disk, results that stdout cannot take) are one line `bittrue COMMAND: error: ...` and exit 2.
Newlines, tabs and other control characters in names and values are written as escapes (`\\n`, `\\x1b`), so
the line stays one line. numpy floating-point warnings never reach stderr; other Python warnings become one
`bittrue: warning: ...` line each. Anything else is an internal error: one line ending in "rerun with
--debug", and exit 2; `bittrue --debug COMMAND ...` (or `--debug` after the command) shows the traceback.

**Outputs.** A target (`compile -o`, `program -o`, `golden -o`, `infer --log`) must be a regular file or
absent: a directory, device, FIFO or socket is refused, with `--force` too (a symbolic link is replaced, never
followed). `-o FILE` writes `DIR/.FILE.<random>.part` and renames it onto `FILE` on success; `infer --log
FILE` writes `FILE.partial`. The process removes its `.part` file on every failure and interruption it sees
(errors, Ctrl-C, SIGTERM, SIGHUP) and keeps `FILE.partial` for `--resume` (a partial killed before its first
complete batch is started over by `--resume`). A SIGKILL (or a power loss) leaves the
`.part` file: the next run on that target reports it as a warning, `--force` removes it, and so does
`rm -f DIR/.FILE.*.part`. While a process writes, it holds a lock on its `.part` or `.partial` file (Linux
open-file-description lock): a second run on the same target is refused with one line instead of both
writing, and a run whose target was written by another process meanwhile refuses to replace it (`--force`
included), so a finished file is never lost silently. Streamed outputs (`golden -o`, `infer --log`) check
the free space before writing the chip and before each batch (twice the largest batch so far, plus 256
KiB): a full disk stops the run between batches with exit 2 and one line, leaves no target, and for
`infer --log` leaves a `FILE.partial` that `--resume` completes, after space is freed, to the same datasets
as an uninterrupted run. Images and chips are built in memory and written in one piece.

**Bounds.** ADC calibration (`compile` and the commands that build a chip) is refused with its reason when
it would keep more than 1 GiB of column currents (e.g. `[tile] rows = 1`, which used to take 12 GB); every
shipped architecture needs well under that with the default tiles. The process peak is about twice the kept
currents plus the model (measured: 1.7 GB at `[tile] rows = 4`, which keeps 0.92 GiB, on digits). `[lfsr] taps` must be maximal-length (the feedback polynomial
`1 + sum x^t` primitive over GF(2), checked by its multiplicative order): a non-maximal tap set such as
`taps = [16]` repeats its states early and biases every draw; `BITTRUE_ALLOW_NONMAXIMAL_TAPS=1` accepts it
anyway.

**Environment.** Numba needs a writable cache directory when the kernels are imported. bittrue keeps Numba's
choice when it works (`NUMBA_CACHE_DIR`, else `__pycache__` beside the kernels, else `~/.cache/numba`);
with a read-only install and an unwritable HOME (or an unwritable `NUMBA_CACHE_DIR`) it uses
`$TMPDIR/bittrue-numba-cache-<uid>` (a directory of this user, mode 0700) and prints one `bittrue: note:`
line. `--version` and `--help` work in that environment too. Numba's cache does not notice when a kernel that
another kernel calls has changed (the caller keeps the old code inlined), so on import bittrue hashes the kernel
sources and, when the hash differs from the one recorded beside the cache (`bittrue-kernels.sha256`), deletes the
kernels' cache files: after an update of an editable install the kernels compile once more instead of running
stale code.

## Error classes (all exit 2, one line `bittrue COMMAND: error: ...`)

| class | raised for |
|---|---|
| usage (argparse) | unknown command or option, bad option value (`--device quantum`, `--drift-time soon`, `--timesteps 0`) |
| `UsageError` | unknown dataset, `--start`/`--limit` outside the split, `--dataset cifar10` without `--model` or with a missing or malformed `--data-dir`, `--resume` without a partial log, `--log` with `--device float` |
| `ConfigError` | hardware configuration: file missing, not a regular file or over 1 MiB, not TOML, non-maximal LFSR taps, a calibration over its memory limit, unknown section or field, wrong type, value out of range (the message names field, value and allowed range) |
| `ModelError` | float model, hardware image or chip file: missing, not a regular file, not HDF5, truncated, a link, external storage, a dtype or attribute refused by the guarantees above, another format, a newer major version, shapes that disagree with the architecture, NaN/Inf values, integer codes outside the ranges the kernels are exact in (ADC full scale 1..2^31, noise sigma below the generator's limit, conductance codes 0..32767, requant multiplier below 2^31 and offset below 2^62, shift 0..62) |
| `GoldenError` (a `ModelError`) | golden file or activation log: another schema, a newer major `schema_version`, missing groups, a partial log that cannot be resumed |
| `RtlError` (a `ModelError`) | `rtl check`: iverilog or cocotb missing (the message gives the install line), a file of schema < 1.2 or with no replayable block, RTL that does not build |
| `OutputError` | output exists (pass `--force`), is not a regular file, directory missing or not writable, a partial output exists (pass `--resume` or `--force`), another process writes the same target |

Outputs (`compile -o`, `program -o`, `golden -o`, `infer --log`) are written to a temporary file beside the
target and renamed on success (see the guarantees above); an existing target is never overwritten without
`--force`. `infer --log` writes
`FILE.h5.partial` until it completes; after an interruption, `--resume` continues from the last complete batch
and gives the same datasets as an uninterrupted run. It continues only a partial log that this run would have
written: besides the root attributes (schema, chip digests, seeds, T, signals), every unit group and dataset
must be one the run writes, with its name, dtype, shape, storage filters and attributes, and nothing else may be
there; anything else is a damaged partial log (one line, exit 2: start over with `--force`).

Times (`--drift-time`) are seconds or a number with a unit: `s`, `m`/`min`, `h`, `d`, `w`, `y` (365.25 days).
Seeds are unsigned 64-bit integers (decimal or `0x...`).

## Commands
"""


def help_texts() -> list[tuple[str, str]]:
    os.environ["COLUMNS"] = COLUMNS
    from bittrue.cli import build_parser

    parser = build_parser()
    out = [("bittrue", parser.format_help())]
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    seen = set()
    for name, p in sub.choices.items():
        if id(p) in seen:
            continue
        seen.add(id(p))
        out.append((f"bittrue {name}", p.format_help()))
    return out


def render() -> str:
    parts = [HEADER]
    for title, text in help_texts():
        parts.append(f"\n### `{title}`\n\n```\n{text.rstrip()}\n```\n")
    return "".join(parts)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = ROOT / "docs" / "cli.md"
    text = render()
    if "--check" in argv:
        if not path.exists() or path.read_text() != text:
            print("docs/cli.md is stale: run python tools/gen_cli_docs.py", file=sys.stderr)
            return 1
        return 0
    path.write_text(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
