"""Smoke tests of ``tools/bench.py``'s helpers on a tiny architecture (no timing assertions)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bittrue.config import HardwareConfig  # noqa: E402
from bittrue.floatmodel import float_forward  # noqa: E402
from bittrue.model import ARCHITECTURES, random_float_model  # noqa: E402

_PATH = Path(__file__).resolve().parents[2] / "tools" / "bench.py"
pytestmark = pytest.mark.skipif(not _PATH.exists(), reason="source tree not available (installed-wheel run)")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bittrue_tools_bench", _PATH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses resolve annotations through sys.modules
    try:
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def tiny(bench):
    return bench.make_arch(9, 32, depth=1, d_k=16, timesteps=3)


@pytest.fixture(scope="module")
def workload(bench, tiny):
    return bench.build_workload(tiny, density=0.2, n_thresh=6)


def test_make_arch_matches_spec_table(bench, tiny):
    import dataclasses

    ref = ARCHITECTURES["cifar10-vit-small"]
    assert dataclasses.replace(bench.make_arch(), name=ref.name) == ref
    assert (tiny.n_tokens, tiny.dim, tiny.heads, tiny.d_k, tiny.mlp, tiny.depth) == (9, 32, 2, 16, 128, 1)
    assert bench.make_arch(257, 64).heads == 1


def test_random_inputs_density(bench, tiny):
    x = bench.random_inputs(tiny, 200, 0.15, seed=3)
    assert x.dtype == np.uint8 and x.shape == (200, tiny.n_patches, tiny.token_features)
    assert x.max() < 77
    assert abs(x.mean() / 256 - 0.15) < 0.005
    assert np.array_equal(x, bench.random_inputs(tiny, 200, 0.15, seed=3))


def test_threshold_for_rate_hits_target_on_code_grid(bench):
    y = np.random.default_rng(0).normal(0.2, 1.0, size=(4, 20000)).astype(np.float32)
    for target in (0.05, 0.15, 0.4):
        th = bench.threshold_for_rate(y, target, 0.5, False)
        assert th * 256 == int(th * 256)  # exactly a threshold code
        assert abs(bench._lif_rate(y, th, 0.5, False) - target) < 0.01
    # rate is non-increasing in the threshold
    rates = [bench._lif_rate(y, th, 0.5, False) for th in (0.1, 0.5, 1.0, 2.0)]
    assert rates == sorted(rates, reverse=True)
    # unreachable target: the smallest threshold
    assert bench.threshold_for_rate(-np.abs(y), 0.5, 0.5, False) == 1 / 256


def test_calibrate_thresholds_float_pass(bench, tiny):
    model = random_float_model(tiny, seed=1)
    x = bench.random_inputs(tiny, 16, 0.2, seed=2)
    got = {}
    dens = bench.calibrate_thresholds(model, x, 3, 0.2, HardwareConfig(), collect=got)
    for name in tiny.lif_names():
        assert abs(dens["lif:" + name] - 0.2) < 0.03, name
        assert model.lif_threshold[name] > 0
    assert set(got) == set(tiny.linear_shapes())
    assert got["blocks.0.mlp2"].shape == (3, 16, tiny.n_tokens, tiny.mlp)
    # the float reference model, run normally (time-major, other draws), sees about the same rates
    rec = {}
    float_forward(model, x, timesteps=3, rng=np.random.default_rng(5), k_s=16, k_o=16,
                  record=lambda n, t, s: rec.setdefault(n, []).append(s.mean()))
    for name in ("lif:blocks.0.in", "lif:blocks.0.h", "lif:head.in"):
        assert abs(np.mean(rec[name]) - 0.2) < 0.08, name


def test_torchsim_is_the_float_network(bench, tiny):
    """With a deterministic sampler (p > 1/2) TorchSim and float_forward give the same logits."""
    cfg = HardwareConfig()
    model = random_float_model(tiny, seed=4)
    x = np.random.default_rng(6).integers(0, 256, (5, tiny.n_patches, tiny.token_features), dtype=np.uint8)
    bench.calibrate_thresholds(model, x, 3, 0.25, cfg)

    class Half:
        def random(self, shape):
            return np.full(shape, 0.5)

    ref = float_forward(model, x, timesteps=3, rng=Half(), k_s=cfg.resolved_k_s(tiny.d_k),
                        k_o=cfg.resolved_k_o(tiny.n_tokens))
    sim = bench.TorchSim(model, cfg, 3)
    sim.bernoulli = lambda p: (p > 0.5).to(torch.float32)
    got = sim.forward(x)
    assert got.shape == (5, tiny.n_classes)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
    assert np.abs(ref).max() > 0
    # sampled runs: reproducible per seed, and FLOP count by hand
    a = bench.TorchSim(model, cfg, 3, seed=1).forward(x)
    b = bench.TorchSim(model, cfg, 3, seed=1).forward(x)
    assert np.array_equal(a, b)
    N, D, M = 9, 32, 128
    per_t = 2 * (8 * 48 * D + N * (D * 3 * D + D * D + 2 * D * M) + D * 10) + 2 * 2 * 2 * N * N * 16
    assert sim.flops_per_image() == 3 * per_t


def test_torchsim_and_threshold_pass_follow_the_netlist(bench, tiny):
    """A modified architecture (a second block, readout over the last 2 tokens): the layer-major threshold pass
    reaches every LIF and TorchSim still equals float_forward (pinned draws), with (B, 2, n_classes) logits."""
    import dataclasses

    cfg = HardwareConfig()
    arch = dataclasses.replace(tiny, depth=2, readout_tokens=2)
    model = random_float_model(arch, seed=4)
    x = np.random.default_rng(6).integers(0, 256, (5, arch.n_patches, arch.token_features), dtype=np.uint8)
    got = {}
    dens = bench.calibrate_thresholds(model, x, 3, 0.25, cfg, collect=got)
    assert set(got) == set(arch.linear_shapes()) and got["head"].shape == (3, 5, 2, arch.dim)
    assert all(abs(dens["lif:" + n] - 0.25) < 0.05 for n in arch.lif_names())

    class Half:
        def random(self, shape):
            return np.full(shape, 0.5)

    ref = float_forward(model, x, timesteps=3, rng=Half(), k_s=cfg.resolved_k_s(arch.d_k),
                        k_o=cfg.resolved_k_o(arch.n_tokens))
    sim = bench.TorchSim(model, cfg, 3)
    sim.bernoulli = lambda p: (p > 0.5).to(torch.float32)
    out = sim.forward(x)
    assert out.shape == ref.shape == (5, 2, arch.n_classes)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


def test_workload_densities_and_weights(bench, tiny, workload):
    wl = workload
    assert wl.chip.device == "pcm" and set(wl.weights) == set(tiny.linear_shapes())
    ideal = bench.effective_weights(__import__("bittrue.program", fromlist=["program"]).program(
        wl.chip.image, "ideal"))
    w = wl.model.linear["blocks.0.mlp1"].weight
    # ideal devices: the effective weights are the float weights up to the conductance quantisation
    assert np.abs(ideal["blocks.0.mlp1"][0] - w).max() <= np.abs(w).max() / 4096 + 1e-6
    for lay in wl.chip.image.layers:
        assert lay.i_fs_code.dtype == np.int64 and (lay.i_fs_code >= 1).all()
    x = bench.random_inputs(tiny, 8, 0.2, seed=9)
    d = bench.emulator_densities(wl.chip, x, 3)
    for name in tiny.linear_shapes():
        assert name in d and 0.0 <= d[name] <= 1.0
    kd = bench.kind_densities(d)
    assert set(kd) == set(bench.KINDS)
    assert 0.08 < kd["mlp1"] < 0.35 and 0.08 < kd["qkv"] < 0.35
    assert bench.adds_per_image(tiny, {k: 1.0 for k in bench.KINDS}, 3) == 3 * (
        8 * 48 * 32 + 9 * (32 * 96 + 32 * 32 + 2 * 32 * 128) + 32 * 10)


def test_timing_breakdown_and_roofline_run(bench, tiny, workload):
    wl = workload
    x = bench.random_inputs(tiny, 4, 0.2, seed=9)
    emu = bench.time_emulator(wl.chip, x, 3, batches=(2, 4), reps=1)
    assert emu["identical_logits"] and set(emu["by_batch"]) == {2, 4} and emu["img_s"] > 0
    kd = bench.kind_densities(bench.emulator_densities(wl.chip, x, 3))
    bd = bench.breakdown(wl.chip, x, 3, 2, kd, min_s=0.0)
    assert set(bd["shares"]) >= {"xbar_accumulate", "xbar_noise", "xbar_adc", "xbar_requant", "ssa_lfsr_draws",
                                 "ssa_other", "lif", "python_glue"}
    assert all(v >= 0 for v in bd["shares"].values()) and sum(bd["shares"].values()) <= 1.0 + 1e-9
    sim = bench.TorchSim(wl.model, wl.cfg, 3, weights=wl.weights)
    tt = bench.time_torch(sim, x, batches=(4,), reps=1)
    pe, pt = bench.time_pair(wl.chip, sim, x, 3, emu_batches=(2, 4), torch_batches=(4,), reps=2)
    assert pe["identical_logits"] and set(pe["by_batch"]) == {2, 4} and len(pe["by_batch"][2]["times_s"]) == 2
    assert set(pt["by_batch"]) == {4} and pt["paired_ratio"] > 0 and pt["img_s"] > 0
    rf = bench.roofline(tiny, bd, kd, 3, emu["img_s"], tt["img_s"], sim.flops_per_image(), 1.0)
    assert rf["adds_per_image"] > 0 and rf["accumulate_bound_img_s"] > 0
    res = {"machine": bench.machine_info(1), "load_start": [0, 0, 0], "load_end": [0, 0, 0], "total_s": 0.0,
           "headline": {"timesteps": 3, "n_images": 4, "emulator": emu, "torch": tt, "ratio": 1.0,
                        "ratio_median": 1.0, "ratio_paired": 1.0, "density_emulator": {}, "density_emulator_by_kind": kd,
                        "density_float_by_kind": kd, "density_torch_by_kind": kd},
           "targets": {"x": True}, "roofline": rf, "breakdown": bd,
           "digits": {"n_images": 1, "timesteps": 8, "batch": 1, "best_s": 1.0, "median_s": 1.0, "img_s": 1.0,
                      "accuracy": 0.5, "model": "m"},
           "scaling": [{"N": 9, "D": 32, "heads": 2, "adds_per_image": 1e6, "emu_ms_img": 1.0, "torch_ms_img": 2.0,
                        "ratio": 2.0, "n_images": 4}]}
    text = bench.render(res)
    assert "roofline" in text and "| layer |" in text
