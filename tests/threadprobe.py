"""How many Numba worker threads a ``prange`` loop really runs on (for the thread-invariance tests).

A test that sets 2 threads and compares with 1 proves nothing if the parallel region runs on one thread (a
thread count left at 1, a missing threading layer): :func:`threads_used` counts the distinct worker ids that a
static-scheduled ``prange`` of ``n`` iterations sees.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange


@njit(parallel=True)
def _thread_ids(n):
    out = np.empty(n, np.int64)
    for i in prange(n):
        out[i] = numba.get_thread_id()
    return out


def threads_used(n: int = 4096) -> int:
    """Distinct worker threads of one ``prange`` of ``n`` iterations at the current ``numba.get_num_threads()``."""
    return int(np.unique(_thread_ids(n)).size)
