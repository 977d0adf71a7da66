"""``bittrue sweep`` runs: shard results merge exactly; a sweep interrupted with Ctrl-C resumes without
recomputing finished rows and refuses to mix with another setting."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from childproc import default_signals  # tests/ is on sys.path (conftest.py)


def test_shard_counts_sum_to_the_whole_run():
    """Shard results merge exactly: counts, ADC rails and logits of shards == those of one run."""
    from bittrue.cli import build_chip, load_model
    from bittrue.config import HardwareConfig
    from bittrue.dist import merge_counts, run_shard
    from bittrue.sweep import _merge
    from bittrue.workloads import load_tokens

    cfg = HardwareConfig.from_dict({"tile": {"calibration_samples": 8, "adc_bits": 5, "adc_percentile": 60.0},
                                    "run": {"timesteps": 2}})
    model = load_model(None)
    chip = build_chip(model, cfg, "pcm", None, False, 0, quiet=True)
    x, _ = load_tokens("digits", "test", model.arch)
    x, ids = x[:12], np.arange(12)
    kw = dict(timesteps=2, batch_size=4, counts=True, adc_saturation=True)
    whole = run_shard(chip, x, ids, **kw)
    parts = [run_shard(chip, x[a:b], ids[a:b], **kw) for a, b in ((0, 5), (5, 6), (6, 12))]
    m = _merge(parts)
    assert np.array_equal(m["logits"], whole["logits"])
    assert m["counts"] == whole["counts"]
    assert m["adc"] == whole["adc"]
    assert any(s > 0 for s, _ in whole["adc"].values())  # full scales at the 60th percentile: codes at the rails
    assert merge_counts([whole["counts"]]) == whole["counts"]


# ------------------------------------------------------------------------------------------------ resume
SWEEP = ["-m", "bittrue", "sweep", "--set", "tile.adc_bits=5,8", "--program-seeds", "0-5", "--limit", "6",
         "--timesteps", "2"]


def _calib_toml(tmp_path, n=8) -> str:
    p = tmp_path / f"hw{n}.toml"
    p.write_text(f"[tile]\ncalibration_samples = {n}\n")
    return str(p)


def _rows(path: Path) -> list[dict]:
    return list(csv.DictReader(path.open()))


def test_interrupted_sweep_resumes_without_recomputing(tmp_path):
    out = tmp_path / "s.csv"
    part = tmp_path / "s.csv.partial"
    cmd = [sys.executable, *SWEEP, "--hardware", _calib_toml(tmp_path), "-o", str(out)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env,
                            preexec_fn=default_signals)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if part.exists() and len(json.loads(part.read_text())["rows"]) >= 2:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the sweep ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert not out.exists()
    kept = {r["key"]: r["row"] for r in json.loads(part.read_text())["rows"]}
    assert 2 <= len(kept) < 12
    # a rerun with another base configuration refuses to mix: one line, exit 2, the state untouched
    bad = subprocess.run([sys.executable, *SWEEP, "--hardware", _calib_toml(tmp_path, 9), "-o", str(out), "-q"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("bittrue sweep: error:")
    assert "another base configuration: refusing to mix" in bad.stderr
    # the same sweep again: only the missing rows run
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert f"({12 - len(kept)} run now)" in r.stdout
    assert f"{len(kept)} of 12 rows done, {12 - len(kept)} to run" in r.stderr
    rows = _rows(out)
    assert len(rows) == 12 and not part.exists()
    # kept rows are the interrupted run's own rows, wall-clock time included (they were not run again)
    got = {(int(r["point"]), int(r["program_seed"])): r for r in rows}
    for row in kept.values():
        assert float(got[(row["point"], row["program_seed"])]["run_s"]) == row["run_s"]
    # and the finished table equals an uninterrupted sweep in every column but the timings
    full = tmp_path / "full.csv"
    r = subprocess.run([sys.executable, *SWEEP, "--hardware", _calib_toml(tmp_path), "-o", str(full), "-q"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    _same_but_timings(_rows(full), rows)


def _same_but_timings(a: list[dict], b: list[dict]) -> None:
    from bittrue.sweep import TIMING_COLUMNS

    assert len(a) == len(b) and list(a[0]) == list(b[0])
    for x, y in zip(a, b):
        for k in x:
            if k not in TIMING_COLUMNS:
                assert x[k] == y[k], (k, x[k], y[k])


def test_table_independent_of_shard_size_and_order(tmp_path, monkeypatch):
    """Shards of 1 sample run in a permuted order give the table of one shard per row run in order."""
    import bittrue.dist
    from bittrue.cli import main

    argv = ["sweep", "--set", "tile.adc_bits=4,8", "--program-seeds", "0-1", "--limit", "5", "--timesteps", "2",
            "--hardware", _calib_toml(tmp_path), "-q"]
    assert main([*argv, "-o", str(tmp_path / "a.csv")]) == 0
    monkeypatch.setattr(bittrue.dist, "executor", lambda scheduler: bittrue.dist.LocalExecutor(shuffle=5))
    assert main([*argv, "-o", str(tmp_path / "b.csv"), "--shard-size", "1"]) == 0
    _same_but_timings(_rows(tmp_path / "a.csv"), _rows(tmp_path / "b.csv"))
