"""The CLI's error boundary: every failure becomes exactly one line on stderr and an exit code.

Used by :func:`bittrue.cli.main` only.  Foreseeable failures (bad input, an exhausted resource, the
operating system refusing something) are exit 2 with ``bittrue COMMAND: error: ...``; anything else is an
internal error, also exit 2 and one line, with a pointer to ``--debug`` (which re-raises, so Python prints
the traceback).  Messages are made single-line: newlines, tabs and other control characters in file names
or values are written as escapes (``\\n``, ``\\x1b``).  Warnings raised while a command runs never reach
stderr as Python's multi-line warning text: numpy floating-point warnings are dropped (bad values are
refused by the input checks), other warnings become one ``bittrue: warning:`` line each.
"""
from __future__ import annotations

import contextlib
import errno
import linecache
import os
import re
import sys
import warnings

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: object) -> str:
    """``text`` with every control character escaped (``\\n``, ``\\t``, ``\\x1b``, ...)."""
    def esc(m):
        c = m.group(0)
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c, f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}")
    return _CONTROL.sub(esc, str(text))


def _first(exc: BaseException) -> str:
    return one_line(str(exc) or type(exc).__name__)


def describe(exc: BaseException, args) -> str | None:
    """The one-line message of a foreseeable failure, or None for an internal error."""
    if isinstance(exc, RecursionError):
        return "input nested too deeply (recursion limit reached)"
    if isinstance(exc, MemoryError):
        return "out of memory (an input or option asks for more memory than this machine has)"
    if isinstance(exc, OverflowError):
        return f"a number is out of range ({_first(exc)})"
    if isinstance(exc, OSError):
        name = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        if exc.errno == errno.ENOSPC:
            return f"no space left on device{one_line(name)}: nothing was written (free space and run again)"
        return f"{one_line(exc.strerror or _first(exc))}{one_line(name)}"
    if isinstance(exc, RuntimeError) and ("HDF5" in str(exc) or "H5" in str(exc) or "errno" in str(exc)):
        return f"HDF5 error ({one_line(str(exc).splitlines()[0])})"
    if isinstance(exc, (KeyError, IndexError)) and getattr(args, "command", None) == "energy" and \
            getattr(args, "golden", None):
        return f"golden file {one_line(args.golden)}: corrupt or incomplete ({type(exc).__name__}: {_first(exc)})"
    return None


def is_disk_full(exc: BaseException) -> bool:
    """An error whose cause is a full device (HDF5 reports it as RuntimeError text with errno = 28)."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        if "No space left on device" in str(exc) or "errno = 28" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def report(exc: BaseException, args, prog: str) -> int:
    """Print the one line for ``exc``; return the exit code (2)."""
    if isinstance(exc, OSError) and not isinstance(exc, StdoutError) and exc.filename is None:
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        line = linecache.getline(tb.tb_frame.f_code.co_filename, tb.tb_lineno) if tb is not None else ""
        if "print(" in line and "stderr" not in line:  # a result line that stdout refused
            silence_stdout()
            exc = StdoutError(exc.errno, f"cannot write the results to stdout ({exc.strerror or exc})")
    if isinstance(exc, StdoutError):
        msg = str(exc.strerror)
    elif is_disk_full(exc):
        msg = "no space left on device: the output was not written (free space and run again"
        msg += "; --resume continues the partial log)" if getattr(args, "log", None) else ")"
    else:
        msg = describe(exc, args)
    if msg is None:
        msg = (f"internal error {type(exc).__name__}: {_first(exc)} (a bug: rerun with --debug for the "
               f"traceback and report it)")
    print(f"{prog}: error: {one_line(msg)}", file=sys.stderr)
    return 2


class StdoutError(OSError):
    """stdout cannot be written (a full device, a closed descriptor)."""


#: The signal number of a SIGTERM / SIGHUP / SIGINT this process received and has not yet acted on.  The signal
#: handler raises KeyboardInterrupt, but Python discards an exception raised while it runs a finaliser or a
#: weakref callback (h5py objects close that way); the flag survives that, and ``check_interrupt`` re-raises.
_PENDING: list[int] = []


def note_interrupt(signum: int) -> None:
    _PENDING.append(int(signum))


def clear_interrupt() -> None:
    _PENDING.clear()


def check_interrupt() -> None:
    """Raise KeyboardInterrupt if a signal arrived (even one whose KeyboardInterrupt was swallowed)."""
    if _PENDING:
        raise KeyboardInterrupt


def flush_stdout() -> None:
    """Flush stdout inside the boundary (a full device or a closed pipe raises here, not at exit)."""
    try:
        sys.stdout.flush()
    except OSError as exc:
        silence_stdout()
        raise StdoutError(exc.errno, f"cannot write the results to stdout ({exc.strerror or exc})") from None


def silence_stdout() -> None:
    """Point stdout at /dev/null so Python's final flush cannot fail again at exit."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError):
        pass


@contextlib.contextmanager
def one_line_warnings(debug: bool = False):
    """Collect warnings while a command runs; print non-numpy ones as one line each (all in --debug)."""
    if debug:
        yield
        return
    unraisable = []
    previous_hook = sys.unraisablehook
    sys.unraisablehook = unraisable.append  # h5py's failed deallocations: never a page of tracebacks
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
            if unraisable:
                u = unraisable[0]
                print(f"bittrue: warning: {len(unraisable)} error(s) while releasing resources (first: "
                      f"{one_line(u.exc_type.__name__)}: {one_line(str(u.exc_value).splitlines()[0] if str(u.exc_value) else '')})",
                      file=sys.stderr)
        finally:
            sys.unraisablehook = previous_hook
            seen = set()
            for w in caught:
                mod = getattr(w, "filename", "") or ""
                if issubclass(w.category, RuntimeWarning) and "numpy" in mod.replace("\\", "/"):
                    continue  # floating-point warnings: inputs are range-checked; never a stray line
                if issubclass(w.category, RuntimeWarning) and str(w.message).startswith(
                        ("overflow", "invalid value", "divide by zero", "underflow")):
                    continue
                line = one_line(f"{w.category.__name__}: {w.message}")
                if line not in seen:
                    seen.add(line)
                    print(f"bittrue: warning: {line}", file=sys.stderr)
