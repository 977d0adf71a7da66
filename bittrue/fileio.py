"""Atomic outputs: write beside the target, rename on success, never overwrite without force."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


class OutputError(ValueError):
    """An output path that cannot be written (exists without --force, missing directory, ...)."""


def check_output(path: str | Path, force: bool) -> Path:
    path = Path(path)
    if path.exists() and not force:
        raise OutputError(f"output {path} exists: pass --force to overwrite it")
    if path.exists() and path.is_dir():
        raise OutputError(f"output {path} is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"output {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"output {path}: directory {parent} is not writable")
    return path


@contextlib.contextmanager
def atomic_output(path: str | Path, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, else delete it."""
    path = check_output(path, force)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or ".")
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield tmp_path
        if path.exists() and not force:
            raise OutputError(f"output {path} appeared while writing: pass --force to overwrite it")
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def partial_path(path: str | Path) -> Path:
    """Where a resumable output is written until it completes: ``<target>.partial``."""
    path = Path(path)
    return path.with_name(path.name + ".partial")


@contextlib.contextmanager
def resumable_output(path: str | Path, force: bool = False, resume: bool = False) -> Iterator[Path]:
    """Yield ``<path>.partial``; rename it onto ``path`` on success, keep it on failure (for --resume).

    Without ``resume`` an existing partial file is an error unless ``force`` (which starts over); with
    ``resume`` the partial file must exist.  The target itself only appears, whole, at the rename.
    """
    path = check_output(path, force)
    part = partial_path(path)
    if resume:
        if not part.exists():
            raise OutputError(f"--resume: no partial output {part} to continue (run without --resume)")
    elif part.exists():
        if not force:
            raise OutputError(f"a partial output {part} exists from an interrupted run: pass --resume to "
                              f"continue it or --force to start over")
        part.unlink()
    yield part
    if path.exists() and not force:
        raise OutputError(f"output {path} appeared while writing: pass --force to overwrite it")
    os.replace(part, path)
