"""Command line: ``python -m bittrue <command>``.

Results (and ``--json``) go to stdout; logs and progress bars to stderr.
Exit codes: 0 ok, 1 mismatch / failed check, 2 usage or input error.

A thin layer over the core (it parses, calls the core, prints); the core never imports it.  By job:
``parser`` (every command's options), ``main`` (dispatch and the one error boundary), ``common`` (parts the
commands share), one module per command: ``infer``, ``stages`` (compile, program), ``export`` (golden,
verify), ``rtl``, ``info``; ``energy``, ``sweep`` and ``plot`` keep their commands beside their code.
"""
from __future__ import annotations

from ..options import UsageError, parse_time  # noqa: F401  (public, as before)
from ..options import seed_int as _seed  # noqa: F401
from ..pipeline import build_chip, load_config, load_model, load_selection  # noqa: F401
from .common import INPUT_ERRORS  # noqa: F401
from .main import COMMANDS, main  # noqa: F401
from .parser import build_parser  # noqa: F401
