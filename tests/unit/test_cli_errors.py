"""Bad input never gives a traceback: one line on stderr, exit code 2 (the real CLI, in a subprocess)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from bittrue.config import ConfigError, HardwareConfig
from bittrue.model import ARCHITECTURES, random_float_model, save_float_model


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    arch = ARCHITECTURES["digits"]
    good = d / "good.h5"
    save_float_model(random_float_model(arch, seed=1), good)
    (d / "text.h5").write_text("this is not HDF5\n")
    with h5py.File(d / "other.h5", "w") as f:
        f.attrs["format"] = "somebody-else"
    for name, ver in (("newer.h5", "2.0.0"),):
        m = random_float_model(arch, seed=1)
        save_float_model(m, d / name)
        with h5py.File(d / name, "r+") as f:
            f.attrs["format_version"] = ver
    data = good.read_bytes()
    (d / "truncated.h5").write_bytes(data[: len(data) // 2])
    m = random_float_model(arch, seed=1)
    save_float_model(m, d / "shape.h5")
    with h5py.File(d / "shape.h5", "r+") as f:
        del f["linear/blocks.0.qkv/weight"]
        f["linear/blocks.0.qkv/weight"] = np.zeros((64, 100), np.float32)
    save_float_model(m, d / "nan.h5")
    with h5py.File(d / "nan.h5", "r+") as f:
        w = f["linear/blocks.1.mlp1/weight"][()]
        w[3, 5] = np.nan
        f["linear/blocks.1.mlp1/weight"][...] = w
    (d / "range.toml").write_text("[tile]\nadc_bits = 40\n")
    (d / "type.toml").write_text('[tile]\nadc_bits = "eight"\n')
    (d / "syntax.toml").write_text("[tile\nadc_bits = 8\n")
    (d / "unknown.toml").write_text("[tile]\nadc_bitz = 8\n")
    (d / "section.toml").write_text("[tiles]\nadc_bits = 8\n")
    (d / "k_s.toml").write_text("[ssa]\nk_s = 12\n")
    (d / "exists.h5").write_bytes(b"keep me")
    with h5py.File(d / "golden-other.h5", "w") as f:
        f.attrs["schema"] = "not-bittrue"
    with h5py.File(d / "golden-newer.h5", "w") as f:
        f.attrs["schema"] = "bittrue-golden"
        f.attrs["schema_version"] = "2.0.0"
    return d


CASES = [
    ("missing model", ["infer", "--model", "{d}/missing.h5"], "not found"),
    ("not HDF5", ["infer", "--model", "{d}/text.h5"], "not an HDF5"),
    ("other schema", ["infer", "--model", "{d}/other.h5"], "format"),
    ("newer major", ["infer", "--model", "{d}/newer.h5"], "version"),
    ("truncated", ["infer", "--model", "{d}/truncated.h5"], "HDF5"),
    ("shape mismatch", ["infer", "--model", "{d}/shape.h5"], "shape"),
    ("NaN weight", ["infer", "--model", "{d}/nan.h5"], "NaN"),
    ("config range", ["infer", "--hardware", "{d}/range.toml"], "tile.adc_bits"),
    ("config type", ["infer", "--hardware", "{d}/type.toml"], "tile.adc_bits"),
    ("config syntax", ["infer", "--hardware", "{d}/syntax.toml"], "TOML"),
    ("config unknown field", ["infer", "--hardware", "{d}/unknown.toml"], "adc_bitz"),
    ("config unknown section", ["infer", "--hardware", "{d}/section.toml"], "tiles"),
    ("config k_s not pow2", ["infer", "--hardware", "{d}/k_s.toml"], "power of two"),
    ("config missing", ["infer", "--hardware", "{d}/nope.toml"], "not found"),
    ("unknown dataset", ["infer", "--dataset", "imagenet"], "imagenet"),
    ("golden cifar10 (no --data-dir)", ["golden", "--dataset", "cifar10", "-o", "{d}/g.h5"], "--data-dir"),
    ("sweep cifar10 (no --data-dir)", ["sweep", "--dataset", "cifar10", "--set", "tile.adc_bits=6", "-o",
                                       "{d}/s.csv"], "only infer and golden take"),
    ("unknown device", ["infer", "--device", "quantum"], "quantum"),
    ("bad drift time", ["infer", "--drift-time", "soon"], "soon"),
    ("limit out of range", ["infer", "--limit", "100000"], "--limit"),
    ("start out of range", ["infer", "--start", "5000"], "--start"),
    ("zero timesteps", ["infer", "--timesteps", "0"], "timesteps"),
    ("seed above uint64", ["infer", "--seed", "18446744073709551616"], "0..2^64-1"),
    ("program seed above uint64", ["golden", "--samples", "1", "-o", "{d}/g.h5", "--program-seed", "-1"],
     "seed"),
    ("seed not a number", ["infer", "--seed", "0xZZ"], "invalid seed"),
    ("unwritable log dir", ["infer", "--log", "{d}/no/such/dir/x.h5"], "does not exist"),
    ("log exists", ["infer", "--log", "{d}/exists.h5"], "--force"),
    ("resume without log", ["infer", "--resume"], "--log"),
    ("resume nothing", ["infer", "--log", "{d}/fresh.h5", "--resume"], "partial"),
    ("verify missing", ["verify", "{d}/missing.h5"], "not found"),
    ("verify not HDF5", ["verify", "{d}/text.h5"], "HDF5"),
    ("verify other schema", ["verify", "{d}/golden-other.h5"], "schema"),
    ("verify newer major", ["verify", "{d}/golden-newer.h5"], "major"),
    ("program missing image", ["program", "{d}/missing.h5", "-o", "{d}/chip.h5"], "not found"),
    ("compile output exists", ["compile", "-o", "{d}/exists.h5"], "--force"),
    ("golden output exists", ["golden", "--samples", "1", "-o", "{d}/exists.h5"], "--force"),
    ("no command", [], "required"),
    ("unknown command", ["frobnicate"], "invalid choice"),
]


@pytest.mark.parametrize("name,argv,needle", CASES, ids=[c[0] for c in CASES])
def test_bad_input_one_line_exit_2(files, name, argv, needle):
    args = [a.format(d=files) for a in argv]
    p = subprocess.run([sys.executable, "-m", "bittrue", *args], capture_output=True, text=True, timeout=120,
                       cwd=files)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert len(lines) == 1, p.stderr
    assert "Traceback" not in p.stderr
    assert needle.lower() in lines[0].lower(), lines[0]
    assert p.stdout == ""
    assert (files / "exists.h5").read_bytes() == b"keep me"  # never overwritten without --force


_VALID = HardwareConfig().to_toml()


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_corrupt_config_files_raise_config_error_only(tmp_path_factory, data):
    """Random corruptions of a valid TOML: either a valid configuration or ConfigError, nothing else."""
    text = _VALID
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["delete", "insert", "replace_value"]))
        if kind == "delete" and text:
            i = data.draw(st.integers(0, len(text) - 1))
            j = data.draw(st.integers(i, min(len(text), i + 20)))
            text = text[:i] + text[j:]
        elif kind == "insert":
            i = data.draw(st.integers(0, len(text)))
            text = text[:i] + data.draw(st.text(max_size=12)) + text[i:]
        else:
            lines = [ln for ln in text.splitlines() if " = " in ln]
            if lines:
                ln = data.draw(st.sampled_from(lines))
                val = data.draw(st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
                                          st.text(max_size=5), st.booleans()).map(repr))
                text = text.replace(ln, ln.split(" = ")[0] + " = " + val.replace("'", '"'), 1)
    p = tmp_path_factory.mktemp("cfg") / "c.toml"
    p.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    try:
        cfg = HardwareConfig.load(p)
    except ConfigError as exc:
        assert "\n" not in str(exc)
    else:
        assert cfg.validate() is cfg


def test_program_refuses_damaged_images(tmp_path):
    """A hardware image with NaN floats, a missing layer or a wrongly shaped position code is refused by
    ``program`` with one line and exit 2 (it used to write a chip with garbage multipliers)."""
    from bittrue.cli import main

    img = tmp_path / "img.h5"
    assert main(["compile", "-o", str(img), "--quiet"]) == 0
    edits = {
        "nan": (lambda f: f["layers/02_blocks.0.proj/w_max"].__setitem__(0, np.nan), "NaN"),
        "layer": (lambda f: f["layers"].__delitem__("02_blocks.0.proj"), "blocks.0.proj is missing"),
        "pos": (lambda f: (f.__delitem__("pos_code"), f.create_dataset("pos_code", data=np.zeros((3, 3), np.int32))),
                "pos_code has shape"),
    }
    for name, (edit, needle) in edits.items():
        bad = tmp_path / f"bad-{name}.h5"
        bad.write_bytes(img.read_bytes())
        with h5py.File(bad, "r+") as f:
            edit(f)
        p = subprocess.run([sys.executable, "-m", "bittrue", "program", str(bad), "-o", str(tmp_path / f"c-{name}.h5")],
                           capture_output=True, text=True, timeout=120)
        lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
        assert p.returncode == 2 and len(lines) == 1 and needle in lines[0], (name, p.stderr)


def test_program_names_the_file_and_the_right_command_for_other_kinds(tmp_path, capsys):
    """``program`` given a chip (already programmed) or a float model: one line that names the file and says
    what to do with it (it used to print only "not a hardware image group")."""
    import bittrue
    from bittrue.cli import main

    img, chip = tmp_path / "img.h5", tmp_path / "chip.h5"
    assert main(["compile", "-o", str(img), "--quiet"]) == 0
    assert main(["program", str(img), "-o", str(chip), "--quiet"]) == 0
    model = Path(bittrue.__file__).parent / "models" / "digits.h5"  # the installed package's (CI job 2: a wheel)
    for src, needles in ((chip, (str(chip), "infer --chip")), (model, (str(model), "compile -o"))):
        capsys.readouterr()
        assert main(["program", str(src), "-o", str(tmp_path / "out.h5"), "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and all(n in err[0] for n in needles), err
    assert not (tmp_path / "out.h5").exists()
