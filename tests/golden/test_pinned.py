"""The pinned regression golden file (``tests/data/pinned_golden.h5.gz``, written by
``tools/regen_pinned_golden.py``).

Every other golden test exports and verifies with the same code, so a change to the numbers passes them all.
This one re-exports the configuration recorded in ``tests/data/pinned_golden.json`` (a tiny digits-shaped
model, 1 sample, T = 2, every signal) and compares it with the file written when the numbers were last
accepted: every group and dataset name, dtype, shape, value and attribute (only the version strings of the
installed packages may differ).  A failure names the first mismatching node in the file's own order (the chip
image first, then the layers in dataflow order) and the command that regenerates the file on purpose.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from bittrue import cli

DATA = Path(__file__).resolve().parent.parent / "data"
MANIFEST = json.loads((DATA / "pinned_golden.json").read_text())
REGEN = "python tools/regen_pinned_golden.py"
#: root attributes that name the software that wrote the file, not the numbers in it
VERSION_ATTRS = {"creator", "bittrue_version", "numpy_version", "numba_version", "git_describe"}


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    return type(a) is type(b) and a == b


def _diff_attrs(name: str, pa, fa, skip=frozenset()) -> str | None:
    pk, fk = set(pa.keys()) - skip, set(fa.keys()) - skip
    if pk != fk:
        return f"{name}: attributes differ: missing {sorted(pk - fk)}, new {sorted(fk - pk)}"
    for k in pa.keys():
        if k not in skip and not _same(pa[k], fa[k]):
            a, b = pa[k], fa[k]
            if isinstance(a, str) and isinstance(b, str) and max(len(a), len(b)) > 160:  # e.g. config_json
                i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
                a, b = f"...{a[max(0, i - 60):i + 40]}...", f"...{b[max(0, i - 60):i + 40]}..."
            return f"{name}: attribute {k!r} pinned {a!r}, now {b!r}"
    return None


def first_difference(pinned: h5py.Group, fresh: h5py.Group) -> str | None:
    """The first node (in ``pinned``'s stored order) whose names, dtype, shape, values or attributes differ
    from ``fresh``, described in one line; None when the two are the same."""
    name = pinned.name
    diff = _diff_attrs(name, pinned.attrs, fresh.attrs, VERSION_ATTRS if name == "/" else frozenset())
    if diff:
        return diff
    pk, fk = list(pinned.keys()), list(fresh.keys())
    if set(pk) != set(fk):
        return f"{name}: members differ: missing {sorted(set(pk) - set(fk))}, new {sorted(set(fk) - set(pk))}"
    for k in pk:
        p, f = pinned[k], fresh[k]
        if isinstance(p, h5py.Group) != isinstance(f, h5py.Group):
            return f"{p.name}: group in one file, dataset in the other"
        if isinstance(p, h5py.Group):
            diff = first_difference(p, f)
            if diff:
                return diff
            continue
        if p.dtype != f.dtype or p.shape != f.shape:
            return f"{p.name}: pinned {p.dtype}{p.shape}, now {f.dtype}{f.shape}"
        a, b = p[()], f[()]
        if not np.array_equal(a, b):
            idx = tuple(int(i) for i in np.argwhere(np.asarray(a != b))[0]) if np.ndim(a) else ()
            return (f"{p.name}: {int(np.count_nonzero(a != b))} of {np.size(a)} values differ, first at index "
                    f"{idx}: pinned {np.asarray(a)[idx]!r}, now {np.asarray(b)[idx]!r}")
        diff = _diff_attrs(p.name, p.attrs, f.attrs)
        if diff:
            return diff
    return None


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("pinned")
    pinned = d / "pinned.h5"
    with gzip.open(DATA / "pinned_golden.h5.gz", "rb") as fi, open(pinned, "wb") as fo:
        shutil.copyfileobj(fi, fo)
    hw = d / "hw.toml"
    hw.write_text(MANIFEST["hardware_toml"])
    fresh = d / "fresh.h5"
    rc = cli.main(["golden", *MANIFEST["golden_args"], "--model", str(DATA / "pinned_model.h5"),
                   "--hardware", str(hw), "-o", str(fresh)])
    assert rc == 0
    return pinned, fresh


def test_pinned_files_match_their_digests(files):
    pinned, _ = files
    assert _sha(DATA / "pinned_model.h5") == MANIFEST["model_sha256"], f"pinned model edited by hand? {REGEN}"
    assert _sha(pinned) == MANIFEST["golden_sha256"], f"pinned golden file edited by hand? {REGEN}"


def test_export_equals_pinned_golden_file(files):
    pinned, fresh = files
    with h5py.File(pinned, "r") as p, h5py.File(fresh, "r") as f:
        diff = first_difference(p, f)
    assert diff is None, (f"the emulator's numbers changed against the pinned golden file: {diff}. If the change "
                          f"is intended, regenerate the file on purpose with `{REGEN}` and commit tests/data/")


def test_pinned_file_verifies(files, capsys):
    """The stored file replays (verify rebuilds the chip from the file's own conductance image)."""
    pinned, _ = files
    assert cli.main(["verify", str(pinned), "-q"]) == 0, f"{capsys.readouterr().out} ({REGEN} if intended)"


def test_infer_reproduces_pinned_logits(files, capsys):
    """``infer --json`` of the pinned configuration prints the pinned file's logits and prediction (infer and
    golden run the same numbers, and infer's are pinned too)."""
    pinned, _ = files
    args = list(MANIFEST["golden_args"])
    args[args.index("--samples")] = "--limit"
    args.remove("--replayable")
    hw = pinned.parent / "hw.toml"
    capsys.readouterr()
    assert cli.main(["infer", *args, "--model", str(DATA / "pinned_model.h5"), "--hardware", str(hw), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    with h5py.File(pinned, "r") as f:
        logits, pred = f["outputs/logits"][()], f["outputs/prediction"][()]
    assert res["logits"] == logits.tolist() and res["predictions"] == pred.tolist(), f"{REGEN} if intended"


def test_comparison_finds_one_changed_value(files, tmp_path):
    """The comparison is not blind: one value of one signal changed in a copy is found and named."""
    pinned, _ = files
    copy = tmp_path / "copy.h5"
    shutil.copy(pinned, copy)
    with h5py.File(copy, "r+") as c:
        names = []
        c["layers"].visititems(lambda n, o: names.append(o.name) if isinstance(o, h5py.Dataset) and o.size > 5
                               and o.dtype.kind == "i" else None)
        name = names[len(names) // 2]  # a signal in the middle of the network
        a = c[name][()]
        a.flat[5] ^= 1
        c[name][...] = a
    with h5py.File(pinned, "r") as p, h5py.File(copy, "r") as c:
        assert first_difference(p, p) is None
        diff = first_difference(p, c)
    assert diff is not None and diff.startswith(name + ": 1 of "), diff
