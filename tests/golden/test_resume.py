"""Interrupted ``infer --log``: no partial target, and ``--resume`` completes it to the same datasets."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from bittrue.model import ARCHITECTURES, random_float_model, save_float_model
from childproc import default_signals  # tests/ is on sys.path (conftest.py)


def _contents(path) -> dict:
    """Every dataset's values and every group's and dataset's attributes, outside /chip."""
    out = {}
    with h5py.File(path, "r") as f:
        out["/"] = {k: np.asarray(v).tolist() for k, v in f.attrs.items()}

        def visit(name, obj):
            if name.startswith("chip"):
                return
            out[name] = {k: np.asarray(v).tolist() for k, v in obj.attrs.items()}
            if isinstance(obj, h5py.Dataset):
                out[name + "[]"] = obj[()].tolist()
        f.visititems(visit)
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_kill_then_resume_equals_uninterrupted(tmp_path, sig):
    model = tmp_path / "m.h5"
    save_float_model(random_float_model(ARCHITECTURES["digits"], seed=4, threshold=0.5), model)
    base = [sys.executable, "-m", "bittrue", "infer", "--model", str(model), "--split", "all", "--limit", "240",
            "--batch-size", "8", "--timesteps", "2", "--quiet", "--log-signals", "spikes,adc"]
    target = tmp_path / "run.h5"
    part = tmp_path / "run.h5.partial"
    p = subprocess.Popen(base + ["--log", str(target)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=default_signals)
    # wait until a few batches have been flushed (the partial file grows after each batch)
    sizes = []
    t_end = time.time() + 120
    while time.time() < t_end and p.poll() is None:
        if part.exists():
            s = part.stat().st_size
            if not sizes or s != sizes[-1]:
                sizes.append(s)
            if len(sizes) >= 4:
                break
        time.sleep(0.05)
    assert p.poll() is None, "run finished before it could be interrupted; make it longer"
    os.kill(p.pid, sig)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert not target.exists(), "an interrupted run must leave no target"
    assert part.exists() and "--resume" in err
    assert "Traceback" not in err
    # resume completes it
    r = subprocess.run(base + ["--log", str(target), "--resume"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert target.exists() and not part.exists()
    # an uninterrupted run gives the same datasets
    ref = tmp_path / "ref.h5"
    r2 = subprocess.run(base + ["--log", str(ref)], capture_output=True, text=True, timeout=300)
    assert r2.returncode == 0, r2.stderr
    a, b = _contents(target), _contents(ref)  # datasets and attributes
    assert a.keys() == b.keys() and len(a) > 5
    for k in a:
        assert a[k] == b[k], k
    with h5py.File(target) as f:
        assert int(f.attrs["n_samples"]) == 240
    # the accuracy line matches too
    assert r.stdout.splitlines()[2] == r2.stdout.splitlines()[2]



def test_interrupted_between_a_group_and_its_attributes_then_resume(tmp_path, monkeypatch, capsys):
    """A signal can land in the first batch right after a unit group is created and before its attributes are
    written; the partial then records ``samples_done = 0``.  ``--resume`` must start it over, and the log must
    equal an uninterrupted run's, attributes included (the signal is simulated at exactly that point)."""
    from bittrue.cli import main
    from bittrue.golden.writer import GoldenWriter

    model = tmp_path / "m.h5"
    save_float_model(random_float_model(ARCHITECTURES["digits"], seed=4, threshold=0.5), model)
    base = ["infer", "--model", str(model), "--limit", "16", "--batch-size", "8", "--timesteps", "2", "-q",
            "--log-signals", "spikes,adc"]
    target, ref = tmp_path / "run.h5", tmp_path / "ref.h5"
    made = []
    group = GoldenWriter._group

    def interrupted(parent, name, enc, **attrs):
        if enc == "unit" and made:  # the second unit group: created, then the signal
            parent.create_group(name, track_order=True)
            raise KeyboardInterrupt
        made.append(name)
        return group(parent, name, enc, **attrs)

    monkeypatch.setattr(GoldenWriter, "_group", staticmethod(interrupted))
    assert main([*base, "--log", str(target)]) == 130
    monkeypatch.undo()
    assert (tmp_path / "run.h5.partial").exists() and not target.exists()
    # the same partial claiming a complete batch is damaged: one line, exit 2
    shutil.copy(tmp_path / "run.h5.partial", tmp_path / "dmg.h5.partial")
    with h5py.File(tmp_path / "dmg.h5.partial", "r+") as f:
        f.attrs["samples_done"] = np.int64(8)
    capsys.readouterr()
    assert main([*base, "--log", str(tmp_path / "dmg.h5"), "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "damaged" in err[0] and "--force" in err[0], err
    assert main([*base, "--log", str(target), "--resume"]) == 0
    assert main([*base, "--log", str(ref)]) == 0
    a, b = _contents(target), _contents(ref)
    assert a.keys() == b.keys() and len(a) > 20
    for k in a:
        assert a[k] == b[k], k
