"""Where Numba caches the compiled kernels, chosen before Numba is imported.

Numba's ``cache=True`` needs a writable directory when a kernel is *decorated* (at import), else the
import fails with "cannot cache function ...: no locator available".  A read-only install (a wheel in a
system site-packages, a container image) with an unwritable HOME has none, so every command failed,
``--version`` included.  :func:`ensure_cache_dir` keeps Numba's own choice when it works
(``NUMBA_CACHE_DIR``, else ``__pycache__`` beside the kernels, else ``~/.cache/numba`` or
``$XDG_CACHE_HOME/numba``) and otherwise points ``NUMBA_CACHE_DIR`` at
``<tmp>/bittrue-numba-cache-<uid>`` (a directory of this user, mode 0700); the CLI prints the returned note
as one line on stderr.  Set ``NUMBA_CACHE_DIR`` yourself to choose another place.
"""
from __future__ import annotations

import importlib.util
import os
import stat
import tempfile
from pathlib import Path


def _writable(d: Path) -> bool:
    """True if ``d`` exists or can be created, and a file can be made in it (what Numba checks)."""
    try:
        d.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=d).close()
        return True
    except (OSError, ValueError):
        return False


def _kernels_dir() -> Path | None:
    try:
        spec = importlib.util.find_spec("bittrue.kernels")
    except (ImportError, ValueError):
        return None
    return Path(spec.origin).parent if spec and spec.origin else None


def _user_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "numba"


def fallback_dir() -> Path:
    """``<tmp>/bittrue-numba-cache-<uid>``: private to this user (refused if someone else owns it)."""
    d = Path(tempfile.gettempdir()) / f"bittrue-numba-cache-{os.getuid() if hasattr(os, 'getuid') else 0}"
    try:
        d.mkdir(mode=0o700)
    except FileExistsError:
        pass
    st = os.lstat(d)
    if not stat.S_ISDIR(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
        raise OSError(f"{d} is not a directory of this user")
    return d


def ensure_cache_dir() -> str | None:
    """Make sure Numba finds a writable cache directory; return a one-line note when it was changed."""
    given = os.environ.get("NUMBA_CACHE_DIR")
    if given:
        if _writable(Path(given)):
            return None
        why = f"NUMBA_CACHE_DIR={given} is not writable"
    else:
        kd = _kernels_dir()
        if kd is not None and _writable(kd / "__pycache__"):
            return None
        if _writable(_user_cache()):
            return None
        why = "the install and the home cache directory are not writable"
    try:
        d = fallback_dir()
        if not _writable(d):
            raise OSError(f"{d} is not writable")
    except (OSError, FileNotFoundError) as exc:
        return f"{why}, nor a temporary directory ({exc}): set NUMBA_CACHE_DIR to a writable directory"
    os.environ["NUMBA_CACHE_DIR"] = str(d)
    return f"{why}: compiled kernels are cached in {d} (set NUMBA_CACHE_DIR to choose)"
