"""Outputs: written beside the target and renamed on success; never overwrite without force.

Guarantees (docs/cli.md, "Outputs"):

* A target must be a regular file or absent: directories, devices, FIFOs and sockets are refused, with or
  without ``--force`` (a symbolic link is replaced, never followed).
* ``-o FILE`` writes ``DIR/.FILE.<random>.part`` and renames it onto ``FILE`` on success; the temporary
  file is removed on every error and interruption the process sees.  ``infer --log FILE`` writes
  ``FILE.partial``, kept on failure for ``--resume``.
* While it writes, a process holds an open-file-description lock on its temporary or partial file
  (Linux ``F_OFD_SETLK``; HDF5's own ``flock`` is separate).  A second writer of the same target is refused
  with one line; a ``.part`` file nobody holds is left by a killed process (SIGKILL, power loss): it is
  reported as a warning, and removed by ``--force`` (or ``rm -f DIR/.FILE.*.part``).
* If the target changes while a run writes (another process finished first), the run refuses to replace
  it, ``--force`` included: the other run's finished file is never lost silently.
* :class:`SpaceGuard` checks the free space before each batch of a streamed output, so a full disk stops a
  run between batches with one line (exit 2) and a partial log that ``--resume`` continues.
"""
from __future__ import annotations

import contextlib
import errno
import os
import stat
import struct
import sys
import tempfile
from pathlib import Path
from typing import Iterator


class OutputError(ValueError):
    """An output path that cannot be written (exists without --force, missing directory, ...)."""


def _identity(path: Path):
    """(device, inode, size, mtime) of ``path``, or None when absent: tells whether another process wrote it."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


_WARNED: set[str] = set()


def _warn(msg: str) -> None:
    from .boundary import one_line

    if msg in _WARNED:
        return
    _WARNED.add(msg)
    print(f"bittrue: warning: {one_line(msg)}", file=sys.stderr)


# ---------------------------------------------------------------------------- locks
_OFD = hasattr(__import__("fcntl"), "F_OFD_SETLK") if os.name == "posix" else False


def _flock_struct(kind: int) -> bytes:
    # struct flock {short l_type; short l_whence; off_t l_start; off_t l_len; pid_t l_pid;} (Linux, 64-bit off_t)
    return struct.pack("hhqqi4x", kind, 0, 0, 0, 0)


def try_lock(fd: int) -> bool:
    """Take an exclusive open-file-description lock on ``fd`` without waiting; False if another holds one."""
    if not _OFD:
        return True
    import fcntl

    try:
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _flock_struct(fcntl.F_WRLCK))
        return True
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise


def in_use(path: Path) -> bool:
    """True if some process holds the writer's lock on ``path`` (False if absent or unlocked)."""
    if not _OFD:
        return False
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        got = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, _flock_struct(fcntl.F_WRLCK))
        return struct.unpack("hhqqi4x", got)[0] != fcntl.F_UNLCK
    finally:
        os.close(fd)


def temp_files(path: Path) -> list[Path]:
    """Temporary files of ``-o path`` runs: ``DIR/.NAME.*.part``."""
    parent = path.parent if str(path.parent) else Path(".")
    try:
        return sorted(parent.glob(f".{_glob_escape(path.name)}.*.part"))
    except OSError:
        return []


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


# ---------------------------------------------------------------------------- checks
def check_output(path: str | Path, force: bool) -> Path:
    """Refuse a target that exists (without ``force``), is not a regular file, or cannot be written.

    Reports (and with ``force`` removes) temporary files left by killed runs; refuses when another
    process is writing the same target.
    """
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputError(f"output {path}: cannot be checked ({exc.strerror or exc})") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file (a device, FIFO or socket)"
        raise OutputError(f"output {path} is {kind}: refused, --force included")
    if st is not None and not force:
        raise OutputError(f"output {path} exists: pass --force to overwrite it")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"output {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"output {path}: directory {parent} is not writable")
    if in_use(partial_path(path)):
        raise OutputError(f"output {path} is being written by another process (its partial file "
                          f"{partial_path(path)} is locked): wait for it, or choose another output")
    for tmp in temp_files(path):
        if in_use(tmp):
            raise OutputError(f"output {path} is being written by another process (its temporary file {tmp} is "
                              f"locked): wait for it, or choose another output")
        if force:
            with contextlib.suppress(OSError):
                tmp.unlink()
            _warn(f"removed {tmp}, a temporary file left by a killed run")
        else:
            _warn(f"{tmp} is a temporary file left by a killed run: --force removes it (or rm -f -- "
                  f"'{parent}'/.{path.name}.*.part)")
    return path


@contextlib.contextmanager
def atomic_output(path: str | Path, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, else delete it."""
    path = check_output(path, force)
    before = _identity(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or ".")
    tmp_path = Path(tmp)
    try:
        try_lock(fd)  # a fresh unique file: nobody else can hold it
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual permissions
        others = [t for t in temp_files(path) if t.name != tmp_path.name and in_use(t)]
        if others:
            raise OutputError(f"output {path} is being written by another process (its temporary file "
                              f"{others[0]} is locked): wait for it, or choose another output")
        yield tmp_path
        _replace(tmp_path, path, before, force)
    finally:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def _replace(src: Path, path: Path, before, force: bool) -> None:
    from .boundary import check_interrupt

    check_interrupt()  # an interrupted run never renames its output into place
    now = _identity(path)
    if now != before:
        raise OutputError(f"output {path} was written by another process while this run was writing: not "
                          f"replaced (run again to overwrite it with --force)")
    if now is not None and not force:
        raise OutputError(f"output {path} appeared while writing: pass --force to overwrite it")
    if now is not None and not stat.S_ISREG(os.stat(path).st_mode):
        raise OutputError(f"output {path} is not a regular file: refused")
    os.replace(src, path)


def partial_path(path: str | Path) -> Path:
    """Where a resumable output is written until it completes: ``<target>.partial``."""
    path = Path(path)
    return path.with_name(path.name + ".partial")


@contextlib.contextmanager
def resumable_output(path: str | Path, force: bool = False, resume: bool = False) -> Iterator[Path]:
    """Yield ``<path>.partial``; rename it onto ``path`` on success, keep it on failure (for --resume).

    Without ``resume`` an existing partial file is an error unless ``force`` (which starts over); with
    ``resume`` the partial file must exist.  The target itself only appears, whole, at the rename.  The
    partial file is locked while this process writes it: a second run on the same target is refused.
    """
    path = check_output(path, force)
    part = partial_path(path)
    before = _identity(path)
    try:
        pst = os.lstat(part)
    except FileNotFoundError:
        pst = None
    if pst is not None and not stat.S_ISREG(pst.st_mode):
        raise OutputError(f"partial output {part} is not a regular file: refused")
    if resume and pst is None:
        raise OutputError(f"--resume: no partial output {part} to continue (run without --resume)")
    if pst is not None and in_use(part):
        raise OutputError(f"output {path} is being written by another process (its partial file {part} is "
                          f"locked): wait for it, or choose another output")
    if pst is not None and not resume and not force:
        raise OutputError(f"a partial output {part} exists from an interrupted run: pass --resume to "
                          f"continue it or --force to start over")
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(part, flags, 0o666)
    created = pst is None
    try:
        if not try_lock(fd):
            raise OutputError(f"output {path} is being written by another process (its partial file {part} is "
                              f"locked): wait for it, or choose another output")
        if not resume:
            os.ftruncate(fd, 0)  # --force starts over in the same (locked) file
        yield part
        _replace(part, path, before, force)
    except OutputError:
        if created and not resume:
            with contextlib.suppress(OSError):
                if os.path.getsize(part) == 0:
                    part.unlink()
        raise
    finally:
        os.close(fd)


def write_h5_file(tmp: str | Path, fill) -> None:
    """Build an HDF5 file in memory with ``fill(h5py.File)``, then write its bytes to ``tmp``.

    For outputs that fit in memory (hardware images, chips): a full disk then fails in a plain
    ``write`` (one clean ``OSError``), never inside HDF5, which cannot recover from a failed write.
    """
    import io

    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w", track_order=True) as f:
        fill(f)
    with open(tmp, "wb") as fh:
        fh.write(buf.getbuffer())
        fh.flush()
        os.fsync(fh.fileno())


class SpaceGuard:
    """Stops a streamed output between batches when the next batch might not fit on the device.

    Before each batch: free space must exceed twice the largest growth of the file over one batch so far,
    plus ``margin`` bytes (HDF5 metadata written at close).  A full disk then ends the run with a
    :class:`OutputError`-like one-line ``OSError(ENOSPC)`` while the file is still consistent (every
    complete batch flushed), instead of HDF5 failing mid-write.
    """

    def __init__(self, path: str | Path, margin: int = 256 << 10):
        self.path = Path(path)
        self.margin = int(margin)
        self.last = None
        self.growth = 0

    def _used(self) -> int:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return 0
        return max(st.st_size, getattr(st, "st_blocks", 0) * 512)

    def check(self, first: int = 0) -> None:
        """Raise ``OSError(ENOSPC)`` unless the next batch fits (``first``: bytes about to be written now)."""
        used = self._used()
        if self.last is not None:
            self.growth = max(self.growth, used - self.last)
        self.last = used
        need = 2 * self.growth + self.margin + int(first)
        try:
            vfs = os.statvfs(self.path.parent if str(self.path.parent) else ".")
        except OSError:
            return
        free = vfs.f_bavail * vfs.f_frsize
        self.free = free
        if free < need:
            raise OSError(errno.ENOSPC, f"no space left on device for {self.path}: the next batch needs about "
                                        f"{need >> 10} KiB, {free >> 10} KiB free")
