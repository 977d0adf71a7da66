"""``--chip FILE`` / ``--image FILE`` (issue 18): compile and program are real stages.

A chip written by ``program -o`` and read back runs exactly as the chip built in memory from the same options: the
same accuracy and the same logits (``infer``), the same golden file contents (``golden``) and the same activity
counts (``energy``); an image written by ``compile -o`` and programmed in memory with the device options likewise.
A stored file that does not fit the other options is refused with one line and exit 2.  And ``energy --hardware``
takes its root seed from ``[run] root_seed`` as ``infer`` does (``--seed`` only when given).
"""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from bittrue.cli import main

#: a small calibration set keeps each compile short (the chip files restate it: --hardware may repeat the file's)
CALIB = "[tile]\ncalibration_samples = 32\n"
#: non-default device options, so that a chip file that lost them would show
DEV = ["--drift-time", "1y", "--program-seed", "3"]
N = ["--limit", "12", "--batch-size", "5"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("stored")
    (d / "hw.toml").write_text(CALIB)
    opts = ["--timesteps", "3", "--hardware", str(d / "hw.toml")]
    image, chip = d / "i.h5", d / "c.h5"
    assert main(["compile", *opts, "-o", str(image), "--quiet"]) == 0
    assert main(["program", str(image), *DEV, "-o", str(chip), "--quiet"]) == 0
    return d, image, chip, opts


def _json(capsys, *argv):
    rc = main([*argv, "--json", "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0
    return json.loads(out)


def test_infer_chip_and_image_equal_in_memory(capsys, files):
    _, image, chip, T = files
    ref = _json(capsys, "infer", *T, *DEV, *N, "--seed", "5")
    from_chip = _json(capsys, "infer", "--chip", str(chip), *N, "--seed", "5")
    from_image = _json(capsys, "infer", "--image", str(image), *DEV, *N, "--seed", "5")
    for r in (from_chip, from_image):
        assert r["accuracy"] == ref["accuracy"]
        assert r["logits"] == ref["logits"]
        assert (r["root_seed"], r["program_seed"], r["drift_time_s"]) == (5, 3, ref["drift_time_s"])
        assert r["config_hash"] == ref["config_hash"]
        assert r["energy"] == ref["energy"]
    assert len({tuple(x) for x in ref["logits"]}) > 1  # not trivially constant
    # the chip is what runs: other device options give other logits (so the equality above says something)
    other = _json(capsys, "infer", *T, *N, "--seed", "5")  # default device options
    assert other["logits"] != ref["logits"]


def test_chip_default_seed_is_the_files(capsys, files):
    """Without --seed the root seed is the one the image was compiled with (0 here), as in memory."""
    _, _, chip, T = files
    ref = _json(capsys, "infer", *T, *DEV, *N)
    r = _json(capsys, "infer", "--chip", str(chip), *N)
    assert r["root_seed"] == 0 and r["logits"] == ref["logits"]


def test_golden_chip_equals_in_memory(capsys, files):
    d, _, chip, T = files
    a, b = d / "ga.h5", d / "gb.h5"
    assert main(["golden", *T, *DEV, "--samples", "2", "-o", str(a), "--quiet"]) == 0
    assert main(["golden", "--chip", str(chip), "--samples", "2", "-o", str(b), "--quiet"]) == 0
    capsys.readouterr()
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        assert fa.attrs["image_sha256"] == fb.attrs["image_sha256"]
        assert fa.attrs["root_seed"] == fb.attrs["root_seed"]
        names = []
        fa.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        assert len(names) > 20
        for n in names:
            assert np.array_equal(fa[n][()], fb[n][()]), n
    assert main(["verify", str(b), "--quiet"]) == 0


def test_energy_chip_equals_in_memory(capsys, files):
    _, image, chip, T = files
    ref = _json(capsys, "energy", *T, *DEV, "--limit", "3")
    for opt in (["--chip", str(chip)], ["--image", str(image), *DEV]):
        r = _json(capsys, "energy", *opt, "--limit", "3")
        assert r["counts"] == ref["counts"]
        assert r["xpk1"] == ref["xpk1"]


@pytest.mark.parametrize("extra,needle", [
    (["--device", "ideal"], "--device ideal differs from the chip's own pcm"),
    (["--program-seed", "4"], "--program-seed 4 differs"),
    (["--drift-time", "1d"], "--drift-time 86400.0 differs"),
    (["--no-drift-compensation"], "--no-drift-compensation"),
    (["--timesteps", "4"], "compiled for T = 3"),
    (["--dataset", "mimo"], "dataset mimo"),
    (["--device", "float"], "--device float"),
    (["--hardware", "HW"], "tile.adc_bits = 6"),
    (["--hardware", "HWT"], "run.timesteps = 4"),
    (["--model", "MIMO"], "compiled from another model"),
])
def test_chip_conflicts_exit_2(capsys, files, extra, needle):
    d, _, chip, _ = files
    (d / "adc6.toml").write_text(CALIB + "adc_bits = 6\n")
    (d / "t4.toml").write_text(CALIB + "[run]\ntimesteps = 4\n")
    from bittrue.model import default_model_path

    files_for = {"HW": d / "adc6.toml", "HWT": d / "t4.toml", "MIMO": default_model_path("mimo-icl")}
    extra = [str(files_for.get(a, a)) for a in extra]
    rc = main(["infer", "--chip", str(chip), *extra, "--limit", "2", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and needle in err[0], err


def test_chip_and_image_swapped_or_foreign(capsys, files, tmp_path):
    _, image, chip, _ = files
    assert main(["infer", "--chip", str(image), "--limit", "2", "--quiet"]) == 2
    assert "pass it with --image" in capsys.readouterr().err
    assert main(["golden", "--image", str(chip), "--samples", "1", "-o", str(tmp_path / "g.h5"), "--quiet"]) == 2
    assert "pass it with --chip" in capsys.readouterr().err
    assert not (tmp_path / "g.h5").exists()
    junk = tmp_path / "junk.h5"
    with h5py.File(junk, "w") as f:
        f.attrs["kind"] = "chip"  # claims to be a chip, holds nothing
    assert main(["energy", "--chip", str(junk), "--limit", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--chip" in err[0] and "Traceback" not in err[0]


def test_energy_hardware_root_seed_as_infer(capsys, tmp_path):
    """``energy --hardware F`` with ``[run] root_seed`` runs with that seed, as ``infer`` does: the counts equal
    those of ``--seed 7`` and the energy equals infer's energy section; the seed matters (``--seed 0`` differs)."""
    hw, plain = tmp_path / "seed.toml", tmp_path / "calib.toml"
    hw.write_text(CALIB + "[run]\nroot_seed = 7\n")
    plain.write_text(CALIB)
    base = ["energy", "--timesteps", "3", "--limit", "3"]
    by_file = _json(capsys, *base, "--hardware", str(hw))
    by_opt = _json(capsys, *base, "--hardware", str(plain), "--seed", "7")
    zero = _json(capsys, *base, "--hardware", str(plain), "--seed", "0")
    assert by_file["counts"] == by_opt["counts"]
    assert by_file["counts"] != zero["counts"]
    inf = _json(capsys, "infer", "--timesteps", "3", "--limit", "3", "--hardware", str(hw))
    assert inf["root_seed"] == 7
    assert inf["energy"]["xpk1"] == by_file["xpk1"]
    # --seed still overrides the file, for both commands
    over = _json(capsys, *base, "--hardware", str(hw), "--seed", "0")
    assert over["counts"] == zero["counts"]
