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


def _replace(f, name, data, **kw):
    """Replace dataset ``name`` by one holding ``data`` (its attributes copied)."""
    attrs = dict(f[name].attrs)
    del f[name]
    ds = f.create_dataset(name, data=data, **kw)
    for k, v in attrs.items():
        ds.attrs[k] = v


_ADC = "layers/13_blocks.0.mlp2/adc_code"
_LIF = "layers/12_lif.blocks.0.h"
# hand damage to a partial log that the root attributes do not reveal; each must stop --resume with one line
_DAMAGE = {
    "dtype": lambda f: _replace(f, _ADC, f[_ADC][()].astype(np.int16), maxshape=(None,) + f[_ADC].shape[1:],
                                chunks=True),
    "logits dtype": lambda f: _replace(f, "outputs/logits", f["outputs/logits"][()].astype(np.int64),
                                       maxshape=(None, 10), chunks=True),
    "trailing shape": lambda f: _replace(f, _ADC, f[_ADC][..., :32], maxshape=(None, 2, 17, 1, 32), chunks=True),
    "not resizable": lambda f: _replace(f, _ADC, f[_ADC][()]),
    "no filters": lambda f: _replace(f, _ADC, f[_ADC][()], maxshape=(None,) + f[_ADC].shape[1:], chunks=True),
    "attribute value": lambda f: f[_ADC].attrs.__setitem__("bit_width", 6),
    "attribute missing": lambda f: f[_ADC].attrs.__delitem__("dims"),
    "attribute added": lambda f: f[_ADC].attrs.__setitem__("frac_bits_extra", 1),
    "input attribute": lambda f: f["inputs/sample_id"].attrs.__setitem__("signed", False),
    "unit attribute": lambda f: f[_LIF].attrs.__setitem__("theta_code", 3),
    "unit group renamed": lambda f: f.move(_LIF, "layers/40_lif.blocks.0.h"),
    "dataset missing": lambda f: f.__delitem__(_ADC),
    "group for a dataset": lambda f: (f.__delitem__(_ADC), f.create_group(_ADC)),
    "extra dataset": lambda f: f.create_dataset(_ADC + "_copy", data=f[_ADC][()], maxshape=(None,) + f[_ADC].shape[1:]),
    "extra unit group": lambda f: f["layers"].create_group("99_x").attrs.update({"unit": "x", "index": 99}),
}


@pytest.fixture(scope="module")
def partial_log(tmp_path_factory):
    """A partial log of 3 batches of 8, interrupted after the second batch (16 samples done)."""
    from bittrue.cli import main
    from bittrue.golden.writer import GoldenWriter

    d = tmp_path_factory.mktemp("partial")
    model = d / "m.h5"
    save_float_model(random_float_model(ARCHITECTURES["digits"], seed=4, threshold=0.5), model)
    base = ["infer", "--model", str(model), "--limit", "24", "--batch-size", "8", "--timesteps", "2", "-q",
            "--log-signals", "spikes,adc"]
    end_batch, done = GoldenWriter.end_batch, []

    def interrupted(self, logits):
        end_batch(self, logits)
        done.append(1)
        if len(done) == 2:
            raise KeyboardInterrupt

    GoldenWriter.end_batch = interrupted
    try:
        assert main([*base, "--log", str(d / "run.h5")]) == 130
    finally:
        GoldenWriter.end_batch = end_batch
    part = d / "run.h5.partial"
    with h5py.File(part) as f:
        assert int(f.attrs["samples_done"]) == 16
        assert _ADC in f and _LIF in f and "outputs/logits" in f  # the names the damage below assumes
    return base, part


@pytest.mark.parametrize("damage", sorted(_DAMAGE))
def test_resume_refuses_a_hand_damaged_partial(tmp_path, partial_log, capsys, damage):
    """Damage that leaves the root attributes intact (a dataset's dtype, shape, filters or attributes, a unit
    group's attributes or name, a missing or extra member) would otherwise be continued into a log that no
    uninterrupted run writes, or stop in the middle of the run with an internal error."""
    from bittrue.cli import main

    base, part = partial_log
    mine = tmp_path / "run.h5.partial"
    shutil.copy(part, mine)
    with h5py.File(mine, "r+") as f:
        _DAMAGE[damage](f)
    capsys.readouterr()
    assert main([*base, "--log", str(tmp_path / "run.h5"), "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "damaged" in err[0] and "--force" in err[0], err
    assert not (tmp_path / "run.h5").exists()


def test_resume_of_the_undamaged_partial_completes(tmp_path, partial_log):
    """The control of the test above: the same partial, undamaged, resumes to an uninterrupted run's log."""
    from bittrue.cli import main

    base, part = partial_log
    shutil.copy(part, tmp_path / "run.h5.partial")
    assert main([*base, "--log", str(tmp_path / "run.h5"), "--resume"]) == 0
    assert main([*base, "--log", str(tmp_path / "ref.h5")]) == 0
    a, b = _contents(tmp_path / "run.h5"), _contents(tmp_path / "ref.h5")
    assert a.keys() == b.keys() and len(a) > 20
    for k in a:
        assert a[k] == b[k], k
