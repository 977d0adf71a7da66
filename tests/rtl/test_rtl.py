"""RTL reference (bittrue/rtl, docs/rtl.md) and the golden file's replay attributes (schema 1.2).

The golden files are written at test time (a random digits or mimo-icl model, 2 samples, T = 2), so no
number is pinned.  Tests that simulate need Icarus Verilog (``iverilog``, ``vvp``) and cocotb; they skip
with that reason where either is missing (``.ci/run`` installs both).  The mutation tests edit an exported
copy of the sources and check that ``rtl check --rtl-dir`` fails naming the signal.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from bittrue import cli, rtl
from bittrue.model import ARCHITECTURES, random_float_model, save_float_model

SAMPLES = 2
T = 2
MISSING = rtl.tools_missing()
needs_sim = pytest.mark.skipif(MISSING is not None, reason=f"RTL simulation needs iverilog and cocotb (missing: "
                                                           f"{MISSING}): apt-get install iverilog")

#: saturating counters (K_S = K_O = 2: C counts up to 16 coincidences, P up to 17 tokens), a 20-bit LFSR
#: with one register per comparator row, and one clock per draw (overlapping draws, spec 2.2)
NONDEFAULT = """[tile]
calibration_samples = 32
[lfsr]
width = 20
sharing = "row"
[ssa]
k_s = 2
k_o = 2
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("rtl")
    for name in ("digits", "mimo-icl"):
        save_float_model(random_float_model(ARCHITECTURES[name], 1, threshold=0.5), d / f"{name}.h5")
    (d / "hw.toml").write_text("[tile]\ncalibration_samples = 32\n")
    (d / "sat.toml").write_text(NONDEFAULT)
    (d / "spd1.toml").write_text("[tile]\ncalibration_samples = 32\n[lfsr]\nsteps_per_draw = 1\nsharing = \"array\"\n")
    return d


def _golden(setup, name: str, model: str = "digits", hw: str = "hw.toml", *extra: str) -> Path:
    out = setup / name
    if not out.exists():
        ds = ["--dataset", "mimo"] if model == "mimo-icl" else []
        rc = cli.main(["golden", "--samples", str(SAMPLES), "-o", str(out), "--model", str(setup / f"{model}.h5"),
                       "--hardware", str(setup / hw), "--timesteps", str(T), "-q", *ds, *extra])
        assert rc == 0
    return out


@pytest.fixture(scope="module")
def golden(setup):
    return _golden(setup, "g.h5")


def _unit(f, unit: str):
    return next(g for g in f["layers"].values() if g.attrs["unit"] == unit)


def _rtl(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = cli.main(["rtl", *argv])
    out, err = capsys.readouterr()
    return rc, out.strip(), err.strip()


# ----------------------------------------------------------------------------- replay attributes (no simulator)
def test_replay_attributes_are_resolved(setup):
    """Every parameter a replay needs is in the file, resolved (no 0-means-default), and consistent with the data."""
    with h5py.File(_golden(setup, "sat.h5", hw="sat.toml"), "r") as f:
        assert f.attrs["schema_version"] == "1.3.0"
        cfg = json.loads(f.attrs["config_json"])
        assert cfg["lfsr"]["steps_per_draw"] == 0 and cfg["lfsr"]["taps"] == []  # the config keeps 0 / "default"
        ssa = _unit(f, "blocks.0.ssa").attrs
        assert (ssa["k_s"], ssa["k_o"], ssa["draw_bits_s"], ssa["draw_bits_o"]) == (2, 2, 1, 1)
        assert (ssa["steps_per_draw_s"], ssa["steps_per_draw_o"]) == (1, 1)
        assert ssa["lfsr_width"] == 20 and list(ssa["lfsr_taps"]) == [20, 17]
        assert ssa["lfsr_tap_mask"] == (1 << 19) | (1 << 16)
        assert (ssa["sharing"], ssa["sharing_name"], ssa["mask_name"]) == (1, "row", "diagonal")
        assert (ssa["n_tokens"], ssa["d_k"], ssa["heads"]) == (17, 16, 4)
        assert list(ssa["head_col0"]) == [0, 16, 32, 48]
        assert ssa["q_signal"] == "lif.blocks.0.q/spikes" and ssa["v_signal"] == "lif.blocks.0.v/spikes"
        seeds = _unit(f, "blocks.0.ssa")["lfsr_seed_s"]
        assert list(seeds.attrs["register_dims"]) == ["head", "row", "col"]
        assert list(seeds.attrs["register_shape"]) == [4, 17, 1]  # one register per row
        assert int(np.prod(seeds.attrs["register_shape"])) == seeds.shape[1]
        # the counters really saturate in this configuration (what the non-default replay is for)
        assert _unit(f, "blocks.0.ssa")["c_code"][:].max() == 2 and _unit(f, "blocks.0.ssa")["p_code"][:].max() == 2
        enc = _unit(f, "encoder").attrs
        assert (enc["draw_bits"], enc["steps_per_draw"], enc["n_rows"], enc["n_cols"]) == (8, 8, 16, 4)
        lif = _unit(f, "lif.blocks.1.mlp_in").attrs
        assert list(lif["input_signals"]) == ["blocks.0/residual_code", "blocks.1.proj/y_code"]
        assert _unit(f, "lif.blocks.0.k").attrs["input_col0"] == 64
        xb = _unit(f, "blocks.0.mlp1").attrs
        assert xb["chip_layer"] in f and xb["s_shift"] == f[xb["chip_layer"]].attrs["s_shift"]


def test_replayable_refuses_incomplete_signal_choice(setup, capsys):
    out = setup / "r.h5"
    rc = cli.main(["golden", "--samples", "1", "-o", str(out), "--model", str(setup / "digits.h5"), "-q",
                   "--signals", "ssa", "--replayable"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and not out.exists()
    assert err.count("\n") == 0 and "also needs seeds, spikes" in err, err
    rc = cli.main(["golden", "--samples", "1", "-o", str(out), "--model", str(setup / "digits.h5"), "-q",
                   "--signals", "spikes,adc", "--replayable"])
    assert rc == 2 and "also needs requant" in capsys.readouterr().err
    log = setup / "log.h5"
    rc = cli.main(["infer", "--limit", "1", "--log", str(log), "--model", str(setup / "digits.h5"), "-q",
                   "--log-signals", "spikes,adc", "--replayable"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and not log.exists() and "--log-signals with --replayable" in err and "requant" in err


def test_previous_schema_still_verifies_but_is_not_replayable(setup, tmp_path, capsys):
    """A 1.1.0 file (this layout without the replay attributes) verifies; rtl check says why it cannot replay it."""
    old = tmp_path / "old.h5"
    old.write_bytes(_golden(setup, "g.h5").read_bytes())
    with h5py.File(old, "r+") as f:
        f.attrs["schema_version"] = "1.1.0"
        for g in f["layers"].values():
            for k in [k for k in g.attrs if k not in ("encoding-type", "encoding-version", "unit", "index", "kind",
                                                      "layer_id", "tile_rows", "tile_cols", "n_row_tiles",
                                                      "n_col_tiles", "input_signal", "theta_code")]:
                del g.attrs[k]
            for ds in g.values():
                for k in ("register_shape", "register_dims"):
                    if k in ds.attrs:
                        del ds.attrs[k]
    assert cli.main(["verify", str(old), "-q"]) == 0
    if MISSING is None:
        rc, out, err = _rtl(capsys, "check", str(old))
        assert rc == 2 and "schema 1.1.0 holds no replay attributes" in err


def test_testbenches_import_nothing_of_bittrue():
    allowed = {"cocotb", "numpy", "h5py", "json", "os", "golden_io", "__future__"}
    for path in (rtl.source_dir() / "tb").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [node.module or ""]
            else:
                continue
            for m in mods:
                assert m.split(".")[0] in allowed, f"{path.name} imports {m}"


def test_export_writes_sources_and_refuses_overwrite(tmp_path, capsys):
    dest = tmp_path / "x"
    rc, out, _ = _rtl(capsys, "export", str(dest))
    assert rc == 0
    names = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert "hdl/xpk_ssa_head.v" in names and "tb/tb_ssa.py" in names and "tb/golden_io.py" in names
    rc, _, err = _rtl(capsys, "export", str(dest))
    assert rc == 2 and "--force" in err
    assert _rtl(capsys, "export", str(dest), "--force")[0] == 0


def test_check_without_tools_exits_2_with_install_line(golden, capsys, monkeypatch):
    monkeypatch.setattr(rtl.shutil, "which", lambda name: None)
    rc, out, err = _rtl(capsys, "check", str(golden))
    assert rc == 2 and "apt-get install -y iverilog" in err and 'pip install "bittrue[rtl]"' in err
    assert err.count("\n") == 0


# ----------------------------------------------------------------------------- simulation
@needs_sim
@pytest.mark.parametrize("block", sorted(rtl.BLOCKS))
def test_sources_are_verilog_2005(block, tmp_path):
    """Every top elaborates under ``iverilog -g2005`` (the runner itself compiles with -g2012)."""
    import subprocess

    top, _, sources = rtl.BLOCKS[block]
    hdl = rtl.source_dir() / "hdl"
    p = subprocess.run(["iverilog", "-g2005", "-Wall", "-s", top, "-o", str(tmp_path / "a.vvp")]
                       + [str(hdl / s) for s in sources], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "warning" not in p.stderr.lower(), p.stderr


def _expected_counts(path) -> dict[str, int]:
    """Values per signal a full replay must compare: every element of every replayed dataset."""
    out: dict[str, int] = {}
    with h5py.File(path, "r") as f:
        for g in f["layers"].values():
            kind = str(g.attrs["kind"])
            for name, ds in g.items():
                n = int(np.prod(ds.shape[:-1])) * int(ds.attrs.get("packed_length", ds.shape[-1]))
                key = {("encoder", "draw"): "encoder/draw", ("encoder", "spikes"): "encoder/spikes",
                       ("crossbar", "y_code"): "colpath/y_code", ("lif", "v_code"): "lif/v_code",
                       ("lif", "spikes"): "lif/spikes"}.get((kind, name))
                if kind == "ssa" and not name.startswith("lfsr_seed"):
                    key = f"ssa/{name}"
                if key:
                    out[key] = out.get(key, 0) + n
    return out


@needs_sim
@pytest.mark.parametrize("name,model,hw", [("g.h5", "digits", "hw.toml"), ("m.h5", "mimo-icl", "hw.toml"),
                                           ("sat.h5", "digits", "sat.toml"), ("spd1.h5", "digits", "spd1.toml")])
def test_rtl_check_replays_every_value(setup, capsys, name, model, hw):
    path = _golden(setup, name, model, hw)
    rc, out, err = _rtl(capsys, "check", str(path), "--json", "-q")
    assert rc == 0, out
    res = json.loads(out)
    assert res["ok"] and res["mismatch"] is None and res["samples"] == SAMPLES
    assert res["values"] == _expected_counts(path)
    cyc = {b["block"]: b["cycles"] for b in res["blocks"]}
    with h5py.File(path, "r") as f:
        enc, ssa = _unit(f, "encoder").attrs, _unit(f, "blocks.0.ssa").attrs
        assert cyc["encoder"]["draw"] == enc["steps_per_draw"] + 1  # docs/rtl.md timing
        assert cyc["ssa"]["step"] == (max(ssa["d_k"], ssa["steps_per_draw_s"]) + max(ssa["n_tokens"],
                                      ssa["steps_per_draw_o"]) + 3)
        assert cyc["colpath"]["token"] == _unit(f, "embed").attrs["n_row_tiles"] + 1


def _mutant(tmp_path, capsys, fname: str, old: str, new: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    dest = tmp_path / "mut"
    assert _rtl(capsys, "export", str(dest))[0] == 0
    p = dest / "hdl" / fname
    text = p.read_text()
    assert text.count(old) == 1, f"{old!r} not found once in {fname}"
    p.write_text(text.replace(old, new))
    return dest


@needs_sim
def test_mutation_score_comparator_le(golden, tmp_path, capsys):
    src = _mutant(tmp_path, capsys, "xpk_ssa_head.v", "({1'b0, ds} < c_reg[i*N+j])", "({1'b0, ds} <= c_reg[i*N+j])")
    rc, out, _ = _rtl(capsys, "check", str(golden), "--rtl-dir", str(src), "--blocks", "ssa", "-q")
    last = out.splitlines()[-1]
    assert rc == 1 and "MISMATCH sample" in last, out
    assert "layer blocks.0.ssa block 0 head " in last and "signal s_spikes t " in last
    assert "index (head=" in last and "query=" in last and "key=" in last


@needs_sim
def test_mutation_one_clock_short_per_draw(golden, tmp_path, capsys):
    src = _mutant(tmp_path, capsys, "xpk_ssa_head.v", "(cyc < STEPS_S)", "(cyc < STEPS_S - 1)")
    rc, out, _ = _rtl(capsys, "check", str(golden), "--rtl-dir", str(src), "--blocks", "ssa", "-q")
    last = out.splitlines()[-1]
    assert rc == 1 and "signal draw_s t 0 " in last and "head 0" in last, out
    src = _mutant(tmp_path / "e", capsys, "xpk_draw_ctl.v", "cnt <= STEPS;", "cnt <= STEPS - 1;")
    rc, out, _ = _rtl(capsys, "check", str(golden), "--rtl-dir", str(src), "--blocks", "encoder", "-q")
    last = out.splitlines()[-1]
    assert rc == 1 and "layer encoder signal draw t 0 index (patch=" in last, out


@needs_sim
def test_mutation_requantiser_and_lif(golden, tmp_path, capsys):
    """A requantiser shifting logically instead of arithmetically, and a LIF firing on > instead of >=, are caught."""
    src = _mutant(tmp_path, capsys, "xpk_colpath.v", "sh = sum >>> s_shift;", "sh = sum >> s_shift;")
    rc, out, _ = _rtl(capsys, "check", str(golden), "--rtl-dir", str(src), "--blocks", "colpath", "-q")
    assert rc == 1 and "signal y_code" in out.splitlines()[-1], out
    src = _mutant(tmp_path / "l", capsys, "xpk_lif.v", "fire = vs >= th;", "fire = vs > th;")
    rc, out, _ = _rtl(capsys, "check", str(golden), "--rtl-dir", str(src), "--blocks", "lif", "-q")
    assert rc == 1 and "layer lif." in out.splitlines()[-1], out
