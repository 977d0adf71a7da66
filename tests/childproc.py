"""Child processes for the tests that interrupt a CLI run with a signal.

A process started in the background by a non-interactive shell inherits SIGINT ignored, and one started under
``nohup`` inherits SIGHUP ignored; a bittrue child then rightly keeps ignoring them (as ``nohup`` asks), and a
test that sends the signal would see the run finish.  ``preexec_fn=default_signals`` gives the child the
default dispositions, so the tests measure bittrue's handling, not how the test runner was started.
"""
from __future__ import annotations

import signal


def default_signals() -> None:
    for name in ("SIGINT", "SIGHUP", "SIGTERM"):
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, signal.SIG_DFL)
