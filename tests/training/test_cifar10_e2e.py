"""CIFAR-10 end to end on small synthetic files in the binary format: ``tools/train.py cifar10`` for a few steps,
then ``python -m bittrue infer --dataset cifar10 --data-dir DIR --model M.h5`` on the test batch.

The fast test trains a narrowed cifar10-vit-small (``--depth 1 --dim 64``: the same 64 patch tokens of 4 x 4 x 3
pixel bytes, CLS readout, diagonal mask; stored in the model, which ``infer`` reads); the full-size network
(6 blocks, D = 512) takes minutes on 2 cores and is marked ``slow``.  Training runs in-process (the conftest
restores torch's threads and RNG), infer in a subprocess.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bittrue.datasets.cifar10 import TEST_FILES, TRAIN_FILES, write_batch_file  # noqa: E402
from bittrue.model import load_float_model  # noqa: E402

TRAIN = Path(__file__).resolve().parents[2] / "tools" / "train.py"


def _train_main():
    spec = importlib.util.spec_from_file_location("bittrue_tools_train", TRAIN)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cifar")
    rng = np.random.default_rng(0)
    for name in TRAIN_FILES + TEST_FILES:  # 5 x 6 training records, 6 test records
        write_batch_file(d / name, rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 6))
    return d


def _infer(data_dir, model, *extra):
    p = subprocess.run([sys.executable, "-m", "bittrue", "infer", "--dataset", "cifar10", "--data-dir", str(data_dir),
                        "--model", str(model), "--limit", "2", "--threads", "1", "--json", "--quiet", *extra],
                       capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def _check_model(out, depth, dim, T):
    fm = load_float_model(out)
    a = fm.arch
    assert (a.name, a.n_patches, a.token_features, a.depth, a.dim, a.timesteps) == \
        ("cifar10-vit-small", 64, 48, depth, dim, T)
    tr = fm.training
    assert tr["stages"][-1].startswith("python tools/train.py cifar10 --data-dir")
    assert tr["limit"] == 12 and tr["max_steps"] == 2
    return fm


def test_cifar10_train_then_infer_small(data_dir, tmp_path):
    out = tmp_path / "c.h5"
    rc = _train_main()(["cifar10", "--data-dir", str(data_dir), "--out", str(out), "--depth", "1", "--dim", "64",
                        "--timesteps", "1", "--limit", "12", "--max-steps", "2", "--epochs", "3", "--ann-epochs", "1",
                        "--batch", "4", "--threads", "1", "--quiet"])
    assert rc == 0
    _check_model(out, 1, 64, 1)
    assert (tmp_path / "c-ann.npz").exists()
    for device in ("pcm", "float"):
        res = _infer(data_dir, out, "--device", device)
        assert res["dataset"] == "cifar10" and res["samples"] == 2 and res["timesteps"] == 1
        assert res["model"] == "cifar10-vit-small"
        assert np.asarray(res["logits"]).shape == (2, 10)
        assert 0.0 <= res["accuracy"] <= 1.0


def test_cifar10_train_bad_data_dir_exit_2(tmp_path, capsys):
    rc = _train_main()(["cifar10", "--data-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "x.h5"), "--quiet"])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert rc == 2 and len(err) == 1 and "not found" in err[0], err
    assert not (tmp_path / "x.h5").exists()


@pytest.mark.slow
def test_cifar10_train_then_infer_full_size(data_dir, tmp_path):
    out = tmp_path / "full.h5"
    rc = _train_main()(["cifar10", "--data-dir", str(data_dir), "--out", str(out), "--timesteps", "1", "--limit", "12",
                        "--max-steps", "2", "--epochs", "1", "--ann-epochs", "0", "--batch", "4", "--threads", "2",
                        "--quiet"])
    assert rc == 0
    _check_model(out, 6, 512, 1)
    res = _infer(data_dir, out)
    assert res["samples"] == 2 and np.asarray(res["logits"]).shape == (2, 10)


@pytest.mark.parametrize("argv,needle", [
    (["digits", "--hardware", "{d}/missing.toml"], "file not found"),
    (["digits", "--hardware", "{d}/bad.toml"], "tile.adc_bits"),
    (["cifar10"], "--data-dir"),
    (["cifar10", "--data-dir", "{d}", "--dim", "100"], "--dim 100"),
    (["digits", "--k-o", "24"], "powers of two"),
])
def test_train_bad_input_exit_2(tmp_path, capsys, argv, needle):
    (tmp_path / "bad.toml").write_text("[tile]\nadc_bits = 99\n")
    argv = [a.format(d=tmp_path) for a in argv] + ["--out", str(tmp_path / "x.h5"), "--quiet"]
    rc = _train_main()(argv)
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert rc == 2 and len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "x.h5").exists()


def test_train_refuses_an_existing_output_before_training(tmp_path, capsys):
    """``--out`` or the ANN's ``--ann-out`` existing: exit 2, one line naming --force, before any data is read
    (the data directory does not exist), and the file unchanged."""
    for name in ("x.h5", "x-ann.npz"):
        (tmp_path / name).write_bytes(b"keep me")
        rc = _train_main()(["cifar10", "--data-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "x.h5"),
                            "--quiet"])
        err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
        assert rc == 2 and len(err) == 1 and "--force" in err[0] and name in err[0], err
        assert (tmp_path / name).read_bytes() == b"keep me"
        (tmp_path / name).unlink()
