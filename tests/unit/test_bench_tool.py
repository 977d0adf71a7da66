"""``tools/bench.py`` and its parts (``tools/_bench_*.py``) on tiny architectures: the helpers, and the bench's main
path end to end with its report's fields.

Timing assertions are limited to signs and to identities between the report's numbers: the standalone crossbar
effects measured on the tiny layers used here (accumulate, output noise, extra conversions) are 5 to 50 times
the timing resolution of a best-of-3 measurement, so a clamped-to-zero share is possible only when every layer
kind's measurement is disturbed at once.  Skips without torch (the ``train`` extra) or without the source tree.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bittrue.config import HardwareConfig  # noqa: E402
from bittrue.floatmodel import float_forward  # noqa: E402
from bittrue.model import ARCHITECTURES, random_float_model  # noqa: E402

TOOLS = Path(__file__).resolve().parents[2] / "tools"
PARTS = ("bench", "_bench_workload", "_bench_torch", "_bench_timing", "_bench_breakdown")
pytestmark = pytest.mark.skipif(not (TOOLS / "bench.py").exists(),
                                reason="source tree not available (installed-wheel run)")


@pytest.fixture(scope="module")
def tools():
    """The bench's modules, imported by bare name from tools/ (as the script does); sys.path and sys.modules
    are restored afterwards."""
    had = {n: sys.modules[n] for n in PARTS if n in sys.modules}
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(TOOLS))
        try:
            yield type("Tools", (), {n.lstrip("_").replace("bench_", ""): importlib.import_module(n) for n in PARTS})
        finally:
            for n in PARTS:
                sys.modules.pop(n, None)
            sys.modules.update(had)


@pytest.fixture(scope="module")
def tiny(tools):
    return tools.workload.make_arch(9, 32, depth=1, d_k=16, timesteps=3)


@pytest.fixture(scope="module")
def workload(tools, tiny):
    return tools.workload.build_workload(tiny, density=0.2, n_thresh=6)


def test_make_arch_matches_spec_table(tools, tiny):
    ref = ARCHITECTURES["cifar10-vit-small"]
    assert dataclasses.replace(tools.workload.make_arch(), name=ref.name) == ref
    assert (tiny.n_tokens, tiny.dim, tiny.heads, tiny.d_k, tiny.mlp, tiny.depth) == (9, 32, 2, 16, 128, 1)
    assert tools.workload.make_arch(257, 64).heads == 1


def test_random_inputs_density(tools, tiny):
    x = tools.workload.random_inputs(tiny, 200, 0.15, seed=3)
    assert x.dtype == np.uint8 and x.shape == (200, tiny.n_patches, tiny.token_features)
    assert x.max() < 77
    assert abs(x.mean() / 256 - 0.15) < 0.005  # 0.0018 is 6 sigma of the mean of 153,600 uniform codes / 256
    assert np.array_equal(x, tools.workload.random_inputs(tiny, 200, 0.15, seed=3))


def test_threshold_for_rate_hits_target_on_code_grid(tools):
    w = tools.workload
    y = np.random.default_rng(0).normal(0.2, 1.0, size=(4, 20000)).astype(np.float32)
    for target in (0.05, 0.15, 0.4):
        th = w.threshold_for_rate(y, target, 0.5, False)
        assert th * 256 == int(th * 256)  # exactly a threshold code
        assert abs(w.lif_rate(y, th, 0.5, False) - target) < 0.01
    rates = [w.lif_rate(y, th, 0.5, False) for th in (0.1, 0.5, 1.0, 2.0)]
    assert rates == sorted(rates, reverse=True)  # non-increasing in the threshold
    assert w.threshold_for_rate(-np.abs(y), 0.5, 0.5, False) == 1 / 256  # unreachable: the smallest code


def test_calibrate_thresholds_float_pass(tools, tiny):
    model = random_float_model(tiny, seed=1)
    x = tools.workload.random_inputs(tiny, 16, 0.2, seed=2)
    dens = tools.workload.calibrate_thresholds(model, x, 3, 0.2, HardwareConfig())
    for name in tiny.lif_names():
        assert abs(dens["lif:" + name] - 0.2) < 0.03, name
        assert model.lif_threshold[name] > 0
    assert set(tiny.linear_shapes()) <= set(dens)
    # the float reference model, run normally (time-major, other draws), sees about the same rates
    rec = {}
    float_forward(model, x, timesteps=3, rng=np.random.default_rng(5), k_s=16, k_o=16,
                  record=lambda n, t, s: rec.setdefault(n, []).append(s.mean()))
    for name in ("lif:blocks.0.in", "lif:blocks.0.h", "lif:head.in"):
        assert abs(np.mean(rec[name]) - 0.2) < 0.08, name


class _Half:
    """A deterministic sampler: fires where p > 1/2."""

    def random(self, shape):
        return np.full(shape, 0.5)


@pytest.mark.parametrize("depth, readout", [(1, 0), (2, 2)])
def test_torchsim_is_the_float_network(tools, tiny, depth, readout):
    """With a deterministic sampler TorchSim equals float_forward, also on a modified architecture (a second
    block, readout over the last 2 tokens): both follow the netlist."""
    cfg = HardwareConfig()
    arch = dataclasses.replace(tiny, depth=depth, readout_tokens=readout)
    model = random_float_model(arch, seed=4)
    x = np.random.default_rng(6).integers(0, 256, (5, arch.n_patches, arch.token_features), dtype=np.uint8)
    tools.workload.calibrate_thresholds(model, x, 3, 0.25, cfg)
    ref = float_forward(model, x, timesteps=3, rng=_Half(), k_s=cfg.resolved_k_s(arch.d_k), k_o=cfg.resolved_k_o(arch.n_tokens))
    sim = tools.torch.TorchSim(model, cfg, 3)
    sim.bernoulli = lambda p: (p > 0.5).to(torch.float32)
    got = sim.forward(x)
    assert got.shape == ref.shape == ((5, arch.n_classes) if not readout else (5, readout, arch.n_classes))
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
    assert np.abs(ref).max() > 0
    if depth == 1:  # sampled runs are reproducible per seed; the FLOP count by hand
        a, b = (tools.torch.TorchSim(model, cfg, 3, seed=1).forward(x) for _ in range(2))
        assert np.array_equal(a, b)
        N, D, M = 9, 32, 128
        per_t = 2 * (8 * 48 * D + N * (D * 3 * D + D * D + 2 * D * M) + D * 10) + 2 * 2 * 2 * N * N * 16
        assert sim.flops_per_image() == 3 * per_t


def test_workload_densities_weights_and_work_counts(tools, tiny, workload):
    from bittrue.program import program

    w = tools.workload
    wl = workload
    assert wl.chip.device == "pcm" and set(wl.weights) == set(tiny.linear_shapes())
    ideal = w.effective_weights(program(wl.chip.image, "ideal"))
    wt = wl.model.linear["blocks.0.mlp1"].weight
    # ideal devices: the effective weights are the float weights up to the conductance quantisation
    assert np.abs(ideal["blocks.0.mlp1"][0] - wt).max() <= np.abs(wt).max() / 4096 + 1e-6
    for lay in wl.chip.image.layers:
        assert lay.i_fs_code.dtype == np.int64 and (lay.i_fs_code >= 1).all()
    d = w.emulator_densities(wl.chip, w.random_inputs(tiny, 8, 0.2, seed=9), 3)
    assert all(0.0 <= d[name] <= 1.0 for name in tiny.linear_shapes())
    kd = w.kind_densities(d)
    assert set(kd) == set(w.KINDS)
    assert 0.08 < kd["mlp1"] < 0.35 and 0.08 < kd["qkv"] < 0.35
    # by hand: embed 8 patches x 48 -> 32; per token qkv 32 -> 96, proj 32 -> 32, mlp 32 -> 128 -> 32; head CLS
    assert w.adds_per_image(tiny, {k: 1.0 for k in w.KINDS}, 3) == 3 * (
        8 * 48 * 32 + 9 * (32 * 96 + 32 * 32 + 2 * 32 * 128) + 32 * 10)
    assert w.conversions_per_image(tiny, 256, 3) == 3 * (8 * 32 + 9 * (96 + 32 + 128 + 32) + 10)
    assert w.conversions_per_image(tiny, 16, 3) == 3 * (8 * 3 * 32 + 9 * (2 * 96 + 2 * 32 + 2 * 128 + 8 * 32)
                                                        + 2 * 10)


def test_compile_calibrates_the_bench_chip(tools, tiny, workload):
    """The ADC full scales are compile's own (compile_model on the threshold pass's images), not a copy."""
    from bittrue.compile import compile_model

    wl = workload
    x = tools.workload.random_inputs(tiny, 6, 0.2, seed=100)
    ref = compile_model(wl.model, wl.cfg, x, calib_seed=0)
    for got, want in zip(wl.chip.image.layers, ref.layers):
        assert np.array_equal(got.i_fs_code, want.i_fs_code) and np.array_equal(got.sigma_code, want.sigma_code)


def test_split_crossbar_parts(tools):
    rec = {"t_zero_s": 2.0, "t_acc_s": 5.0, "t_full_s": 6.5, "s_per_conversion": 0.25, "conversions": 4}
    assert tools.breakdown.split_crossbar(rec) == {"xbar_accumulate": 3.0, "xbar_noise": 1.5, "xbar_adc_psum": 1.0,
                                                   "xbar_requant_loop": 1.0}
    rec |= {"t_full_s": 4.0, "s_per_conversion": 1.0}  # disturbed timings: no negative part, ADC <= t(0, off)
    assert tools.breakdown.split_crossbar(rec) == {"xbar_accumulate": 3.0, "xbar_noise": 0.0, "xbar_adc_psum": 2.0,
                                                   "xbar_requant_loop": 0.0}


def test_best_times_interleaves_rounds_and_keeps_each_best(tools, monkeypatch):
    """The four timings of a layer kind are taken in interleaved rounds (a b a b ..., after one warm-up call
    each), and each keeps its own best per-call time, so a disturbed round of one call does not move the others."""
    clock = [0.0]
    calls = []
    cost = {"a": [5.0, 1.0, 3.0], "b": [2.0, 4.0, 6.0]}  # per-round seconds of one call (after the warm-up)

    def make(name):
        def f():
            calls.append(name)
            n = calls.count(name) - 2  # 0-based round, -1 for the warm-up call
            if n >= 0:
                clock[0] += cost[name][n]
        return f

    monkeypatch.setattr(tools.breakdown.time, "perf_counter", lambda: clock[0])
    best = tools.breakdown.best_times([make("a"), make("b")], reps=3, min_s=0.5)
    assert calls == ["a", "b", "a", "b", "a", "b", "a", "b"]
    assert best == [1.0, 2.0]


def _finite_pos(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v) and v > 0


def test_bench_main_path_end_to_end(tools, capsys):
    """``main`` on a tiny architecture (17 tokens, D = 128, one block): the report's fields and identities."""
    args = ["--arch", "17", "128", "1", "--density", "0.3", "--images", "4", "--reps", "2", "--emu-batch", "2",
            "4", "--torch-batch", "4", "--no-digits", "--no-scaling", "--threads", "1", "--json"]
    assert tools.bench.main(args) == 0
    res = json.loads(capsys.readouterr().out)
    h, r, b, s = res["headline"], res["roofline"], res["breakdown"], res["summary"]
    assert h["emulator"]["identical_logits"] and h["arch"]["n_patches"] == 16 and h["arch"]["dim"] == 128
    assert all(_finite_pos(v) for v in (h["ratio"], h["ratio_paired"], r["emulator_fraction_of_bound"],
                                        r["accumulate_gadds_s"], b["ns_per_conversion"]))
    assert s == {"ratio_paired": h["ratio_paired"], "fraction_of_accumulate_bound": r["emulator_fraction_of_bound"],
                 "ns_per_conversion": b["ns_per_conversion"], "conversion_over_accumulate":
                 b["conversion_over_accumulate"], "conversion_le_half_accumulate":
                 b["conversion_le_half_accumulate"]}
    assert r["emulator_fraction_of_bound"] == pytest.approx(r["emulator_img_s"] / r["accumulate_bound_img_s"])
    # the breakdown: shares of the wall time that add up; crossbar parts that add up to the in-run crossbar time
    sec = b["seconds"]
    assert all(v >= 0 for v in sec.values()) and sum(b["shares"].values()) == pytest.approx(1.0)
    assert sum(sec[p] for p in tools.breakdown.XBAR_PARTS) == pytest.approx(b["op_seconds"]["xbar"])
    assert {"ssa", "lif", "residual", "encoder", "seeds", "python_loop"} <= set(sec)
    for c in b["crossbar_standalone"].values():
        assert sum(c["split"].values()) == pytest.approx(1.0) and c["row_tiles_fine"] == 4 * c["row_tiles"]
    # the conversion path: noise + ADC + partial sums over every conversion of the profiled run
    arch = tools.workload.make_arch(17, 128, depth=1)
    assert b["conversions"] == b["n_images"] * tools.workload.conversions_per_image(arch, 256, 4)
    conv = sec["xbar_noise"] + sec["xbar_adc_psum"]
    assert b["conversion_path_s"] == pytest.approx(conv)
    assert b["ns_per_conversion"] == pytest.approx(1e9 * conv / b["conversions"])
    assert b["conversion_le_half_accumulate"] == (conv <= 0.5 * sec["xbar_accumulate"])
    assert res["targets"]["conversion path <= half the accumulate"] == b["conversion_le_half_accumulate"]
    text = tools.bench.render(res)
    assert "ns per conversion" in text and "of its own accumulate bound" in text and "paired" in text


def test_scaling_point_and_report(tools):
    rows = tools.timing.scaling((9,), (32,), density=0.2, timesteps=2, batch=2, target_s=0.01, reps=1)
    (row,) = rows
    assert (row["N"], row["D"], row["heads"]) == (9, 32, 1) and row["n_images"] in range(2, 17, 2)
    assert all(_finite_pos(row[k]) for k in ("emu_ms_img", "torch_ms_img", "ratio", "adds_per_image"))
    assert row["ratio"] == pytest.approx(row["torch_ms_img"] / row["emu_ms_img"])


def test_bad_options_exit_2(tools, capsys):
    """argparse's usage error: exit 2, the last line of stderr names the option, no traceback."""
    for bad, opt in ((["--density", "1.5"], "--density"), (["--images", "0"], "--images"),
                     (["--emu-batch", "0"], "--emu-batch"), (["--arch", "9", "32", "0"], "--arch"),
                     (["--arch", "9", "0", "1"], "--arch"), (["--arch", "1", "32", "1"], "--arch")):
        with pytest.raises(SystemExit) as ei:
            tools.bench.main(bad)
        assert ei.value.code == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and f"error: {opt}" in err.strip().splitlines()[-1], err
