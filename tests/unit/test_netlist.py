"""The netlist is the only statement of the block sequence: a modified architecture reaches every consumer.

The modified network is the shipped digits model with a third block (a copy of block 1) and a readout over
the last 2 tokens instead of the CLS token (``readout_tokens = 2``).  Each consumer must follow it:
the bit-true runner against the float model (LIF rates, statistical bound below), the energy counters against
their closed forms and against recounts of the logged signals, golden export and ``verify``, and
``energy --golden``.  (The torch training model's one-step forward is tested in ``tests/tools``.)
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from bittrue import cli
from bittrue import netlist as nl
from bittrue.compile import compile_model
from bittrue.config import HardwareConfig
from bittrue.energy import ActivityCounter, MultiSink, closed_form_counts
from bittrue.floatmodel import float_forward
from bittrue.model import (ARCHITECTURES, FloatModel, Linear, default_model_path, load_float_model,
                           save_float_model)
from bittrue.program import program
from bittrue.run import Runner
from bittrue.workloads import load_tokens

from rates import RateSink  # tests/ is on sys.path (conftest.py)

R = 6  # seeds per side of the rate comparison
N_SAMPLES = 16


def three_block_model() -> FloatModel:
    """The shipped digits model, block 1 copied as block 2, read out over the last 2 tokens."""
    base = load_float_model(default_model_path("digits"))
    arch = dataclasses.replace(base.arch, name="digits-3b-ro2", depth=3, readout_tokens=2)
    linear = {}
    for name in arch.linear_shapes():
        src = name.replace("blocks.2.", "blocks.1.")
        lin = base.linear[src]
        linear[name] = Linear(**{f.name: getattr(lin, f.name) for f in dataclasses.fields(Linear)})
    lif = {n: base.lif_threshold[n.replace("blocks.2.", "blocks.1.")] for n in arch.lif_names()}
    m = FloatModel(arch=arch, pos=base.pos, cls=base.cls, linear=linear, lif_threshold=lif, training={})
    m.validate()
    return m


@pytest.fixture(scope="module")
def setup():
    model = three_block_model()
    cfg = HardwareConfig()
    x, _ = load_tokens("digits", "test", model.arch)
    xtr, _ = load_tokens("digits", "train", model.arch)
    image = compile_model(model, cfg, xtr[:64])
    return model, cfg, x[:N_SAMPLES], image


def test_netlist_follows_the_architecture(setup):
    model = setup[0]
    arch = model.arch
    ops = nl.netlist(arch)
    assert [op.name for op in ops if op.kind == nl.SSA] == ["blocks.0.ssa", "blocks.1.ssa", "blocks.2.ssa"]
    head_in = nl.lifs(arch)["head.in"]
    assert head_in.readout and head_in.tokens == 2
    assert nl.crossbars(arch)["head"].tokens == 2
    assert list(arch.linear_shapes())[-5:] == ["blocks.2.qkv", "blocks.2.proj", "blocks.2.mlp1", "blocks.2.mlp2",
                                               "head"]
    assert nl.block_names(arch) == ["input", "blocks.0", "blocks.1", "blocks.2", "head"]
    # the shipped architectures' netlists: 1 + 13 per block + 3 ops
    for a in ARCHITECTURES.values():
        assert len(nl.netlist(a)) == 3 + 13 * a.depth + 3


def test_bit_true_ideal_follows_the_float_model(setup):
    """LIF rates of the ideal chip and of the float model, R seeds each, every population of all 3 blocks.

    Bound per population: |rate_emu - rate_float| <= 6 se + 0.04 (se: standard error of the difference from
    the per-seed rates; 6 sigma gives a false failure from sampling alone below 2e-9 per population, 19
    populations: < 4e-8; 0.04 is the fixed-point modelling gap, as in tests/property/test_network_equivalence).
    Fixed seeds: deterministic.  The logits have the 2-token readout shape on both sides.
    """
    model, cfg, x, image = setup
    arch = model.arch
    chip = program(image, "ideal")
    emu, flt = [], []
    for s in range(R):
        sink = RateSink()
        lg = Runner(chip, root_seed=1000 + s).run_batch(x, np.arange(len(x)), sink)
        assert lg.shape == (len(x), 2, arch.n_classes)
        emu.append(sink.rates())
        fs = RateSink()

        def rec(name, t, data, fs=fs):
            if name.startswith("lif:"):
                fs("lif." + name[4:] + "/spikes", t, data)

        fl = float_forward(model, x, timesteps=arch.timesteps, rng=np.random.default_rng(2000 + s),
                           k_s=cfg.resolved_k_s(arch.d_k), k_o=cfg.resolved_k_o(arch.n_tokens), record=rec)
        assert fl.shape == (len(x), 2, arch.n_classes)
        flt.append(fs.rates())
    assert set(emu[0]) == set(flt[0]) == set(arch.lif_names()) and "blocks.2.h" in emu[0]
    for n in arch.lif_names():
        e = np.array([d[n] for d in emu])
        f = np.array([d[n] for d in flt])
        se = np.sqrt(e.var(ddof=1) / R + f.var(ddof=1) / R)
        assert abs(e.mean() - f.mean()) <= 6 * se + 0.04, f"{n}: emulator {e.mean():.4f} vs float {f.mean():.4f}"
    means = [np.mean([d[n] for d in flt]) for n in arch.lif_names()]
    assert max(means) - min(means) > 0.05, "rates are all alike: the comparison would be vacuous"


class Log:
    signals = frozenset({"encoder", "spikes", "ssa"})

    def __init__(self):
        self.data: dict[str, list] = {}

    def __call__(self, path, t, data):
        self.data.setdefault(path, []).append(np.array(data))


def test_energy_counts_follow_the_architecture(setup):
    """Closed forms for the third block and the 2-token readout, and data-dependent counters recounted."""
    model, cfg, x, image = setup
    arch = model.arch
    chip = program(image, "pcm", program_seed=0)
    runner = Runner(chip)
    counter, log = ActivityCounter(arch, cfg, runner.T), Log()
    runner.run_batch(x[:4], np.arange(4), MultiSink(counter, log))
    counts = counter.counts()
    closed = closed_form_counts(arch, cfg, runner.T, 4)
    T, N, D, H, dk = runner.T, arch.n_tokens, arch.dim, arch.heads, arch.d_k
    for site, c in closed.items():
        for k, v in c.items():
            assert counts.sites[site][k] == v, (site, k)
    assert closed["blocks.2.ssa"]["and_evals_score"] == T * H * N * N * dk * 4
    assert closed["blocks.2.residual"]["residual_adds"] == 2 * T * N * D * 4
    assert closed["lif.head.in"]["lif_updates"] == T * 2 * D * 4
    assert closed["head"]["adc_conversions"] == T * 2 * 1 * arch.n_classes * 4
    assert closed["head"]["logit_adds"] == T * 2 * arch.n_classes * 4
    # data-dependent: active rows of the third block's crossbars are the logged spikes that drive them
    o = np.stack(log.data["blocks.2.ssa/o_spikes"])
    assert counts.sites["blocks.2.proj"]["active_rows"] == int(o.sum())
    h = np.stack(log.data["lif.blocks.2.h/spikes"])
    assert counts.sites["blocks.2.mlp2"]["active_rows"] == int(h.sum())
    z = np.stack(log.data["lif.head.in/spikes"])
    assert z.shape[1:] == (4, 2, D) and counts.sites["head"]["active_rows"] == int(z.sum())


def test_golden_export_verify_and_energy_follow_the_architecture(setup, tmp_path, capsys):
    model = setup[0]
    mpath = tmp_path / "m3.h5"
    save_float_model(model, mpath)
    g = tmp_path / "g.h5"
    assert cli.main(["golden", "--model", str(mpath), "--samples", "2", "-o", str(g), "--quiet"]) == 0
    capsys.readouterr()
    assert cli.main(["verify", str(g), "--quiet"]) == 0
    assert "OK 2 samples" in capsys.readouterr().out
    import h5py

    with h5py.File(g) as f:
        units = [str(k).split("_", 1)[1] for k in f["layers"]]
        assert units == nl.unit_order(model.arch) and "blocks.2.ssa" in units
    assert cli.main(["energy", "--golden", str(g), "--json", "--quiet"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["counts"]["sites"]["blocks.2.ssa"]["and_evals_score"] > 0
    assert list(rep["xpk1"]["by_block_nJ"]) == ["input", "blocks.0", "blocks.1", "blocks.2", "head"]


def test_runner_reads_out_the_last_two_tokens(setup):
    """At t = 0 every membrane starts at 0, so the head LIF's membrane and spikes follow exactly from the residual
    of its readout tokens (here the last 2): v = 0 where it fired (hard reset), else the residual."""
    model, cfg, x, image = setup
    chip = program(image, "ideal")
    log = {}

    class Sink:
        signals = frozenset({"residual", "membrane", "spikes"})

        def __call__(self, path, t, data):
            if t == 0:
                log[path] = np.array(data)

    Runner(chip).run_batch(x[:4], np.arange(4), Sink())
    r = log["blocks.2/residual_code"][:, -2:, :].astype(np.int64)  # the residual after the last block
    theta = chip.image.lif_theta_code["head.in"]
    fire = r >= theta
    assert fire.any() and (~fire).any()
    assert np.array_equal(log["lif.head.in/spikes"], fire.astype(np.uint8))
    assert np.array_equal(log["lif.head.in/v_code"], np.where(fire, 0, r))
