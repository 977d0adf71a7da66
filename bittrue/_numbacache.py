"""Where Numba caches the compiled kernels, chosen before Numba is imported.

Numba's ``cache=True`` needs a writable directory when a kernel is *decorated* (at import), else the
import fails with "cannot cache function ...: no locator available".  A read-only install (a wheel in a
system site-packages, a container image) with an unwritable HOME has none, so every command failed,
``--version`` included.  :func:`ensure_cache_dir` keeps Numba's own choice when it works
(``NUMBA_CACHE_DIR``, else ``__pycache__`` beside the kernels, else ``~/.cache/numba`` or
``$XDG_CACHE_HOME/numba``) and otherwise points ``NUMBA_CACHE_DIR`` at
``<tmp>/bittrue-numba-cache-<uid>`` (a directory of this user, mode 0700); the CLI prints the returned note
as one line on stderr.  Set ``NUMBA_CACHE_DIR`` yourself to choose another place.

Numba's cache does not track callees: a cached kernel keeps the code of a kernel it calls from another file
inlined, and checks only its own file's time stamp.  After an update that changes only the callee's file (a
``git pull`` in an editable install), the caller would silently run the old callee.  :func:`refresh_stale_kernels`
closes that gap: it hashes every kernel source, and when the hash differs from the one recorded beside the cache,
it deletes the kernels' cache files, so Numba compiles them all once more.
"""
from __future__ import annotations

import hashlib
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


def kernels_digest(kernels_dir: Path) -> str:
    """sha256 over the names and bytes of the kernel sources (``*.py`` of ``kernels_dir``, sorted)."""
    h = hashlib.sha256()
    for f in sorted(kernels_dir.glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def kernels_cache_dir(kernels_dir: Path) -> Path | None:
    """The directory where Numba caches the kernels of ``kernels_dir``: the first of its cache locators that
    accepts them, as Numba picks it (``NUMBA_CACHE_DIR``, ``__pycache__`` beside the files, the user-wide cache).
    None when Numba's locator API is not the one known here."""
    try:
        from numba.core import caching

        impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl")
        probe = next(iter(sorted(kernels_dir.glob("*.py"))), None)
        if probe is None:
            return None

        def _probe():  # a stand-in function: the locators read its first line number only
            pass

        for cls in impl._locator_classes:
            loc = cls.from_function(_probe, str(probe))
            if loc is not None:
                return Path(loc.get_cache_path())
    except Exception:  # noqa: BLE001 - a private Numba API: any surprise means "unknown", never a failed import
        return None
    return None


def refresh_stale_kernels(kernels_dir: Path | None = None) -> bool:
    """Drop Numba's cached kernels when any kernel source changed since they were cached (module docstring).

    The digest of the sources is recorded beside the cache (``bittrue-kernels.sha256``); when it differs, every
    cache file of the kernel modules (``<module>.*.nbi``, ``.nbc``) is deleted, so the next call compiles every
    kernel afresh.  Returns True when it deleted.  Best effort and silent: an unknown Numba cache layout or an
    unwritable cache is left as it is.
    """
    kd = kernels_dir if kernels_dir is not None else _kernels_dir()
    if kd is None:
        return False
    try:
        cache = kernels_cache_dir(kd)
        if cache is None:
            return False
        stamp = cache / "bittrue-kernels.sha256"
        digest = kernels_digest(kd)
        if stamp.is_file() and stamp.read_text().strip() == digest:
            return False
        stems = {f.stem for f in kd.glob("*.py")}
        for f in list(cache.iterdir()):
            if f.suffix in (".nbi", ".nbc") and f.name.split(".", 1)[0] in stems:
                f.unlink(missing_ok=True)
        tmp = cache / f"bittrue-kernels.sha256.{os.getpid()}.tmp"
        tmp.write_text(digest + "\n")
        os.replace(tmp, stamp)
        return True
    except OSError:
        return False
