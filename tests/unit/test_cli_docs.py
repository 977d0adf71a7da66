"""``python -m bittrue --help`` and every subcommand's ``--help`` appear verbatim in docs/cli.md."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "cli.md"

pytestmark = pytest.mark.skipif(not DOC.exists(), reason="source tree not available (installed-wheel run)")


def _commands():
    os.environ["COLUMNS"] = "100"
    from bittrue.cli import build_parser

    p = build_parser()
    sub = next(a for a in p._actions if a.__class__.__name__ == "_SubParsersAction")
    names, seen = [], set()
    for name, sp in sub.choices.items():
        if id(sp) not in seen:
            seen.add(id(sp))
            names.append(name)
    return names


@pytest.mark.parametrize("cmd", [None] + _commands())
def test_help_matches_docs(cmd):
    argv = [sys.executable, "-m", "bittrue"] + ([cmd] if cmd else []) + ["--help"]
    env = dict(os.environ, COLUMNS="100")
    p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0
    doc = DOC.read_text()
    assert p.stdout.rstrip() in doc, f"docs/cli.md is stale for {cmd or 'bittrue'}: run python tools/gen_cli_docs.py"
