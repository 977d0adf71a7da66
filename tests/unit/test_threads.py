"""A whole ``Runner.run_batch`` gives identical logits and identical logged signals with 1 and with 2 Numba
threads (spec 1.5; CONVENTIONS kernel rule 5).

The thread count is checked inside the run (``numba.get_num_threads()`` and the worker ids that a ``prange``
really uses), so the comparison cannot silently be 1 thread against 1; the count is restored afterwards.
"""
from __future__ import annotations

import numba
import numpy as np
import pytest
from threadprobe import threads_used

from bittrue.compile import compile_model
from bittrue.config import HardwareConfig
from bittrue.model import ARCHITECTURES, random_float_model
from bittrue.program import program
from bittrue.run import SIGNALS, Runner


class Keep:
    """Copies every signal of every group (the runner reuses its arrays)."""

    signals = frozenset(SIGNALS)

    def __init__(self):
        self.log: list[tuple[str, int, np.ndarray]] = []

    def __call__(self, path, t, data):
        self.log.append((path, int(t), np.array(data, copy=True)))


@pytest.fixture(scope="module")
def chip():
    arch = ARCHITECTURES["digits"]
    cfg = HardwareConfig.from_dict({"tile": {"calibration_samples": 16}}).validate()
    # threshold 0.25: the SSA outputs, the head and every LIF population fire (0.5 leaves the deep ones silent)
    model = random_float_model(arch, seed=5, threshold=0.25)
    rng = np.random.default_rng(0)
    calib = rng.integers(0, 256, size=(16, arch.n_patches, arch.token_features), dtype=np.uint8)
    return program(compile_model(model, cfg, calib), "pcm", program_seed=1)


def test_run_batch_thread_invariant(chip):
    arch = ARCHITECTURES["digits"]
    x = np.random.default_rng(2).integers(0, 256, size=(6, arch.n_patches, arch.token_features), dtype=np.uint8)
    ids = np.arange(100, 106, dtype=np.int64)
    n0 = numba.get_num_threads()
    assert numba.config.NUMBA_NUM_THREADS >= 2, "needs at least 2 threads to compare against 1"
    runs = []
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            assert numba.get_num_threads() == threads and threads_used() == threads
            sink = Keep()
            logits = Runner(chip, timesteps=3, root_seed=9).run_batch(x, ids, sink)
            assert numba.get_num_threads() == threads
            runs.append((logits, sink.log))
    finally:
        numba.set_num_threads(n0)
    (l1, log1), (l2, log2) = runs
    assert l1.dtype == l2.dtype and np.array_equal(l1, l2)
    assert len(np.unique(l1)) > 1  # not a degenerate all-equal output
    assert [(p, t) for p, t, _ in log1] == [(p, t) for p, t, _ in log2]
    for (p, t, a), (_, _, b) in zip(log1, log2):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), (p, t)
    spikes = [a for p, _, a in log1 if p.endswith("spikes")]
    assert spikes and all(a.any() for a in spikes[:3])
