"""``python -m bittrue infer --dataset cifar10``: a missing or malformed data directory, or no ``--model``, exits 2
with one line on stderr (the real CLI, in a subprocess); the data directory is checked before any model is read.
The end-to-end run (train a few steps, then infer) is ``tests/training/test_cifar10_e2e.py``."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from bittrue.datasets.cifar10 import RECORD, TEST_FILES, TRAIN_FILES, write_batch_file

pytestmark = pytest.mark.integration  # whole CLI commands (tests/conftest.py)


def _write(d, n=2, label=None):
    rng = np.random.default_rng(0)
    for name in TRAIN_FILES + TEST_FILES:
        lb = rng.integers(0, 10, n) if label is None else np.full(n, label)
        write_batch_file(d / name, rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), lb)


def _cases(tmp):
    good = tmp / "good"
    good.mkdir()
    _write(good)
    missing_file = tmp / "missing_file"
    missing_file.mkdir()
    _write(missing_file)
    (missing_file / "data_batch_3.bin").unlink()
    truncated = tmp / "truncated"
    truncated.mkdir()
    _write(truncated)
    with open(truncated / "test_batch.bin", "ab") as fh:
        fh.write(b"\x00" * (RECORD // 2))
    badlabel = tmp / "badlabel"
    badlabel.mkdir()
    _write(badlabel, label=12)
    (tmp / "afile").write_text("not a directory")
    model = tmp / "none.h5"  # never read: every case fails before the model
    return {
        "no_data_dir": (["--model", str(model)], "--data-dir"),
        "missing_dir": (["--data-dir", str(tmp / "nope"), "--model", str(model)], "CIFAR-10 directory"),
        "not_a_dir": (["--data-dir", str(tmp / "afile"), "--model", str(model)], "CIFAR-10 directory"),
        "missing_file": (["--data-dir", str(missing_file), "--model", str(model)], "missing data_batch_3.bin"),
        "truncated": (["--data-dir", str(truncated), "--model", str(model)], "whole number"),
        "no_model": (["--data-dir", str(good)], "--model"),
        "bad_label": (["--data-dir", str(badlabel), "--model", str(tmp / "digits-random.h5")], "label byte 12"),
    }


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    from bittrue.model import ARCHITECTURES, random_float_model, save_float_model

    tmp = tmp_path_factory.mktemp("cifar_cli")
    # bad labels are only seen when the files are read: a (small) model is loaded first; a digits model then
    # fails on the data, not on its architecture (the label check comes first)
    save_float_model(random_float_model(ARCHITECTURES["digits"], seed=1), tmp / "digits-random.h5")
    return _cases(tmp)


@pytest.mark.parametrize("name", ["no_data_dir", "missing_dir", "not_a_dir", "missing_file", "truncated", "no_model",
                                  "bad_label"])
def test_cifar10_bad_data_dir_exit_2(cases, name):
    argv, needle = cases[name]
    p = subprocess.run([sys.executable, "-m", "bittrue", "infer", "--dataset", "cifar10", *argv],
                       capture_output=True, text=True, timeout=120)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert needle.lower() in lines[0].lower(), lines[0]
    assert p.stdout == ""


@pytest.mark.parametrize("name", ["no_data_dir", "missing_file", "no_model"])
def test_golden_cifar10_bad_input_exit_2(cases, tmp_path, name):
    """``golden --dataset cifar10`` checks the data directory and --model as ``infer`` does, before any work."""
    argv, needle = cases[name]
    out = tmp_path / "g.h5"
    p = subprocess.run([sys.executable, "-m", "bittrue", "golden", "--dataset", "cifar10", "-o", str(out), *argv],
                       capture_output=True, text=True, timeout=120)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert len(lines) == 1 and needle.lower() in lines[0].lower(), p.stderr
    assert not out.exists()


def test_golden_cifar10_exports_and_verifies(tmp_path):
    """Golden vectors of a (narrowed, random) cifar10-vit-small on the user's files: the stored inputs are the
    images' 4 x 4 x 3 patch codes, and ``verify`` replays the file bit for bit on its stored chip."""
    import dataclasses

    import h5py

    from bittrue.datasets.cifar10 import load_cifar10
    from bittrue.model import ARCHITECTURES, random_float_model, save_float_model

    d = tmp_path / "data"
    d.mkdir()
    _write(d, n=3)
    a = ARCHITECTURES["cifar10-vit-small"]
    arch = dataclasses.replace(a, depth=1, dim=64, d_k=64 // a.heads, mlp=256, timesteps=1)
    save_float_model(random_float_model(arch, seed=3, threshold=0.5), tmp_path / "c.h5")
    out = tmp_path / "g.h5"
    p = subprocess.run([sys.executable, "-m", "bittrue", "golden", "--dataset", "cifar10", "--data-dir", str(d),
                        "--model", str(tmp_path / "c.h5"), "--start", "1", "--samples", "2", "--threads", "1", "-q",
                        "-o", str(out)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    imgs, labels = load_cifar10(str(d), "test")
    with h5py.File(out) as f:
        assert f.attrs["dataset"] == "cifar10" and int(f.attrs["start"]) == 1
        x = f["inputs/feature_code"][()]
        assert x.shape == (2, 64, 48)
        assert f["inputs/label"][()].tolist() == labels[1:3].tolist()
    # patch (0, 0) of image 1: rows 0..3, columns 0..3, channels last, row-major (docs/cifar10.md)
    assert x[0, 0].tolist() == np.asarray(imgs[1])[:4, :4, :].reshape(-1).tolist()
    v = subprocess.run([sys.executable, "-m", "bittrue", "verify", str(out), "--threads", "1", "-q"],
                       capture_output=True, text=True, timeout=600)
    assert v.returncode == 0 and " OK " in v.stdout, v.stdout + v.stderr
