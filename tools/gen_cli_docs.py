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
| 2 | usage or input error: one line on stderr naming the problem and the fix, never a traceback |
| 130 | interrupted (Ctrl-C or SIGTERM); outputs are left untouched, an `infer --log` run keeps `FILE.partial` for `--resume` |

## Warnings

`infer`, `compile`, `golden` and `energy` print `bittrue: warning: ...` on stderr, and carry on, when the
hardware configuration's SSA saturations (`[ssa] k_s`, `k_o`), LIF leak shift or reset mode differ from the
values recorded in the model's training metadata. A model run with other values than it was trained for usually
loses most of its accuracy (a digits model trained for K_O = 16 scores 0.16 at K_O = 32).

## Error classes (all exit 2, one line `bittrue COMMAND: error: ...`)

| class | raised for |
|---|---|
| usage (argparse) | unknown command or option, bad option value (`--device quantum`, `--drift-time soon`, `--timesteps 0`) |
| `UsageError` | unknown dataset, `--start`/`--limit` outside the split, `--dataset cifar10` without `--model` or with a missing or malformed `--data-dir`, `--resume` without a partial log, `--log` with `--device float` |
| `ConfigError` | hardware configuration: file missing, not TOML, unknown section or field, wrong type, value out of range (the message names field, value and allowed range) |
| `ModelError` | float model, hardware image or chip file: missing, not HDF5, truncated, another format, a newer major version, shapes that disagree with the architecture, NaN/Inf values, integer codes outside the ranges the kernels are exact in (ADC full scale 1..2^31, noise sigma below the generator's limit, conductance codes 0..32767, requant multiplier below 2^31 and offset below 2^62, shift 0..62) |
| `GoldenError` (a `ModelError`) | golden file or activation log: another schema, a newer major `schema_version`, missing groups, a partial log that cannot be resumed |
| `RtlError` (a `ModelError`) | `rtl check`: iverilog or cocotb missing (the message gives the install line), a file of schema < 1.2 or with no replayable block, RTL that does not build |
| `OutputError` | output exists (pass `--force`), directory missing or not writable, a partial output exists (pass `--resume` or `--force`) |

Outputs (`compile -o`, `program -o`, `golden -o`, `infer --log`) are written to a temporary file beside the
target and renamed on success; an existing target is never overwritten without `--force`. `infer --log` writes
`FILE.h5.partial` until it completes; after an interruption, `--resume` continues from the last complete batch
and gives the same datasets as an uninterrupted run.

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
