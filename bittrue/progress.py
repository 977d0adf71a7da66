"""Progress bars (tqdm on stderr, per chunk, never from inside njit code)."""
from __future__ import annotations

import contextlib
import logging
import sys
from typing import Iterator

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

log = logging.getLogger("bittrue")


def setup_logging(quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("bittrue: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


@contextlib.contextmanager
def bar(total: int, desc: str, quiet: bool = False, unit: str = "img") -> Iterator[tqdm]:
    """A tqdm bar on stderr (disabled when quiet or when stderr is not a terminal and quiet)."""
    with logging_redirect_tqdm(loggers=[log]):
        with tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=True if quiet else None,
                  leave=False, dynamic_ncols=True) as b:
            yield b
