"""``bittrue sweep``: the grid, bad input (one line, exit 2, before any point runs), missing extras, Pareto front."""
from __future__ import annotations

import sys
import time

import numpy as np
import pytest

from bittrue.cli import main
from bittrue.plot import pareto_front
from bittrue.sweep import parse_seeds


def _err(capsys, argv):
    rc = main(argv)
    err = [e for e in capsys.readouterr().err.strip().splitlines() if not e.startswith("bittrue: warning:")]
    return rc, err


@pytest.mark.parametrize("extra,needle", [
    (["--set", "tile.adc_bitz=4,6"], "unknown field tile.adc_bitz"),
    (["--set", "nosuch.x=1"], "unknown field 'nosuch.x'"),
    (["--set", "tile.adc_bits=4,0"], "tile.adc_bits = 0: allowed range is 1..16"),
    (["--set", "ssa.k_o=12"], "power of two"),
    (["--set", "tile.adc_bits"], "use section.field=v1,v2"),
    (["--set", "tile.adc_bits=4,6,8", "--program-seeds", "0-9", "--max-points", "20", "--limit", "1",
      "--timesteps", "1"], "exceed --max-points 20"),
    (["--program-seeds", "3-1"], "--program-seeds"),
    (["--drift-time", "1d,soon"], "invalid time 'soon'"),
    (["--device", "float"], "a sweep runs the chip"),
    (["--timesteps", "0"], "--timesteps"),
])
def test_bad_sweeps_exit_2_with_one_line(capsys, tmp_path, extra, needle):
    t0 = time.perf_counter()
    rc, err = _err(capsys, ["sweep", "-o", str(tmp_path / "s.csv"), "--quiet", *extra])
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("bittrue sweep: error:") and needle in err[0], err
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "s.csv.partial").exists()
    assert time.perf_counter() - t0 < 20  # refused before any point ran


def test_unreachable_scheduler_exit_2_before_work(capsys, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    import bittrue.dist

    monkeypatch.setattr(bittrue.dist, "CONNECT_TIMEOUT_S", 1)
    rc, err = _err(capsys, ["sweep", "-o", str(tmp_path / "s.csv"), "--quiet", "--scheduler", "tcp://127.0.0.1:9"])
    assert rc == 2 and len(err) == 1 and "cannot reach the scheduler" in err[0], err
    rc, err = _err(capsys, ["infer", "--limit", "2", "--quiet", "--scheduler", "tcp://127.0.0.1:9"])
    assert rc == 2 and len(err) == 1 and "cannot reach the scheduler" in err[0], err


def test_missing_dask_or_matplotlib_names_the_extra(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    rc, err = _err(capsys, ["sweep", "-o", str(tmp_path / "s.csv"), "-q", "--scheduler", "tcp://127.0.0.1:9"])
    assert rc == 2 and err == ["bittrue sweep: error: --scheduler needs dask.distributed: pip install "
                               "'bittrue[dist]'"]
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    rc, err = _err(capsys, ["sweep", "-o", str(tmp_path / "s.csv"), "-q", "--plot", str(tmp_path / "s.png")])
    assert rc == 2 and err == ["bittrue sweep: error: plotting needs matplotlib: pip install 'bittrue[plot]'"]
    rc, err = _err(capsys, ["plot", str(tmp_path / "x.h5"), "-o", str(tmp_path / "p")])
    assert rc == 2 and err == ["bittrue plot: error: plotting needs matplotlib: pip install 'bittrue[plot]'"]


def test_seeds_and_pareto():
    assert parse_seeds("0-2") == (0, 1, 2)
    assert parse_seeds("0-1,7") == (0, 1, 7)
    e = np.array([3.0, 1.0, 2.0, 4.0, 2.0])
    a = np.array([0.9, 0.5, 0.7, 0.8, 0.6])
    assert pareto_front(e, a).tolist() == [1, 2, 0]
    assert pareto_front(e, a, maximize=False).tolist() == [1]


def test_adc_saturation_counts_both_rails_of_adc_codes_only():
    from bittrue.dist import AdcSaturation

    s = AdcSaturation(4)  # signed 4-bit codes: rails -8 and 7 (spec 4.6)
    s("blocks.0.qkv/adc_code", 0, np.array([[-8, -7, 0, 7, 7, 6]], np.int16))
    s("blocks.0.qkv/i_code", 0, np.array([[-8, 7]], np.int32))  # not a code: ignored
    s("head/adc_code", 1, np.array([[[1, -8]]], np.int16))
    assert s.counts == {"blocks.0.qkv": [3, 6], "head": [1, 2]}
