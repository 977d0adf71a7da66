"""Energy accounting (bittrue.energy): exact activity counters, energy table, digital baseline.

Every counter is checked two ways: against its closed form, and against a recount from the
signals a capturing sink logged during the same run (spikes, ADC codes, requantised outputs,
membranes, SSA counters, LFSR seeds and draws), with naive loops over tiles / tokens.
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
from contextlib import redirect_stdout

import numpy as np
import pytest

from bittrue import energy as en
from bittrue.compile import compile_model
from bittrue.config import HardwareConfig, LFSRConfig, SSAConfig, TileConfig
from bittrue.kernels.lfsr import lfsr_draw_seq, taps_to_mask
from bittrue.model import Architecture, random_float_model, save_float_model
from bittrue.modes import Mask, Sharing
from bittrue.program import program
from bittrue.run import Runner

# tiny model: 2 row tiles x 3 column tiles (last one partial) on the 8-wide layers, 4 row tiles on mlp2
ARCH = Architecture(name="tiny", token_features=4, n_patches=5, dim=8, depth=2, heads=2, d_k=4, mlp=16,
                    timesteps=3, n_classes=3, mask=Mask.DIAGONAL, cls_token=True)
CFG = HardwareConfig(tile=TileConfig(rows=4, cols=3, calibration_samples=8))


class Capture:
    """Keeps a copy of every signal, and forwards the counter's signals to it."""

    signals = frozenset({"encoder", "spikes", "ssa", "seeds", "adc", "requant", "membrane"})

    def __init__(self, counter):
        self.counter = counter
        self.log: dict[str, list[np.ndarray]] = {}

    def begin_batch(self, ids):
        self.counter.begin_batch(ids)

    def end_batch(self, logits):
        self.counter.end_batch(logits)

    def __call__(self, path, t, data):
        self.log.setdefault(path, []).append(np.array(data))
        self.counter(path, t, data)


def _chip(cfg=CFG, threshold=0.3, seed=0, device="pcm"):
    model = random_float_model(ARCH, seed, threshold=threshold)
    calib = en.random_tokens(ARCH, 8, seed=5)
    return program(compile_model(model, cfg, calib), device)


def _run(cfg=CFG, n=3, batches=(3,), device="pcm", threshold=0.3):
    chip = _chip(cfg, device=device, threshold=threshold)
    runner = Runner(chip)
    counter = en.ActivityCounter(chip.arch, chip.config, runner.T)
    cap = Capture(counter)
    x = en.random_tokens(ARCH, n, seed=11)
    i = 0
    for bsz in batches:
        runner.run_batch(x[i:i + bsz], np.arange(i, i + bsz), sink=cap)
        i += bsz
    return chip, runner, counter.counts(), cap.log


@pytest.fixture(scope="module")
def run3():
    return _run()


def _cat(log, path):
    """Logged arrays of one signal over all batches and steps, stacked (steps, B, ...)."""
    return log[path]


# ------------------------------------------------------------------------- closed forms
def test_closed_forms_match_dimension_formulas():
    T, n = 3, 5
    N, D, H, dk = ARCH.n_tokens, ARCH.dim, ARCH.heads, ARCH.d_k
    s = en.closed_form_counts(ARCH, CFG, T, n)
    for b in range(ARCH.depth):
        c = s[f"blocks.{b}.ssa"]
        assert c["and_evals_score"] == T * H * N * N * dk * n
        assert c["and_evals_output"] == T * H * N * N * dk * n
        assert c["comparator_ops_score"] == T * H * N * N * n
        assert c["comparator_ops_output"] == T * H * N * dk * n
        # one register per comparator, steps_per_draw = draw width (d_k = 4 < 16: K_S = 4, log2 = 2;
        # K_O = 16, the spec default: log2 = 4)
        assert c["lfsr_steps"] == T * H * (N * N * 2 + N * dk * 4) * n
    assert s["encoder"]["lfsr_steps"] == T * ARCH.n_patches * ARCH.token_features * 8 * n
    assert s["encoder"]["buffer_bits_read"] == T * ARCH.n_patches * ARCH.token_features * 8 * n
    # qkv: 8 -> 24 on 4 x 3 tiles: 2 row tiles
    assert s["blocks.0.qkv"]["adc_conversions"] == T * N * 2 * 24 * n
    assert s["blocks.0.qkv"]["psum_adds"] == T * N * 1 * 24 * n
    assert s["blocks.1.mlp2"]["adc_conversions"] == T * N * 4 * 8 * n
    assert s["head"]["requant_macs"] == T * 1 * 3 * n
    assert s["lif.blocks.0.h"]["lif_updates"] == T * N * 16 * n
    assert s["lif.head.in"]["lif_updates"] == T * 1 * 8 * n
    assert s["blocks.1.residual"]["residual_adds"] == T * 2 * N * D * n


@pytest.mark.parametrize("sharing,steps", [(Sharing.ROW, 0), (Sharing.ARRAY, 1), (Sharing.COMPARATOR, 1)])
def test_lfsr_steps_follow_sharing_and_steps_per_draw(sharing, steps):
    cfg = dataclasses.replace(CFG, lfsr=LFSRConfig(sharing=sharing, steps_per_draw=steps))
    N, dk, T = ARCH.n_tokens, ARCH.d_k, 2
    regs = {Sharing.COMPARATOR: (N * N, N * dk, 20), Sharing.ROW: (N, N, 5), Sharing.ARRAY: (1, 1, 1)}[sharing]
    c = en.closed_form_counts(ARCH, cfg, T, 1)
    assert c["blocks.0.ssa"]["lfsr_steps"] == T * ARCH.heads * (regs[0] * (steps or 2) + regs[1] * (steps or 4))
    assert c["encoder"]["lfsr_steps"] == T * regs[2] * (steps or 8)


def test_lfsr_steps_against_replayed_seeds(run3):
    """Registers = logged seeds; replaying each seed with steps_per_draw clocks per draw gives the
    logged draws of every step, so the chip clocked each register exactly that often."""
    chip, runner, counts, log = run3
    cfg = chip.config
    tm = taps_to_mask(cfg.lfsr_taps())
    seeds = _cat(log, "encoder/lfsr_seed")[0]  # (B, n_reg)
    draws = np.stack(_cat(log, "encoder/draw"))  # (T, B, NP, F)
    assert seeds.shape[1] == ARCH.n_patches * ARCH.token_features  # comparator sharing
    for b in range(seeds.shape[0]):
        for r in range(seeds.shape[1]):
            out = np.zeros(runner.T, np.int64)
            lfsr_draw_seq(np.uint64(seeds[b, r]), cfg.lfsr.width, tm, 8, 8, out)
            assert np.array_equal(out, draws[:, b].reshape(runner.T, -1)[:, r])
    assert counts.sites["encoder"]["lfsr_steps"] == seeds.size * 8 * runner.T
    for blk in range(ARCH.depth):
        ss = _cat(log, f"blocks.{blk}.ssa/lfsr_seed_s")[0]
        so = _cat(log, f"blocks.{blk}.ssa/lfsr_seed_o")[0]
        ds = np.stack(_cat(log, f"blocks.{blk}.ssa/draw_s"))  # (T, B, H, N, N)
        out = np.zeros(runner.T, np.int64)
        lfsr_draw_seq(np.uint64(ss[1, 7]), cfg.lfsr.width, tm, runner.bits_s, runner.steps_s, out)
        assert np.array_equal(out, ds[:, 1].reshape(runner.T, -1)[:, 7])
        assert counts.sites[f"blocks.{blk}.ssa"]["lfsr_steps"] == runner.T * (
            ss.size * runner.steps_s + so.size * runner.steps_o)


# ------------------------------------------------------------------------- data-dependent counters
def _crossbar_inputs(log):
    """Logged input spikes (list over steps of (B, tokens, in)) of every crossbar layer."""
    d = {"embed": _cat(log, "encoder/spikes"), "head": _cat(log, "lif.head.in/spikes")}
    for blk in range(ARCH.depth):
        d[f"blocks.{blk}.qkv"] = _cat(log, f"lif.blocks.{blk}.in/spikes")
        d[f"blocks.{blk}.mlp1"] = _cat(log, f"lif.blocks.{blk}.mlp_in/spikes")
        d[f"blocks.{blk}.mlp2"] = _cat(log, f"lif.blocks.{blk}.h/spikes")
        # SSA output per head (B, H, N, d_k) -> concatenated columns h * d_k + c
        o = []
        for arr in _cat(log, f"blocks.{blk}.ssa/o_spikes"):
            cat = np.zeros((arr.shape[0], arr.shape[2], ARCH.dim), np.uint8)
            for h in range(ARCH.heads):
                for c in range(ARCH.d_k):
                    cat[:, :, h * ARCH.d_k + c] = arr[:, h, :, c]
            o.append(cat)
        d[f"blocks.{blk}.proj"] = o
    return d


def test_crossbar_reads_per_tile_recomputed_from_logged_spikes(run3):
    chip, runner, counts, log = run3
    R, C = CFG.tile.rows, CFG.tile.cols
    xin = _crossbar_inputs(log)
    total_density_checked = 0
    for name, (n_in, n_out) in ARCH.linear_shapes().items():
        n_rt, n_ct = -(-n_in // R), -(-n_out // C)
        tiles = np.zeros((n_rt, n_ct), np.int64)
        active = 0
        for x in xin[name]:
            for b in range(x.shape[0]):
                for tok in range(x.shape[1]):
                    for rt in range(n_rt):
                        a = int(sum(int(x[b, tok, r]) for r in range(rt * R, min(n_in, (rt + 1) * R))))
                        active += a
                        for ct in range(n_ct):
                            tiles[rt, ct] += a * (min(n_out, (ct + 1) * C) - ct * C)
        assert counts.tiles[name] == tiles.tolist(), name
        c = counts.sites[name]
        assert c["cell_reads"] == tiles.sum() == active * n_out
        assert c["active_rows"] == active
        assert c["wordline_pulses"] == active * n_ct
        assert c["buffer_bits_read"] == sum(x.size for x in xin[name])
        # every column of every tile converts for every token; every output column requantises
        assert c["adc_conversions"] == sum(a.size for a in _cat(log, f"{name}/adc_code"))
        assert c["requant_macs"] == sum(a.size for a in _cat(log, f"{name}/y_code"))
        total_density_checked += active
    assert total_density_checked > 0  # the test run is not silent


def test_spike_and_lif_counts_recomputed_from_logged_spikes(run3):
    chip, runner, counts, log = run3
    assert counts.n_samples == 3
    assert counts.sites["encoder"]["spikes"] == sum(int(a.sum()) for a in _cat(log, "encoder/spikes"))
    for name in ARCH.lif_names():
        c = counts.sites[f"lif.{name}"]
        assert c["spikes"] == sum(int(a.sum()) for a in _cat(log, f"lif.{name}/spikes"))
        assert c["lif_updates"] == sum(a.size for a in _cat(log, f"lif.{name}/v_code"))
        assert c["buffer_bits_written"] == c["lif_updates"]


def test_ssa_counter_increments_recomputed_from_logged_spikes(run3):
    chip, runner, counts, log = run3
    H, dk = ARCH.heads, ARCH.d_k
    for blk in range(ARCH.depth):
        c = counts.sites[f"blocks.{blk}.ssa"]
        qs, ks, vs = (_cat(log, f"lif.blocks.{blk}.{nm}/spikes") for nm in ("q", "k", "v"))
        ss = _cat(log, f"blocks.{blk}.ssa/s_spikes")
        inc_s = inc_o = 0
        for q, k, v, s in zip(qs, ks, vs, ss):
            for b in range(q.shape[0]):
                for h in range(H):
                    cols = slice(h * dk, (h + 1) * dk)
                    for i in range(q.shape[1]):
                        for j in range(k.shape[1]):
                            inc_s += int(np.sum(q[b, i, cols] & k[b, j, cols]))
                            if s[b, h, i, j]:
                                inc_o += int(np.sum(v[b, j, cols]))
        assert c["counter_increments_score"] == inc_s
        assert c["counter_increments_output"] == inc_o
        # default K_S >= d_k and K_O >= N: the counters never saturate, so increments = sum of counters
        assert inc_s == sum(int(a.sum()) for a in _cat(log, f"blocks.{blk}.ssa/c_code"))
        assert inc_o == sum(int(a.sum()) for a in _cat(log, f"blocks.{blk}.ssa/p_code"))
        assert c["spikes_score"] == sum(int(a.sum()) for a in ss)
        assert c["spikes_output"] == sum(int(a.sum()) for a in _cat(log, f"blocks.{blk}.ssa/o_spikes"))
        # closed form = number of AND gates the logged counters imply (every C[i,j] sums d_k ANDs)
        assert c["and_evals_score"] == sum(a.size for a in _cat(log, f"blocks.{blk}.ssa/c_code")) * dk
        assert c["and_evals_output"] == sum(a.size for a in _cat(log, f"blocks.{blk}.ssa/p_code")) * ARCH.n_tokens
        assert c["comparator_ops_score"] == sum(a.size for a in _cat(log, f"blocks.{blk}.ssa/draw_s"))
        assert c["comparator_ops_output"] == sum(a.size for a in _cat(log, f"blocks.{blk}.ssa/draw_o"))


def test_increments_count_before_saturation():
    cfg = dataclasses.replace(CFG, ssa=SSAConfig(k_s=2, k_o=2))
    chip, runner, counts, log = _run(cfg, n=2, batches=(2,), threshold=0.02)
    c = counts.sites["blocks.0.ssa"]
    c_sum = sum(int(a.sum()) for a in _cat(log, "blocks.0.ssa/c_code"))
    assert c["counter_increments_score"] > c_sum  # some counters saturated at K_S = 2
    q, k = _cat(log, "lif.blocks.0.q/spikes"), _cat(log, "lif.blocks.0.k/spikes")
    ref = 0
    for qq, kk in zip(q, k):
        for h in range(ARCH.heads):
            a = qq[:, :, h * ARCH.d_k:(h + 1) * ARCH.d_k].astype(np.int64)
            b = kk[:, :, h * ARCH.d_k:(h + 1) * ARCH.d_k].astype(np.int64)
            ref += int(np.einsum("bid,bjd->", a, b))
    assert c["counter_increments_score"] == ref


def test_counts_are_additive_over_batches(run3):
    _, _, counts, _ = run3
    _, _, split, _ = _run(n=3, batches=(1, 2))
    assert split.sites == counts.sites
    assert split.tiles == counts.tiles


# ------------------------------------------------------------------------- table and energies
def test_table_default_has_sources_and_scaling():
    tab = en.load_energy_table()
    src = " ".join(tab.sources().values())
    for s in ("Horowitz", "Le Gallo", "Walden", "Murmann"):
        assert s in src
    text = en.default_table_path().read_text()
    assert text.count("ASSUMPTION") >= 5
    assert tab.digital_pJ("mult_int8_pJ") == pytest.approx(0.2)
    assert tab.add_pJ(32) == pytest.approx(0.1)
    assert tab.cell_read_pJ == pytest.approx(0.205)
    assert tab.adc_pJ(8) == pytest.approx(2.56)
    assert tab.memory_bit_pJ("read_8KB") == pytest.approx(10 / 64)
    half = en.load_energy_table(node_nm=22.5)
    assert half.digital_scale == pytest.approx(0.5)
    assert half.add_pJ(32) == pytest.approx(0.05)
    assert half.cell_read_pJ == pytest.approx(0.205)  # PCM and ADC are not node-scaled
    assert half.adc_pJ(8) == pytest.approx(2.56)


def test_table_override_and_errors(tmp_path):
    p = tmp_path / "t.toml"
    p.write_text('[adc]\nwalden_fom_fJ = 5.0\n[xpk1]\nstate_memory = "register"\n')
    tab = en.load_energy_table(p)
    assert tab.adc_pJ(8) == pytest.approx(1.28)
    assert tab.add_pJ(8) == pytest.approx(0.025)  # untouched entries keep their defaults
    p.write_text("[adc]\nfom = 5.0\n")
    with pytest.raises(en.EnergyTableError, match="adc.fom"):
        en.load_energy_table(p)
    p.write_text("[pcm]\ncell_read_pJ = -1\n")
    with pytest.raises(en.EnergyTableError, match="pcm.cell_read_pJ"):
        en.load_energy_table(p)
    p.write_text('[baseline]\nweight_memory = "read_2KB"\n')
    with pytest.raises(en.EnergyTableError, match="read_2KB"):
        en.load_energy_table(p)


def test_energy_report_is_consistent(run3):
    chip, runner, counts, log = run3
    rep = en.energy_report(counts)
    x, b = rep["xpk1"], rep["baseline"]
    assert x["energy_per_inference_nJ"] == pytest.approx(sum(x["by_category_nJ"].values()))
    assert x["energy_per_inference_nJ"] == pytest.approx(sum(x["by_block_nJ"].values()))
    assert x["energy_per_inference_nJ"] == pytest.approx(sum(x["by_site_nJ"].values()))
    assert b["energy_per_inference_nJ"] == pytest.approx(sum(b["by_block_nJ"].values()))
    assert rep["ratio_baseline_over_xpk1"] == pytest.approx(b["energy_per_inference_nJ"] / x["energy_per_inference_nJ"])
    cells = counts.total("cell_reads")
    assert x["by_category_nJ"]["pcm_read"] == pytest.approx(cells * 0.205 / 3 * 1e-3)
    adc = counts.total("adc_conversions")
    assert x["by_category_nJ"]["adc"] == pytest.approx(adc * 2.56 / 3 * 1e-3)
    json.dumps(rep)  # serialisable
    assert rep["counts"]["sites"]["blocks.0.ssa"]["and_evals_score"] == counts.sites["blocks.0.ssa"]["and_evals_score"]


def test_baseline_counts_closed_form():
    N, NP, F, D, H, dk, M, C = (ARCH.n_tokens, ARCH.n_patches, ARCH.token_features, ARCH.dim, ARCH.heads,
                                ARCH.d_k, ARCH.mlp, ARCH.n_classes)
    bc = en.baseline_counts(ARCH)
    macs = sum(c.get("macs", 0) for c in bc.values())
    assert macs == NP * F * D + ARCH.depth * (N * D * 3 * D + 2 * H * N * N * dk + N * D * D + 2 * N * D * M) + D * C
    assert sum(c.get("weight_bits", 0) for c in bc.values()) == 8 * sum(i * o for i, o in ARCH.linear_shapes().values())
    assert sum(c.get("sm_exps", 0) for c in bc.values()) == ARCH.depth * H * N * N
    assert sum(c.get("ln_rsqrt", 0) for c in bc.values()) == ARCH.depth * 2 * N + 1
    tab = en.load_energy_table()
    e = en.baseline_energy(ARCH, tab)
    assert e["by_category_nJ"]["mac"] == pytest.approx(macs * 0.3e-3)  # 0.2 (int8 mult) + 0.1 (32-bit add)


# ------------------------------------------------------------------------- CLI
def test_cmd_energy_json(tmp_path):
    mpath = tmp_path / "tiny.h5"
    save_float_model(random_float_model(ARCH, 0, threshold=0.3), mpath)
    hw = tmp_path / "hw.toml"
    CFG.save(hw)
    p = argparse.ArgumentParser()
    en.add_energy_parser(p.add_subparsers(dest="command"))
    args = p.parse_args(["energy", "--model", str(mpath), "--hardware", str(hw), "--dataset", "random",
                         "--limit", "2", "--json", "--quiet", "--device", "ideal"])
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert en.cmd_energy(args) == 0
    rep = json.loads(buf.getvalue())
    assert rep["samples"] == 2 and rep["model"] == "tiny"
    assert rep["xpk1"]["energy_per_inference_nJ"] > 0 and rep["baseline"]["energy_per_inference_nJ"] > 0
    args = p.parse_args(["energy", "--model", str(mpath), "--hardware", str(hw), "--dataset", "random",
                         "--limit", "1", "--quiet", "--node-nm", "22.5"])
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert en.cmd_energy(args) == 0
    assert "ratio" in buf.getvalue() and "Horowitz" in buf.getvalue()


# ------------------------------------------------------------------------- golden file
def test_counts_recomputed_from_golden_file(tmp_path, run3):
    """The spikes a golden file stores, replayed into a counter, give the live run's counts."""
    h5py = pytest.importorskip("h5py")
    golden = pytest.importorskip("bittrue.golden")
    chip, runner, counts, _ = run3
    x = en.random_tokens(ARCH, 3, seed=11)
    path = tmp_path / "g.h5"
    with h5py.File(path, "w", track_order=True) as f:
        w = golden.GoldenWriter(f, Runner(chip), ["encoder", "spikes", "ssa"], n_samples=3)
        golden.write_run(w, w.runner, x, np.arange(3), batch_size=2)
    replay = en.counts_from_golden(path, batch_size=2)
    assert replay.n_samples == 3 and replay.timesteps == runner.T
    assert replay.sites == counts.sites
    assert replay.tiles == counts.tiles
    p = argparse.ArgumentParser()
    en.add_energy_parser(p.add_subparsers(dest="command"))
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert en.cmd_energy(p.parse_args(["energy", "--golden", str(path), "--json", "--quiet"])) == 0
    rep = json.loads(buf.getvalue())
    assert rep["counts"]["sites"] == counts.sites


def test_multisink_routes_by_group(run3):
    """A counter beside another sink counts the same; the other sink only gets its own groups."""
    chip, runner, counts, _ = run3

    class Adc:
        signals = frozenset({"adc", "residual"})

        def __init__(self):
            self.paths = set()

        def __call__(self, path, t, data):
            self.paths.add(path)

    adc = Adc()
    counter = en.ActivityCounter(chip.arch, chip.config, runner.T)
    Runner(chip).run_batch(en.random_tokens(ARCH, 3, seed=11), np.arange(3), sink=en.MultiSink(counter, adc))
    assert counter.counts().sites == counts.sites
    assert adc.paths and all(p.endswith("/adc_code") or p.endswith("/residual_code") for p in adc.paths)
    from bittrue.run import SIGNALS

    class All:
        signals = frozenset(SIGNALS)

        def __init__(self):
            self.groups = {}

        def __call__(self, path, t, data):
            self.groups[path] = en.signal_group(path)

    everything = All()
    Runner(chip).run_batch(en.random_tokens(ARCH, 1, seed=11), np.arange(1), sink=everything)
    assert set(everything.groups.values()) == set(SIGNALS)  # every path has a group, every group is seen
    for g in SIGNALS:  # asking for one group yields exactly that group's paths
        one = All()
        one.signals = frozenset({g})
        Runner(chip).run_batch(en.random_tokens(ARCH, 1, seed=11), np.arange(1), sink=one)
        assert set(one.groups.values()) == {g}, g


def test_readout_counts_follow_the_readout_tokens():
    """A decoder reads out several query tokens (mimo-icl: 4): the head's conversions, requantisations, LIF
    updates and logit adds are counted per readout token, as the run performs them (it once counted one)."""
    from bittrue.compile import compile_model
    from bittrue.model import ARCHITECTURES, random_float_model
    from bittrue.program import program
    from bittrue.run import Runner

    arch = ARCHITECTURES["mimo-icl"]
    assert arch.n_readout > 1
    cfg = HardwareConfig()
    chip = program(compile_model(random_float_model(arch, seed=2, threshold=0.5), cfg, None), "ideal")
    runner = Runner(chip, timesteps=2)
    seen = {"adc": 0, "y": 0, "v": 0}

    class Sink:
        signals = {"adc", "requant", "membrane"}

        def __call__(self, path, t, data):
            if path == "head/adc_code":
                seen["adc"] += data.size
            elif path == "head/y_code":
                seen["y"] += data.size
            elif path == "lif.head.in/v_code":
                seen["v"] += data.size

    x = np.random.default_rng(0).integers(0, 256, (3, arch.n_patches, arch.token_features)).astype(np.uint8)
    runner.run_batch(x, np.arange(3, dtype=np.int64), sink=Sink())
    c = en.closed_form_counts(arch, cfg, 2, 3)
    assert c["head"]["adc_conversions"] == seen["adc"] > 0
    assert c["head"]["requant_macs"] == seen["y"]
    assert c["lif.head.in"]["lif_updates"] == seen["v"]
    assert c["head"]["logit_adds"] == 3 * 2 * arch.n_readout * arch.n_classes
