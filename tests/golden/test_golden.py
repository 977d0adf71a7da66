"""Golden vectors and activation logs (bittrue.golden, docs/golden-schema.md).

Export -> verify round trip, mutation tests (one flipped bit of an ADC code, a seed, a conductance
and a spike must make ``verify`` exit 1 and name it), byte-identical re-export, the required
attributes on every node, and an independent LFSR that reproduces every stored draw from the stored
seeds alone.  Everything runs in-process on 2 samples, T = 2, with a random model and a small
calibration set, so the module takes a few seconds once the kernels are compiled.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from bittrue import cli
from bittrue.golden import GoldenFile
from bittrue.model import ARCHITECTURES, random_float_model, save_float_model

#: the spec's default register (2.1): width 16, taps 16, 14, 13, 11 -- written out here on purpose,
#: so the LFSR check below does not borrow anything from bittrue
SPEC_WIDTH = 16
SPEC_TAPS = (16, 14, 13, 11)
SAMPLES = 2
T = 2


def _sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("golden")
    model = d / "model.h5"
    save_float_model(random_float_model(ARCHITECTURES["digits"], 1, threshold=0.5), model)
    hw = d / "hw.toml"
    hw.write_text("[tile]\ncalibration_samples = 32\n")
    return d, ["--model", str(model), "--hardware", str(hw), "--timesteps", str(T), "-q"]


def _export(setup, name: str, *extra: str) -> Path:
    d, opts = setup
    out = d / name
    rc = cli.main(["golden", "--samples", str(SAMPLES), "-o", str(out), *opts, *extra])
    assert rc == 0
    return out


@pytest.fixture(scope="module")
def golden(setup):
    return _export(setup, "g.h5")


def _verify(path, capsys, *extra) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = cli.main(["verify", str(path), "-q", *extra])
    out, err = capsys.readouterr()
    return rc, out.strip(), err.strip()


def _unit(f, unit: str) -> h5py.Group:
    for name in f["layers"]:
        if f["layers"][name].attrs["unit"] == unit:
            return f["layers"][name]
    raise KeyError(unit)


# ----------------------------------------------------------------------------- round trip
def test_export_then_verify_passes(golden, capsys):
    rc, out, err = _verify(golden, capsys)
    assert rc == 0, out
    assert out.startswith(f"verify {golden}: OK {SAMPLES} samples, T = {T}") and "\n" not in out


def test_verify_is_batch_size_independent(golden, capsys):
    rc, out, _ = _verify(golden, capsys, "--batch-size", "1")
    assert rc == 0, out


def test_same_export_twice_is_byte_identical(setup, golden, capsys):
    again = _export(setup, "g_again.h5")
    assert _sha(again) == _sha(golden)
    assert _sha(golden) in capsys.readouterr().out


def test_stored_content(golden):
    from bittrue.run import SIGNALS

    with h5py.File(golden) as f:
        a = f.attrs
        assert a["schema"] == "bittrue-golden" and a["schema_version"] == "1.3.0" and a["noise_generator"] == "weyl-lowbias32-ih8"
        assert json.loads(a["signals"]) == list(SIGNALS)
        assert int(a["timesteps"]) == T and int(a["n_samples"]) == SAMPLES
        assert list(f["inputs/sample_id"][()]) == list(range(SAMPLES))
        assert f["inputs/feature_code"].shape == (SAMPLES, 16, 4)
        units = [f["layers"][g].attrs["unit"] for g in f["layers"]]
        # every hardware unit, in data-flow order
        assert units[:5] == ["input", "encoder", "embed", "lif.blocks.0.in", "blocks.0.qkv"]
        assert units[-2:] == ["lif.head.in", "head"]
        ssa = _unit(f, "blocks.0.ssa")
        assert set(ssa) == {"lfsr_seed_s", "lfsr_seed_o", "c_code", "s_spikes", "p_code", "o_spikes",
                            "draw_s", "draw_o"}
        qkv = _unit(f, "blocks.0.qkv")
        assert set(qkv) == {"i_code", "noise_code", "adc_code", "y_code"}
        assert qkv.attrs["input_signal"] == "lif.blocks.0.in/spikes"
        assert qkv["adc_code"].shape == (SAMPLES, T, 17, 1, 192)
        assert np.any(qkv["noise_code"][()] != 0)  # pcm: output noise is on


# ----------------------------------------------------------------------------- attributes
REQUIRED_ROOT = ("schema", "schema_version", "creator", "bittrue_version", "numpy_version", "numba_version",
                 "config_json", "root_seed", "program_seed", "drift_time_s", "timesteps", "model_sha256",
                 "image_sha256", "encoding-type", "encoding-version")
REQUIRED_DS = ("bit_width", "signed", "frac_bits", "units", "dims", "encoding-type", "encoding-version")


def test_every_node_carries_required_attributes(golden):
    with h5py.File(golden) as f:
        for k in REQUIRED_ROOT:
            assert k in f.attrs, k
        json.loads(f.attrs["config_json"])
        assert not any("time" in k and k != "drift_time_s" for k in f.attrs if k != "timesteps")
        seen = []

        def visit(name, obj):
            assert "encoding-type" in obj.attrs and "encoding-version" in obj.attrs, name
            if isinstance(obj, h5py.Dataset):
                seen.append(name)
                for k in REQUIRED_DS:
                    assert k in obj.attrs, (name, k)
                assert len(obj.attrs["dims"]) == obj.ndim, name
                if obj.attrs["encoding-type"] == "int-code":
                    assert obj.dtype.kind in "iu", name
                    bw = int(obj.attrs["bit_width"])
                    assert 1 <= bw <= obj.dtype.itemsize * 8, name
                    if obj.size and obj.dtype.itemsize < 8:
                        v = obj[()]
                        lo = -(1 << (bw - 1)) if obj.attrs["signed"] else 0
                        hi = (1 << (bw - 1)) - 1 if obj.attrs["signed"] else (1 << bw) - 1
                        assert lo <= v.min() and v.max() <= hi, name
                if not name.startswith("chip/"):
                    assert obj.chunks is not None and obj.compression == "gzip", name
                    assert obj.shuffle and obj.fletcher32, name
                    assert obj.maxshape[0] is None and obj.attrs["dims"][0] == "sample", name
                    assert not any(str(d).startswith("dim") for d in obj.attrs["dims"]), name  # all named

        f.visititems(visit)
        assert len(seen) > 100


# ----------------------------------------------------------------------------- mutations
def _mutant(golden, tmp_path, edit) -> Path:
    p = tmp_path / "mutant.h5"
    shutil.copyfile(golden, p)
    with h5py.File(p, "r+") as f:
        edit(f)
    return p


def _poke(ds, idx, fn) -> int:
    """``ds[idx] = fn(ds[idx])`` (the whole dataset is read and written back); returns the old value."""
    v = ds[()]
    old = int(v[idx])
    v[idx] = fn(v[idx])
    ds[...] = v
    return old


def test_mutation_adc_code(golden, tmp_path, capsys):
    idx = (1, 1, 3, 0, 17)  # sample 1, t 1, token 3, row tile 0, column 17

    def edit(f):
        edit.orig = _poke(_unit(f, "blocks.0.qkv")["adc_code"], idx, lambda x: x ^ 1)

    p = _mutant(golden, tmp_path, edit)
    rc, out, _ = _verify(p, capsys)
    assert rc == 1
    assert (f"MISMATCH sample 1 layer blocks.0.qkv signal adc_code t 1 index (token=3, row_tile=0, column=17): "
            f"expected {edit.orig ^ 1}, actual {edit.orig}") in out
    assert "\n" not in out


def test_mutation_seed(golden, tmp_path, capsys):
    def edit(f):
        edit.orig = _poke(_unit(f, "blocks.1.ssa")["lfsr_seed_s"], (0, 100), lambda x: x ^ (1 << 3))

    rc, out, _ = _verify(_mutant(golden, tmp_path, edit), capsys)
    assert rc == 1
    assert (f"MISMATCH sample 0 layer blocks.1.ssa signal lfsr_seed_s t - index (register=100): "
            f"expected {edit.orig ^ 8}, actual {edit.orig}") in out


def test_mutation_conductance(golden, tmp_path, capsys):
    def edit(f):
        _poke(f["chip/layers/01_blocks.0.qkv/g_pos_code"], (5, 17), lambda x: x ^ (1 << 2))

    rc, out, _ = _verify(_mutant(golden, tmp_path, edit), capsys)
    assert rc == 1
    assert "MISMATCH sample - layer blocks.0.qkv signal g_pos_code" in out
    assert "/chip/layers/01_blocks.0.qkv/g_pos_code" in out


def test_mutation_spike(golden, tmp_path, capsys):
    # lif.blocks.0.q spikes are bit-packed along the neuron axis, LSB first: neuron 9 = byte 1, bit 1
    def edit(f):
        ds = _unit(f, "lif.blocks.0.q")["spikes"]
        assert ds.attrs["encoding-type"] == "packed-bits" and ds.attrs["packed_length"] == 64
        edit.orig = (_poke(ds, (0, 1, 2, 1), lambda x: x ^ (1 << 1)) >> 1) & 1

    rc, out, _ = _verify(_mutant(golden, tmp_path, edit), capsys)
    assert rc == 1
    assert (f"MISMATCH sample 0 layer lif.blocks.0.q signal spikes t 1 index (token=2, neuron=9): "
            f"expected {1 - edit.orig}, actual {edit.orig}") in out


def test_mutation_padding_bit(golden, tmp_path, capsys):
    # encoder spikes: 4 features per patch -> one byte whose 4 high bits are padding and must be 0
    def edit(f):
        _poke(_unit(f, "encoder")["spikes"], (1, 0, 7, 0), lambda x: x | 0x80)

    rc, out, _ = _verify(_mutant(golden, tmp_path, edit), capsys)
    assert rc == 1 and "layer encoder signal spikes t 0" in out and "padding" in out


def test_mutation_logits(golden, tmp_path, capsys):
    def edit(f):
        _poke(f["outputs/logits"], (1, 4), lambda x: x + 1)

    rc, out, _ = _verify(_mutant(golden, tmp_path, edit), capsys)
    assert rc == 1 and "sample 1 layer outputs signal logits t - index (class=4)" in out


# ----------------------------------------------------------------------------- bad input
def test_verify_bad_input(golden, tmp_path, capsys):
    rc, out, err = _verify(tmp_path / "missing.h5", capsys)
    assert rc == 2 and "file not found" in err and "\n" not in err
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    rc, _, err = _verify(junk, capsys)
    assert rc == 2 and "not an HDF5 file" in err
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("x", data=[1])
    rc, _, err = _verify(other, capsys)
    assert rc == 2 and "not a bittrue golden file" in err
    newer = _mutant(golden, tmp_path, lambda f: f.attrs.__setitem__("schema_version", "2.0.0"))
    rc, _, err = _verify(newer, capsys)
    assert rc == 2 and "major version 2" in err
    minor = _mutant(golden, tmp_path, lambda f: f.attrs.__setitem__("schema_version", "1.7.0"))
    assert _verify(minor, capsys)[0] == 0


def test_files_before_1_3_keep_the_old_input_name(golden, tmp_path, capsys):
    """Schema 1.3.0 renamed the encoder input ``input/p_code`` to ``input/prob_code`` (the SSA output counters keep
    ``p_code``).  A 1.2.0 file stores the old name: it reads under the new one and verifies; the same layout
    claiming 1.3.0 does not (the stored dataset is not one the replay produces: exit 1)."""
    def old_name(version):
        def edit(f):
            g = _unit(f, "input")
            g.move("prob_code", "p_code")
            g["p_code"].attrs["signal"] = "input/p_code"
            f.attrs["schema_version"] = version
        return edit

    with GoldenFile(golden) as gf:
        want = gf.read("input/prob_code")
    old = _mutant(golden, tmp_path, old_name("1.2.0"))
    with GoldenFile(old) as gf:
        assert "input/p_code" not in gf.signals()
        assert np.array_equal(gf.read("input/prob_code"), want)
        assert gf.read("blocks.0.ssa/p_code").shape[-1] == ARCHITECTURES["digits"].d_k  # SSA P: unchanged
    assert _verify(old, capsys)[0] == 0
    shutil.copyfile(golden, tmp_path / "keep.h5")
    wrong = _mutant(tmp_path / "keep.h5", tmp_path, old_name("1.3.0"))
    rc, out, _ = _verify(wrong, capsys)
    assert rc == 1 and "prob_code" in out and "missing" in out


def test_verify_refuses_corrupt_or_incomplete_files(golden, tmp_path, capsys):
    """Corrupt content gives one line and exit 2, never a traceback: a damaged compressed chunk, a missing
    ``dims`` attribute, missing outputs, float data where the schema stores integer codes."""
    def damage_chunk(p):
        with h5py.File(p, "r") as f:
            ds = _unit(f, "blocks.0.qkv")["adc_code"]
            off = ds.id.get_chunk_info(0).byte_offset
        with open(p, "r+b") as fh:
            fh.seek(off + 8)
            fh.write(b"\xff" * 16)
    cases = [
        (lambda f: _unit(f, "blocks.0.qkv")["adc_code"].attrs.__delitem__("dims"), "corrupt or inconsistent"),
        (lambda f: f["outputs"].__delitem__("logits"), "/outputs/logits is missing"),
        (lambda f: (f.__delitem__("outputs/prediction"),
                    f.create_dataset("outputs/prediction", data=np.zeros(f["inputs/sample_id"].shape, np.float64))),
         "integer codes"),
    ]
    for edit, msg in cases:
        rc, _, err = _verify(_mutant(golden, tmp_path, edit), capsys)
        assert rc == 2 and msg in err and "\n" not in err, err
    p = _mutant(golden, tmp_path, lambda f: None)
    damage_chunk(p)
    rc, _, err = _verify(p, capsys)
    assert rc == 2 and "corrupt" in err and "\n" not in err, err


def test_verify_refuses_out_of_range_chip(golden, tmp_path, capsys):
    """A chip whose integers leave the ranges the kernels are exact in is refused (exit 2, one line), not run."""
    cases = [
        ("chip/image/layers/01_blocks.0.qkv/i_fs_code", (0,), lambda x: 0, "i_fs_code outside 1..2147483648"),
        ("chip/image/layers/01_blocks.0.qkv/sigma_code", (0,), lambda x: -1, "sigma_code outside 0.."),
        ("chip/layers/01_blocks.0.qkv/g_neg_code", (3, 4), lambda x: -7, "g_neg_code outside 0..32767"),
        ("chip/layers/02_blocks.0.proj/m_code", (2,), lambda x: 1 << 40, "m_code outside"),
    ]
    for key, idx, fn, msg in cases:
        rc, _, err = _verify(_mutant(golden, tmp_path, lambda f: _poke(f[key], idx, fn)), capsys)
        assert rc == 2 and msg in err and "\n" not in err, (key, err)


def test_golden_refuses_overwrite(setup, golden, capsys):
    d, opts = setup
    before = _sha(golden)
    capsys.readouterr()
    assert cli.main(["golden", "--samples", "1", "-o", str(golden), *opts]) == 2
    assert "--force" in capsys.readouterr().err
    assert _sha(golden) == before


# ----------------------------------------------------------------------------- independent LFSR
def _lfsr_draws(seeds: np.ndarray, n_draws: int, k: int, steps: int) -> np.ndarray:
    """Vectorised shift-left Fibonacci LFSR of spec 2.1/2.2: (n_draws, *seeds.shape) k-bit draws."""
    s = seeds.astype(np.uint64)
    full = np.uint64((1 << SPEC_WIDTH) - 1)
    out = []
    for _ in range(n_draws):
        for _ in range(steps):
            fb = np.zeros_like(s)
            for t in SPEC_TAPS:
                fb ^= (s >> np.uint64(t - 1)) & np.uint64(1)
            s = ((s << np.uint64(1)) | fb) & full
        out.append(s & np.uint64((1 << k) - 1))
    return np.stack(out)


def test_independent_lfsr_reproduces_every_draw(golden):
    from bittrue.golden import GoldenFile

    with GoldenFile(golden) as gf:
        cfg = json.loads(gf.attrs["config_json"])
        arch = json.loads(gf.attrs["arch_json"])
        assert cfg["lfsr"]["width"] == SPEC_WIDTH and cfg["lfsr"]["taps"] == []
        assert cfg["lfsr"]["sharing"] == "comparator" and cfg["lfsr"]["steps_per_draw"] == 0
        n_tok = arch["n_patches"] + 1
        # spec 3.2 / 3.4 defaults: K_S = K_O = 16 (d_k = 16 here), so 4-bit draws with 4 clocks each
        assert cfg["ssa"] == {"k_s": 16, "k_o": 16} and arch["d_k"] == 16
        k_s = k_o = 4
        ssa = _unit(gf.f, "blocks.0.ssa").attrs  # the file's resolved values (schema 1.2 replay attributes) agree
        assert (int(ssa["draw_bits_s"]), int(ssa["draw_bits_o"])) == (k_s, k_o)
        assert (ssa["k_s"], ssa["k_o"]) == (16, 16)
        assert (ssa["steps_per_draw_s"], ssa["steps_per_draw_o"]) == (k_s, k_o)  # steps_per_draw = 0: k clocks
        k_e = cfg["encoder"]["bits"]
        # encoder: one register per comparator (patch, feature), k = 8 bits, steps = k
        seeds = gf.read("encoder/lfsr_seed")
        draws = gf.read("encoder/draw")
        ref = _lfsr_draws(seeds, T, k_e, k_e)  # (T, S, n_reg)
        assert np.array_equal(np.moveaxis(ref, 0, 1).reshape(draws.shape), draws)
        p = gf.read("input/prob_code")
        spikes = gf.read("encoder/spikes")
        assert np.array_equal(spikes, (draws < p[:, None]).astype(np.uint8))
        n_checked = draws.size
        diag = ~np.eye(n_tok, dtype=bool)  # the digits model masks the diagonal (spec 3.2)
        for b in range(arch["depth"]):
            u = f"blocks.{b}.ssa"
            for ph, k, cnt, spk in (("s", k_s, "c_code", "s_spikes"), ("o", k_o, "p_code", "o_spikes")):
                seeds = gf.read(f"{u}/lfsr_seed_{ph}")
                draws = gf.read(f"{u}/draw_{ph}")
                ref = _lfsr_draws(seeds, T, k, k)
                assert np.array_equal(np.moveaxis(ref, 0, 1).reshape(draws.shape), draws), (u, ph)
                c = gf.read(f"{u}/{cnt}")
                s = gf.read(f"{u}/{spk}")
                fire = draws < c
                if ph == "s":
                    fire &= diag
                assert np.array_equal(s, fire.astype(np.uint8)), (u, ph)
                n_checked += draws.size
            # S == (draw < C) elementwise off the masked diagonal, and S == 0 on it
            s = gf.read(f"{u}/s_spikes")
            assert not s[..., np.arange(n_tok), np.arange(n_tok)].any()
        assert n_checked > 10_000


def test_galois_agrees_on_stored_registers(golden):
    galois = pytest.importorskip("galois")
    from bittrue.golden import GoldenFile

    with GoldenFile(golden) as gf:
        seeds = gf.read("blocks.0.ssa/lfsr_seed_o")
        draws = gf.read("blocks.0.ssa/draw_o")
        k = int(_unit(gf.f, "blocks.0.ssa").attrs["draw_bits_o"])  # log2 K_O, resolved
    assert k == 4  # K_O = 16, the spec default
    flat = draws.reshape(draws.shape[0], T, -1)
    for sample, reg in ((0, 0), (1, 777)):
        seed = int(seeds[sample, reg])
        lf = galois.FLFSR(galois.Poly.Degrees(list(SPEC_TAPS) + [0]),
                          state=[(seed >> i) & 1 for i in range(SPEC_WIDTH)])
        for t in range(T):
            lf.step(k)
            state = sum(int(bit) << i for i, bit in enumerate(lf.state))
            assert flat[sample, t, reg] == state & ((1 << k) - 1)


# ----------------------------------------------------------------------------- infer --log
def test_infer_log_streams_chosen_signals(setup, capsys):
    d, opts = setup
    log = d / "run.h5"
    argv = ["infer", "--limit", "3", "--batch-size", "2", "--log", str(log), "--log-signals", "spikes,adc", *opts]
    assert cli.main(argv) == 0
    assert not list(d.glob(".run.h5.*"))  # the temporary file was renamed into place
    with h5py.File(log) as f:
        assert f.attrs["kind"] == "log" and int(f.attrs["n_samples"]) == 3
        assert json.loads(f.attrs["signals"]) == ["spikes", "adc"]
        names = {str(f["layers"][g][n].attrs["signal"]).split("/")[1] for g in f["layers"] for n in f["layers"][g]}
        assert names == {"spikes", "adc_code"}  # LIF spikes; encoder and SSA spikes are other groups
        ds = _unit(f, "blocks.0.mlp1")["adc_code"]
        assert ds.shape[0] == 3 and ds.maxshape[0] is None and ds.chunks[0] >= 1
    rc, out, _ = _verify(log, capsys)
    assert rc == 0, out
    before = _sha(log)
    assert cli.main(argv) == 2  # no overwrite without --force
    assert "--force" in capsys.readouterr().err and _sha(log) == before
    assert cli.main(argv + ["--force"]) == 0
    assert _sha(log) == before  # same run, same bytes


def test_infer_log_rejects_unknown_signal(setup, capsys):
    d, opts = setup
    with pytest.raises(SystemExit) as exc:
        cli.main(["infer", "--limit", "1", "--log", str(d / "x.h5"), "--log-signals", "spikes,bogus", *opts])
    assert exc.value.code == 2
    assert "bogus" in capsys.readouterr().err
    assert not (d / "x.h5").exists()


@pytest.mark.slow
def test_infer_log_full_digits_memory_bounded(setup, tmp_path):
    """Peak RSS of ``infer --log`` over all 1,797 digits stays under 1 GiB (streaming per batch)."""
    import resource
    import subprocess
    import sys

    _, opts = setup
    log = tmp_path / "full.h5"
    r = subprocess.run([sys.executable, "-m", "bittrue", "infer", "--split", "all", "--log", str(log),
                        "--log-signals", "spikes,adc", *opts[:2]], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert peak_kib < 1 << 20
    with h5py.File(log) as f:
        assert int(f.attrs["n_samples"]) == 1797


@pytest.mark.parametrize("edit", ["splitmix64-ih4", "splitmix64-ih12", "absent"])
def test_other_noise_generator_is_refused(golden, tmp_path, capsys, edit):
    """A file whose noise codes come from another generator (the previous ones, or a 1.0.0 file without the
    attribute, whose generator was splitmix64-ih12) gets one clear line and exit 2, not a mismatch report."""
    def change(f):
        if edit == "absent":
            del f.attrs["noise_generator"]
        else:
            f.attrs["noise_generator"] = edit

    p = _mutant(golden, tmp_path, change)
    rc, out, err = _verify(p, capsys)
    assert rc == 2 and out == ""
    have = "splitmix64-ih12" if edit == "absent" else edit
    assert f"noise generator '{have}'" in err and "weyl-lowbias32-ih8" in err and "\n" not in err
