"""Hostile files, full disks and odd environments (issue 17): nothing leaves the file, nothing crashes.

Crafted files are built with h5py at test time (small: a random digits model, one golden file of one sample).
Refusals are checked in-process where the reader is what is tested, and through the real CLI (a subprocess)
where the one-line, exit-2 boundary is.  Links and external storage point at a FIFO: opening it would block
the reader, so a refusal that returns at all proves the outside file was never opened.
"""
from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from bittrue.config import ConfigError, HardwareConfig
from bittrue.golden import GoldenError, GoldenFile, verify
from bittrue.model import ARCHITECTURES, ModelError, load_float_model, random_float_model, save_float_model
from childproc import default_signals  # tests/ is on sys.path (conftest.py)

ARCH = ARCHITECTURES["digits"]


def cli(args, cwd=None, timeout=120, limit_as: int | None = None, env=None):
    """Run ``python -m bittrue ARGS``; (returncode, stderr lines, stdout)."""
    pre = None
    if limit_as is not None:
        def pre():
            resource.setrlimit(resource.RLIMIT_AS, (limit_as, limit_as))
    p = subprocess.run([sys.executable, "-m", "bittrue", *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, cwd=cwd, preexec_fn=pre, env=env)
    return p.returncode, [ln for ln in p.stderr.splitlines() if ln.strip()], p.stdout


def assert_one_line(rc, lines, needle=""):
    assert rc == 2, (rc, lines)
    errors = [ln for ln in lines if not ln.startswith("bittrue: warning: the model was trained")]
    assert len(errors) == 1, lines
    assert "Traceback" not in errors[0]
    assert needle.lower() in errors[0].lower(), errors[0]


# ---------------------------------------------------------------------------- crafted files
@pytest.fixture(scope="module")
def d(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    save_float_model(random_float_model(ARCH, seed=2, threshold=0.5), d / "good.h5")
    os.mkfifo(d / "fifo")  # an outside "file" whose opening blocks: a reader that follows a link hangs
    (d / "secret").write_bytes(b"root:x:0:0:secret\n" * 400)
    with h5py.File(d / "outside.h5", "w") as f:  # outside data of the right shapes: following it would "work"
        f["pos"] = np.ones((17, 64), np.float32)
        f["x"] = np.ones(64, np.float32)
    return d


def _variant(d: Path, name: str, edit, outside: str = "fifo") -> Path:
    """The good model edited by ``edit(f, outside_path)``: the FIFO (CLI runs, with a timeout) or regular files
    whose data would load without complaint (in-process runs: a regression fails instead of hanging)."""
    p = d / f"{name}.{outside}.h5"
    if not p.exists():
        shutil.copy(d / "good.h5", p)
        with h5py.File(p, "r+") as f:
            edit(f, d / outside if outside == "fifo" else d)
    return p


def _out(where: Path, name: str) -> str:
    """The outside file: the FIFO itself, or ``name`` in the directory of regular outside files."""
    return str(where if where.name == "fifo" else where / name)


def _replace(f, key, **kw):
    del f[key]
    f.create_dataset(key, **kw)


MODEL_CASES = {
    # name: (edit(f, outside) of the good model, words of the one-line refusal)
    "external_storage": (lambda f, o: _replace(f, "pos", shape=(17, 64), dtype="f4",
                                               external=[(_out(o, "secret"), 0, 17 * 64 * 4)]),
                         "/pos uses external raw storage"),
    "external_link": (lambda f, o: (f.__delitem__("cls"),
                                    f.__setitem__("cls", h5py.ExternalLink(_out(o, "outside.h5"), "/x"))),
                      "/cls is an external link"),
    "soft_link_loop": (lambda f, o: (f["lif"].__setitem__("zz_a", h5py.SoftLink("/lif/zz_b")),
                                     f["lif"].__setitem__("zz_b", h5py.SoftLink("/lif/zz_a"))),
                       "soft link"),
    "soft_link": (lambda f, o: (f.__delitem__("cls"), f.__setitem__("cls", h5py.SoftLink("/linear/embed/bias"))),
                  "/cls is a soft link"),
    "virtual": (lambda f, o: _vds(f, _out(o, "outside.h5")), "/pos is a virtual dataset"),
    "huge_declared": (lambda f, o: _replace(f, "linear/embed/weight", shape=(1 << 20, 1 << 20), dtype="f4",
                                            chunks=(1024, 1024)), "declares shape"),
    "huge_declared_right_shape": (lambda f, o: _replace(f, "pos", shape=(17, 64), dtype="f8", chunks=(1, 1)),
                                  "chunks"),
    "complex_weights": (lambda f, o: _replace(f, "linear/head/weight",
                                              data=np.ones((64, 10), np.complex64) * (1 + 2j)),
                        "holds dtype complex64"),  # the walk's refusal, before any reader sees it
    "string_weights": (lambda f, o: _replace(f, "linear/head/bias", data=np.array([b"x"] * 10)), "text"),
    "bn_eps_nan": (lambda f, o: f["linear/embed"].attrs.__setitem__("bn_eps", np.nan), "bn_eps"),
    "bn_eps_negative": (lambda f, o: f["linear/embed"].attrs.__setitem__("bn_eps", -1e-3), "bn_eps"),
    "deep_arch_json": (lambda f, o: f.attrs.__setitem__("arch_json", "[" * 100_000 + "]" * 100_000),
                       "nested too deeply"),
    "arch_too_large": (lambda f, o: f.attrs.__setitem__("arch_json", json.dumps(
        {**json.loads(f.attrs["arch_json"]), "dim": 65536, "d_k": 16384, "mlp": 65536})), "memory bound"),
    "extra_layer": (lambda f, o: f["linear"].create_group("zz").create_dataset("weight", data=np.zeros((4, 4))),
                    "unexpected linear layers"),
}


def _vds(f, source: str):
    lay = h5py.VirtualLayout(shape=(17, 64), dtype="f4")
    lay[:] = h5py.VirtualSource(source, "pos", shape=(17, 64))
    del f["pos"]
    f.create_virtual_dataset("pos", lay)


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_crafted_model_refused_in_process(d, case):
    edit, needle = MODEL_CASES[case]
    p = _variant(d, case, edit, outside="regular")
    with pytest.raises(ModelError) as exc:
        load_float_model(p)
    msg = str(exc.value)
    assert "\n" not in msg and needle.lower() in msg.lower(), msg
    assert str(p) in msg


def test_bn_eps_validated_for_models_built_in_python():
    m = random_float_model(ARCH, seed=1)
    for bad in (float("nan"), -1e-3, 0.0, float("inf")):
        m.linear["embed"].bn_eps = bad
        with pytest.raises(ModelError, match="bn_eps"):
            m.validate()


def test_good_model_still_loads(d):
    m = load_float_model(d / "good.h5")
    assert m.arch == ARCH


def test_crafted_models_cli_one_line_bounded_memory(d):
    """Through the CLI under a 1 GiB address-space limit: one line, exit 2, the refusal (not out of memory)."""
    t0 = time.perf_counter()
    for case in ("external_storage", "external_link", "soft_link_loop", "virtual", "huge_declared",
                 "complex_weights", "bn_eps_nan", "deep_arch_json"):
        edit, needle = MODEL_CASES[case]
        p = _variant(d, case, edit)  # links and storage lead to the FIFO: following them would hang (timeout)
        rc, lines, out = cli(["compile", "--model", p, "-o", d / f"{case}.img.h5"], cwd=d, limit_as=1 << 30,
                             timeout=60)
        assert_one_line(rc, lines, needle)
        assert not (d / f"{case}.img.h5").exists() and out == ""
    assert time.perf_counter() - t0 < 60


def test_external_storage_bytes_never_reach_outputs(d):
    """The issue's case: /pos stored in an outside file used to come out in the image's pos_code."""
    p = _variant(d, "external_storage", MODEL_CASES["external_storage"][0], outside="regular")
    rc, lines, _ = cli(["compile", "--model", p, "-o", d / "leak.h5"], cwd=d)
    assert_one_line(rc, lines, "external raw storage")
    assert not (d / "leak.h5").exists()


# ---------------------------------------------------------------------------- golden files
@pytest.fixture(scope="module")
def golden(d):
    g = d / "g.h5"
    rc, lines, _ = cli(["golden", "--model", d / "good.h5", "--samples", "1", "--timesteps", "2",
                        "--signals", "input,spikes,ssa,encoder", "-o", g, "-q"], cwd=d, timeout=600)
    assert rc == 0, lines
    return g


GOLDEN_CASES = {
    "root_seed_negative": (lambda f: f.attrs.__setitem__("root_seed", np.int64(-1)), "attribute 'root_seed'"),
    "timesteps_zero": (lambda f: f.attrs.__setitem__("timesteps", np.int64(0)), "attribute 'timesteps'"),
    "packed_length_huge": (lambda f: _first_packed(f).attrs.__setitem__("packed_length", np.int64(10**12)),
                           "packed_length"),
    "packed_length_lies": (lambda f: _first_packed(f).attrs.__setitem__(
        "packed_length", np.int64(8 * _first_packed(f).shape[-1] + 8)), "packed_length"),
    "chip_external_link": (lambda f: (f["chip/image"].__delitem__("pos_code"),
                                      f["chip/image"].__setitem__("pos_code", h5py.ExternalLink("/dev/zero", "/"))),
                           "external link"),
    "rows_declared_huge": (lambda f: _grow(f, "inputs/sample_id"), "stores"),
    "feature_shape": (lambda f: _reshape(f, "inputs/feature_code", (1, 16, 5)), "feature_code"),
}


def _first_packed(f):
    found = []
    f.visititems(lambda n, o: found.append(o) if isinstance(o, h5py.Dataset) and "packed_length" in o.attrs
                 else None)
    return found[0]


def _grow(f, key):
    ds = f[key]
    ds.resize(10**12, axis=0)  # unwritten chunks: a tiny file that declares 8 TB


def _reshape(f, key, shape):
    attrs = dict(f[key].attrs)
    del f[key]
    ds = f.create_dataset(key, data=np.zeros(shape, np.uint8))
    for k, v in attrs.items():
        ds.attrs[k] = v


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_crafted_golden_refused(d, golden, case):
    edit, needle = GOLDEN_CASES[case]
    p = d / f"g_{case}.h5"
    shutil.copy(golden, p)
    with h5py.File(p, "r+") as f:
        edit(f)
    with pytest.raises(GoldenError) as exc:
        verify(p)
    assert needle.lower() in str(exc.value).lower() and "\n" not in str(exc.value), str(exc.value)


def test_golden_cli_cases_one_line(d, golden):
    for case in ("root_seed_negative", "timesteps_zero", "packed_length_huge", "rows_declared_huge"):
        p = d / f"g_{case}.h5"
        if not p.exists():
            shutil.copy(golden, p)
            with h5py.File(p, "r+") as f:
                GOLDEN_CASES[case][0](f)
        for cmd in (["verify", p], ["energy", "--golden", p]):
            rc, lines, _ = cli(cmd, cwd=d, limit_as=1 << 30)
            assert_one_line(rc, lines, GOLDEN_CASES[case][1])


def test_energy_golden_missing_attribute_one_line(d, golden):
    p = d / "g_no_t.h5"
    shutil.copy(golden, p)
    with h5py.File(p, "r+") as f:
        del f.attrs["timesteps"]
    rc, lines, _ = cli(["energy", "--golden", p], cwd=d)
    assert_one_line(rc, lines, "corrupt or incomplete")


def test_golden_still_verifies(golden):
    assert verify(golden).ok
    with GoldenFile(golden) as g:
        assert g.chip().arch == ARCH


def test_hardware_image_and_chip_checked(d, golden, tmp_path):
    """Images and chips go through the same walk: a chip whose conductance image is external is refused."""
    chip = tmp_path / "chip.h5"
    with h5py.File(golden, "r") as src, h5py.File(chip, "w") as dst:
        src.copy("chip", dst, name="c")
        for k, v in src["chip"].attrs.items():
            dst.attrs[k] = v
    with h5py.File(chip, "r+") as f:
        g = f["c/layers"][list(f["c/layers"])[0]]
        shape = g["g_pos_code"].shape
        del g["g_pos_code"]
        g.create_dataset("g_pos_code", shape=shape, dtype="i2", external=[(str(d / "secret"), 0, 2 * np.prod(shape))])
    from bittrue.h5safe import open_h5

    with pytest.raises(ModelError, match="external raw storage"):
        open_h5(chip, "chip", ModelError)


# ---------------------------------------------------------------------------- error boundary
def test_one_line_boundary_cases(d, tmp_path):
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    big = tmp_path / "big.toml"
    big.write_text("[pcm]\ng_max_uS = 1" + "0" * 400 + "\n")
    nl = tmp_path / "new\nline.h5"
    cases = [
        (["infer", "--hardware", deep], "nested too deeply"),
        (["infer", "--hardware", big], "out of range"),
        (["infer", "--hardware", "/dev/zero"], "not a regular file"),
        (["energy", "--vdd", "1e200"], "--vdd"),
        (["infer", "--model", nl], "new\\nline"),
        (["compile", "-o", "/proc/self/nope.h5", "--model", d / "good.h5"], "nope.h5"),
    ]
    for argv, needle in cases:
        rc, lines, _ = cli(argv, cwd=tmp_path, limit_as=1 << 30)
        assert_one_line(rc, lines, needle)


def test_stdout_on_full_device_one_line():
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    with open("/dev/full", "w") as full:
        p = subprocess.run([sys.executable, "-m", "bittrue", "info"], stdout=full, stderr=subprocess.PIPE,
                           text=True, timeout=60)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2 and len(lines) == 1 and "stdout" in lines[0], p.stderr


def test_numpy_warnings_never_reach_stderr(monkeypatch, capsys):
    """numpy floating-point warnings raised while a command runs give no stderr line; others give one line each."""
    import warnings

    from bittrue import cli as cli_mod

    def noisy(args):
        x = np.array([1e308]) * 10  # RuntimeWarning: overflow encountered in multiply
        np.log(np.zeros(1))  # RuntimeWarning: divide by zero encountered in log
        warnings.warn("two\nlines", UserWarning)
        print(float(x[0]))
        return 0

    monkeypatch.setitem(cli_mod.COMMANDS, "info", noisy)
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # what a plain `python -m bittrue` has
        assert cli_mod.main(["info"]) == 0
    cap = capsys.readouterr()
    assert cap.out.strip() == "inf"
    assert cap.err.splitlines() == ["bittrue: warning: UserWarning: two\\nlines"], cap.err


def test_internal_error_one_line_and_debug(monkeypatch, capsys):
    from bittrue import cli as cli_mod

    def boom(args):
        raise ZeroDivisionError("boom\nsecond line")

    monkeypatch.setitem(cli_mod.COMMANDS, "info", boom)
    assert cli_mod.main(["info"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "internal error" in err[0] and "--debug" in err[0] and "boom\\nsecond" in err[0]
    with pytest.raises(ZeroDivisionError):
        cli_mod.main(["--debug", "info"])
    with pytest.raises(ZeroDivisionError):
        cli_mod.main(["info", "--debug"])


# ---------------------------------------------------------------------------- outputs
def _special_targets(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    directory = tmp_path / "dir"
    directory.mkdir()
    out = [fifo, directory]
    try:
        os.mknod(tmp_path / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        out.append(tmp_path / "null")
    except (PermissionError, OSError):
        pass  # not root: the FIFO and the directory still cover "not a regular file"
    return out


def test_force_never_replaces_non_regular_targets(d, tmp_path):
    targets = _special_targets(tmp_path)
    runs = [(t, "compile") for t in targets] + [(targets[-1], "golden"), (targets[-1], "infer")]
    for t, cmd in runs:  # every kind with compile; the device (else the directory) with golden and infer --log
        before = os.lstat(t)
        argv = {"compile": ["compile", "--model", d / "good.h5", "-o", t, "--force"],
                "golden": ["golden", "--model", d / "good.h5", "--samples", "1", "-o", t, "--force"],
                "infer": ["infer", "--model", d / "good.h5", "--limit", "1", "--log", t, "--force"]}[cmd]
        rc, lines, _ = cli(argv, cwd=tmp_path)
        assert_one_line(rc, lines, "refused, --force included")  # refused up front, before any work
        after = os.lstat(t)
        assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before.st_mode) and after.st_ino == before.st_ino


def test_stale_temporary_reported_then_removed_by_force(d, tmp_path):
    from bittrue.fileio import check_output

    stale = tmp_path / ".img.h5.abc123.part"
    stale.write_bytes(b"left by a SIGKILL")
    rc, lines, _ = cli(["compile", "--model", d / "good.h5", "-o", tmp_path / "img.h5", "-q"], cwd=tmp_path)
    assert rc == 0 and stale.exists()
    assert any("killed run" in ln and str(stale.name) in ln for ln in lines), lines
    check_output(tmp_path / "img.h5", force=True)
    assert not stale.exists()


def test_two_writers_of_one_target_cannot_both_succeed(tmp_path):
    """In-process: a writer holds its temporary (or partial) file; a second writer is refused."""
    from bittrue.fileio import OutputError, atomic_output, resumable_output

    for writer, name in ((atomic_output, "t.h5"), (resumable_output, "l.h5")):
        with writer(tmp_path / name, force=True) as tmp:
            tmp.write_bytes(b"first")
            with pytest.raises(OutputError, match="another process"):
                with writer(tmp_path / name, force=True):
                    pass
        assert (tmp_path / name).read_bytes() == b"first"
    target = tmp_path / "t.h5"
    # a run that finds its target written by someone else while it wrote does not replace it
    with pytest.raises(OutputError, match="another process"):
        with atomic_output(target, force=True) as tmp:
            tmp.write_bytes(b"second")
            target.write_bytes(b"someone else's finished file")
    assert target.read_bytes() == b"someone else's finished file"
    assert not list(tmp_path.glob(".*.part"))


def test_concurrent_log_runs_cli(d, tmp_path):
    """Two `infer --log --force` on one target: the second is refused with one line; the first completes.

    The first run must still hold its partial's lock when the second checks it, 1 to 1.5 s after it starts
    (interpreter, imports, options): 480 samples keep the first run going 4 to 5 s after its partial appears
    (160 gave about 1.7 s, too thin a margin on a loaded machine)."""
    target = tmp_path / "run.h5"
    base = ["infer", "--model", d / "good.h5", "--split", "all", "--limit", "480", "--batch-size", "8",
            "--timesteps", "2", "-q", "--log", target, "--force"]
    a = subprocess.Popen([sys.executable, "-m", "bittrue", *map(str, base)], cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    part = tmp_path / "run.h5.partial"
    t_end = time.time() + 120
    while time.time() < t_end and a.poll() is None and not (part.exists() and part.stat().st_size > 0):
        time.sleep(0.05)
    assert a.poll() is None, "first run ended before the second started; make it longer"
    rc, lines, _ = cli(base, cwd=tmp_path)
    _, err = a.communicate(timeout=300)
    assert a.returncode == 0, err
    assert_one_line(rc, lines, "another process")
    assert target.exists() and not part.exists()


# ---------------------------------------------------------------------------- full disk
@pytest.fixture
def small_tmpfs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def _datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


def test_full_disk_log_then_resume_equals_uninterrupted(d, small_tmpfs, tmp_path):
    base = ["infer", "--model", d / "good.h5", "--split", "all", "--limit", "48", "--batch-size", "8",
            "--timesteps", "2", "-q", "--log-signals", "spikes,adc"]
    ref = tmp_path / "ref.h5"
    assert cli(base + ["--log", ref], cwd=tmp_path)[0] == 0
    filler = small_tmpfs / "filler"
    filler.write_bytes(b"\0" * (4 * 2**20 - ref.stat().st_size // 2 - 300_000))
    target = small_tmpfs / "run.h5"
    rc, lines, _ = cli(base + ["--log", target], cwd=tmp_path)
    assert_one_line(rc, lines, "no space left")
    assert not target.exists() and (small_tmpfs / "run.h5.partial").exists()
    filler.unlink()
    rc, lines, _ = cli(base + ["--log", target, "--resume"], cwd=tmp_path)
    assert rc == 0, lines
    a, b = _datasets(ref), _datasets(target)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_full_disk_outputs_one_line_no_temporary(d, small_tmpfs, tmp_path):
    (small_tmpfs / "filler").write_bytes(b"\0" * (4 * 2**20 - 64 * 1024))
    for argv in (["compile", "--model", d / "good.h5", "-o", small_tmpfs / "img.h5"],
                 ["golden", "--model", d / "good.h5", "--samples", "1", "--timesteps", "2", "-o",
                  small_tmpfs / "g.h5"]):
        rc, lines, _ = cli(argv, cwd=tmp_path)
        assert_one_line(rc, lines, "no space left")
        assert sorted(p.name for p in small_tmpfs.iterdir()) == ["filler"]


# ---------------------------------------------------------------------------- config bounds
def test_calibration_memory_bound_refused(d):
    from bittrue.compile import CALIBRATION_LIMIT_BYTES, calibration_bytes, compile_model
    from bittrue.workloads import calibration_tokens

    cfg = HardwareConfig.from_dict({"tile": {"rows": 1}})
    m = load_float_model(d / "good.h5")
    assert calibration_bytes(ARCH, cfg, 256) > CALIBRATION_LIMIT_BYTES
    with pytest.raises(ConfigError, match="GiB"):
        compile_model(m, cfg, calibration_tokens(ARCH, 256))
    for name, arch in ARCHITECTURES.items():  # every shipped architecture calibrates within the limit
        assert calibration_bytes(arch, HardwareConfig(), 256) < CALIBRATION_LIMIT_BYTES, name


def test_calibration_bound_cli_under_rlimit(d, tmp_path):
    (tmp_path / "rows1.toml").write_text("[tile]\nrows = 1\n")
    rc, lines, _ = cli(["compile", "--model", d / "good.h5", "--hardware", tmp_path / "rows1.toml", "-o",
                        tmp_path / "i.h5"], cwd=tmp_path, limit_as=1 << 30)
    assert_one_line(rc, lines, "calibration")


def test_non_maximal_taps_refused_unless_overridden(monkeypatch):
    monkeypatch.delenv("BITTRUE_ALLOW_NONMAXIMAL_TAPS", raising=False)
    with pytest.raises(ConfigError, match="maximal-length"):
        HardwareConfig.from_dict({"lfsr": {"taps": [16]}})
    with pytest.raises(ConfigError, match="maximal-length"):
        HardwareConfig.from_dict({"lfsr": {"width": 8, "taps": [8, 4]}})
    HardwareConfig.from_dict({"lfsr": {"taps": [16, 14, 13, 11]}})
    monkeypatch.setenv("BITTRUE_ALLOW_NONMAXIMAL_TAPS", "1")
    HardwareConfig.from_dict({"lfsr": {"taps": [16]}})


def test_maximal_length_matches_galois():
    galois = pytest.importorskip("galois")
    from bittrue.gf2 import is_maximal_length
    from bittrue.kernels.lfsr import LFSR_TAPS

    assert all(is_maximal_length(t, w) for w, t in LFSR_TAPS.items())
    rng = np.random.default_rng(17)
    hits = 0
    for _ in range(150):
        w = int(rng.integers(8, 33))
        k = int(rng.integers(0, 4))
        taps = tuple(sorted({w, *(int(t) for t in rng.choice(np.arange(1, w), k, replace=False))}, reverse=True))
        want = galois.Poly.Degrees(list(taps) + [0]).is_primitive()
        assert is_maximal_length(taps, w) == want, taps
        hits += want
    assert hits > 0


def test_non_maximal_period_is_short():
    """The rule's reason, checked on the register itself: taps [8, 4] repeat long before 255 steps."""
    from bittrue.lfsr import lfsr_states

    s = lfsr_states(1, 255, width=8, taps=(8, 4))
    assert len(set(int(v) for v in s)) < 255


# ---------------------------------------------------------------------------- environment
def test_cache_dir_fallback(monkeypatch, tmp_path):
    from bittrue import _numbacache

    monkeypatch.setenv("NUMBA_CACHE_DIR", "/proc/no/such/dir")
    monkeypatch.setattr(_numbacache.tempfile, "gettempdir", lambda: str(tmp_path))
    note = _numbacache.ensure_cache_dir()
    assert note and "not writable" in note and "\n" not in note
    assert os.environ["NUMBA_CACHE_DIR"].startswith(str(tmp_path))
    assert _numbacache._writable(Path(os.environ["NUMBA_CACHE_DIR"]))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "ok"))
    assert _numbacache.ensure_cache_dir() is None


def test_read_only_install_and_home(tmp_path):
    """A read-only install (bind-mounted read-only in a private mount namespace) with an unwritable HOME."""
    import bittrue

    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1)")
    root = Path(bittrue.__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env["HOME"] = "/proc/no-home"
    env["TMPDIR"] = str(tmp_path)
    script = (f"mount --bind {root} {root} && mount -o remount,ro,bind {root} && "
              f"{sys.executable} -m bittrue --version && {sys.executable} -m bittrue info --json")
    p = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=300,
                       env=env, cwd=tmp_path)
    if "unshare failed" in p.stderr or "Operation not permitted" in p.stderr or "permission denied" in p.stderr:
        pytest.skip(f"no private mount namespace here: {p.stderr.strip()[:200]}")
    assert p.returncode == 0, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert all(ln.startswith("bittrue: note: ") for ln in lines), lines
    info = json.loads(p.stdout.splitlines()[-1])
    assert info["numba_cache_dir"].startswith(str(tmp_path))


def test_sighup_cleans_up_sigkill_leaves_part_file_that_next_run_reports(d, tmp_path):
    """SIGHUP mid-write removes the temporary file; after a real SIGKILL the hidden .part file stays (nothing
    can remove it), unlocked, and the next run reports it (and removes it with --force)."""
    import signal

    from bittrue.fileio import check_output, in_use, temp_files

    target = tmp_path / "g.h5"

    def start():
        p = subprocess.Popen([sys.executable, "-m", "bittrue", "golden", "--model", str(d / "good.h5"), "--samples",
                              "200", "--timesteps", "2", "--signals", "all", "-q", "-o", str(target)],
                             cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             preexec_fn=default_signals)
        t_end = time.time() + 180
        while time.time() < t_end and p.poll() is None and not temp_files(target):
            time.sleep(0.05)
        assert p.poll() is None and temp_files(target), "the run ended before it could be killed"
        assert in_use(temp_files(target)[0])  # the writer holds its lock
        return p

    p = start()  # a signal the process sees (a closed terminal): it removes its temporary file
    p.send_signal(signal.SIGHUP)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and not temp_files(target) and "interrupted" in err, err
    p = start()
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=60)
    left = temp_files(target)
    assert len(left) == 1 and not target.exists() and not in_use(left[0])
    check_output(target, force=False)  # reported (a warning), kept
    assert left[0].exists()
    check_output(target, force=True)
    assert not temp_files(target)
