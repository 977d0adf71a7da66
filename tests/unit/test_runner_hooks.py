"""The runner's profiling hooks (``bittrue.run``): the :class:`Profiler` callback and ``Runner.crossbar``."""
from __future__ import annotations

import numpy as np
import pytest

from bittrue import netlist as nl
from bittrue.compile import compile_model
from bittrue.config import HardwareConfig
from bittrue.model import ARCHITECTURES, random_float_model
from bittrue.program import program
from bittrue.run import SEEDS, Runner

T = 3


@pytest.fixture(scope="module")
def chip():
    arch = ARCHITECTURES["digits"]
    return program(compile_model(random_float_model(arch, seed=3, threshold=0.5), HardwareConfig(), None), "pcm",
                   program_seed=0)


@pytest.fixture(scope="module")
def inputs(chip):
    arch = chip.arch
    x = np.random.default_rng(2).integers(0, 256, (5, arch.n_patches, arch.token_features), dtype=np.uint8)
    return x, np.arange(10, 15, dtype=np.int64)


def test_profiler_sees_every_op_once_per_step_and_changes_nothing(chip, inputs):
    x, ids = inputs
    calls = []
    runner = Runner(chip, timesteps=T, profiler=lambda kind, name, s: calls.append((kind, name, s)))
    got = runner.run_batch(x, ids)
    assert np.array_equal(got, Runner(chip, timesteps=T).run_batch(x, ids))
    want = [(SEEDS, "encoder"), (SEEDS, "ssa")] + [(op.kind, op.name) for op in nl.netlist(chip.arch)] * T
    assert [(k, n) for k, n, _ in calls] == want
    assert all(isinstance(s, float) and s >= 0.0 for _, _, s in calls)
    runner.profiler = None  # cleared between batches: no more calls
    runner.run_batch(x[:2], ids[:2])
    assert len(calls) == len(want)


def test_crossbar_alone_equals_the_layer_in_a_run(chip, inputs):
    """``Runner.crossbar`` on the spikes a run fed a layer at step t returns that run's outputs (noise keyed by
    sample id, layer and t), for every crossbar whose input the sink sees (all but the SSA-fed projections)."""
    x, ids = inputs
    rec = {}

    class Keep:
        signals = frozenset({"spikes", "encoder", "requant"})

        def __call__(self, path, t, data):
            rec[path, t] = data.copy()

    Runner(chip, timesteps=T).run_batch(x, ids, Keep())
    runner = Runner(chip, timesteps=T)
    checked = 0
    for name, op in nl.crossbars(chip.arch).items():
        for t in range(T):
            if (op.src[0], t) not in rec:
                continue
            spikes, want = rec[op.src[0], t], rec[f"{name}/y_code", t]
            assert np.array_equal(runner.crossbar(name, spikes, ids, t), want), (name, t)
            checked += 1
    assert checked >= T * (2 + 3 * chip.arch.depth)  # embed, head, qkv, mlp1, mlp2 of every block
    # the noise switch: off differs from on (pcm has output noise), and is keyed by t
    spk = rec["lif.blocks.0.h/spikes", 1]
    on = runner.crossbar("blocks.0.mlp2", spk, ids, 1)
    assert np.array_equal(on, runner.crossbar("blocks.0.mlp2", spk, ids, 1, noise_on=True))
    assert not np.array_equal(on, runner.crossbar("blocks.0.mlp2", spk, ids, 1, noise_on=False))
    assert not np.array_equal(on, runner.crossbar("blocks.0.mlp2", spk, ids, 2))
    out = np.full(on.shape, -7, np.int32)
    assert runner.crossbar("blocks.0.mlp2", spk, ids, 1, out=out) is out and np.array_equal(out, on)


def test_crossbar_rejects_bad_arguments(chip):
    runner = Runner(chip, timesteps=T)
    n_in = chip.arch.linear_shapes()["blocks.0.mlp1"][0]
    ok = np.zeros((2, 4, n_in), np.uint8)
    ids = np.arange(2)
    for kw, msg in ((dict(name="blocks.9.mlp1"), "no crossbar layer"),
                    (dict(spikes=ok.astype(np.int32)), "spikes must be"),
                    (dict(spikes=ok[:, :, :-1]), "spikes must be"),
                    (dict(sample_ids=np.arange(3)), "sample_ids"),
                    (dict(out=np.empty((2, 4, 3), np.int32)), "out must be")):
        args = dict(name="blocks.0.mlp1", spikes=ok, sample_ids=ids) | kw
        with pytest.raises(ValueError, match=msg):
            runner.crossbar(args.pop("name"), args.pop("spikes"), args.pop("sample_ids"), **args)
