"""``main``: parse, dispatch to the command, and the one boundary (exit codes, one-line errors, signals)."""
from __future__ import annotations

import math
import os
import sys

from ..config import ConfigError
from ..energy import cmd_energy
from ..options import UsageError
from ..plot import cmd_plot
from ..progress import setup_logging
from ..sweep import cmd_sweep
from .common import INPUT_ERRORS, set_threads
from .export import cmd_golden, cmd_verify
from .infer import cmd_infer
from .info import cmd_info
from .parser import build_parser
from .rtl import cmd_rtl
from .stages import cmd_compile, cmd_program


def _check_args(args) -> None:
    """Option values that would only fail deep inside a command (overflow, nonsense), refused up front."""
    for opt, what in (("hardware", "hardware configuration"), ("table", "energy table")):
        path = getattr(args, opt, None)
        if path:  # a TOML file is read whole: /dev/zero, a FIFO or a huge file would never end or fill memory
            from ..h5safe import check_regular

            p = check_regular(path, what, ConfigError)
            if p.stat().st_size > 1 << 20:
                raise ConfigError(f"{what} {path}: larger than 1 MiB (refused)")
    vdd = getattr(args, "vdd", None)
    if args.command == "energy" and vdd is not None and not (math.isfinite(vdd) and 0.05 <= vdd <= 10.0):
        raise UsageError(f"--vdd {vdd}: supply voltage must be in 0.05..10 V")
    node = getattr(args, "node_nm", None)
    if args.command == "energy" and node is not None and not (math.isfinite(node) and 1 <= node <= 1000):
        raise UsageError(f"--node-nm {node}: technology node must be in 1..1000 nm")


COMMANDS = {"energy": cmd_energy, "infer": cmd_infer, "compile": cmd_compile, "program": cmd_program, "info": cmd_info,
            "golden": cmd_golden, "export-golden": cmd_golden, "verify": cmd_verify, "sweep": cmd_sweep, "plot": cmd_plot,
            "rtl": cmd_rtl}


def _terminate_as_interrupt():
    """SIGTERM (and SIGHUP, a closed terminal) unwind like Ctrl-C: temporary files removed, partial logs kept.

    Returns the previous handlers by signal (restored when ``main`` returns), or None.
    """
    import signal
    import threading

    from .. import boundary

    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        boundary.note_interrupt(signum)  # survives a KeyboardInterrupt that Python swallows in a finaliser
        raise KeyboardInterrupt

    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is None or (name == "SIGHUP" and signal.getsignal(sig) is not signal.SIG_DFL):
            continue  # SIGHUP ignored (nohup) stays ignored
        try:
            previous[sig] = signal.signal(sig, handler)
        except (ValueError, OSError):  # pragma: no cover - not allowed here
            pass
    return previous or None


def _passive_openmp() -> None:
    """Let idle OpenMP workers sleep instead of spin (unless the user chose ``OMP_WAIT_POLICY``).

    Numba's OpenMP pool is loaded at the first parallel kernel, after this runs.  With spinning workers,
    a machine with anything else running loses whole time slices at every parallel launch (measured on 2
    cores with one other busy process: digits 38 instead of 690 images/s); sleeping workers cost a
    few microseconds per launch on an idle machine.  See docs/performance.md.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv: list[str] | None = None) -> int:
    from .. import NUMBA_CACHE_NOTE, boundary

    _passive_openmp()
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "quiet", False))
    if NUMBA_CACHE_NOTE and not getattr(args, "quiet", False):
        print(f"bittrue: note: {boundary.one_line(NUMBA_CACHE_NOTE)}", file=sys.stderr)
    debug = bool(getattr(args, "debug", False))
    boundary.clear_interrupt()
    previous = _terminate_as_interrupt()
    try:
        set_threads(getattr(args, "threads", None))
        _check_args(args)
        with boundary.one_line_warnings(debug):
            rc = COMMANDS[args.command](args)
        boundary.check_interrupt()
        boundary.flush_stdout()
        return rc
    except INPUT_ERRORS as exc:
        print(f"bittrue {args.command}: error: {boundary.one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = ""
        if getattr(args, "log", None):
            from ..fileio import partial_path

            if partial_path(args.log).exists():
                hint = f"; partial log kept at {partial_path(args.log)}: rerun with --resume to continue"
        print(f"bittrue {args.command}: interrupted{hint}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        boundary.silence_stdout()
        return 1
    except Exception as exc:  # the one boundary: one line, exit 2 (--debug: the traceback)
        if debug:
            raise
        rc = boundary.report(exc, args, f"bittrue {args.command}")
        if boundary.is_disk_full(exc):  # HDF5 cannot be torn down cleanly after a failed write: leave now
            boundary.silence_stdout()
            sys.stderr.flush()
            os._exit(rc)
        return rc
    finally:
        if previous is not None:
            import signal

            for sig, handler in previous.items():
                signal.signal(sig, handler)
