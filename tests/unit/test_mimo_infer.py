"""``infer --dataset mimo``: the SER-versus-SNR table (bit-true ICL, float ICL, classical baselines), docs/mimo.md."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bittrue.cli import main
from bittrue.model import default_model_path, load_float_model
from bittrue.workloads import calibration_tokens, load_tokens

pytestmark = pytest.mark.integration  # whole CLI commands (tests/conftest.py)

BASELINES = ["LMMSE-LS", "LMMSE-true", "ZF-LS", "ML-LS", "ML-true"]
GRID = [float(s) for s in range(0, 31, 2)]


@pytest.fixture(scope="module")
def result():
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["infer", "--dataset", "mimo", "--limit", "22", "--json", "--quiet", "--timesteps", "2",
                   "--threads", "1"])
    assert rc == 0
    return json.loads(out.getvalue())


def test_shipped_model_is_picked(result):
    assert result["model"] == "mimo-icl"
    assert result["dataset"] == "mimo"
    assert np.asarray(result["logits"]).shape == (22, 4, 16)
    assert np.asarray(result["predictions"]).shape == (22, 4)


def test_table_structure(result):
    m = result["mimo"]
    assert m["columns"] == ["ICL pcm 1d", "ICL float"] + BASELINES
    assert m["snr_db"] == GRID
    assert sum(m["tasks_per_snr"]) == m["tasks"] == 22
    for c in m["columns"]:
        for key in ("ser", "ber", "ser_ci", "ber_ci", "symbol_errors", "bit_errors"):
            assert len(m[key][c]) == 16
        assert all(0.0 <= v <= 1.0 for v in m["ser"][c])
        assert m["mean_ser"][c] == pytest.approx(float(np.mean(m["ser"][c][:11])))  # 0..20 dB
        assert m["mean_ser_all"][c] == pytest.approx(float(np.mean(m["ser"][c])))
        assert set(m["snr_loss_db"]) == {"0.1", "0.01"} and c in m["snr_loss_db"]["0.1"]
    assert m["ratio_to_lmmse_ls"]["LMMSE-LS"] == pytest.approx(1.0)


def test_icl_column_is_the_runs_predictions(result):
    """The ICL column is the SER of the run's own joint predictions, split per antenna."""
    from bittrue.datasets.mimo import split_joint
    from bittrue.workloads import mimo_tasks

    t = mimo_tasks("test")
    pred = split_joint(np.asarray(result["predictions"]), 4, 2)
    err = (pred != t["query_idx"][:22]).reshape(22, -1).sum(1)
    snr = t["snr_db"][:22]
    assert result["mimo"]["symbol_errors"]["ICL pcm 1d"] == [int(err[snr == s].sum()) for s in GRID]
    assert result["mimo"]["ser"]["ICL pcm 1d"] == pytest.approx([float(err[snr == s].mean() / 8) for s in GRID])


def test_float_device_has_one_icl_column(capsys):
    rc = main(["infer", "--dataset", "mimo", "--device", "float", "--start", "5", "--limit", "11", "--json",
               "--quiet", "--timesteps", "1"])
    assert rc == 0
    m = json.loads(capsys.readouterr().out)["mimo"]
    assert m["columns"] == ["ICL float"] + BASELINES
    assert m["tasks_per_snr"] == [1] * 11 and m["snr_db"] == GRID[5:]


def test_tasks_per_snr_and_plot(tmp_path, capsys):
    """--tasks-per-snr N runs the first 16 N tasks; --plot writes a PNG atomically and refuses to overwrite it."""
    pytest.importorskip("matplotlib")  # the plot extra (in the test extra; not in CI's bare wheel job)
    png = tmp_path / "w.png"
    args = ["infer", "--dataset", "mimo", "--device", "float", "--tasks-per-snr", "2", "--timesteps", "1",
            "--quiet", "--plot", str(png)]
    assert main(args + ["--json"]) == 0
    m = json.loads(capsys.readouterr().out)["mimo"]
    assert m["tasks_per_snr"] == [2] * 16 and m["plot"] == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = png.read_bytes()
    assert main(args) == 2  # exists, no --force: refused before the run
    assert "exists" in capsys.readouterr().err and png.read_bytes() == before
    assert main(args + ["--force"]) == 0
    assert "plot       " in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == [png]  # no temporary file left


def test_plot_title_names_the_run(tmp_path, monkeypatch, capsys):
    """The waterfall plot's title names the network's T (the run's, here --timesteps 1), the column and the seed."""
    pytest.importorskip("matplotlib")  # --plot checks for the plot extra before the run (not in CI's bare wheel job)
    import bittrue.mimo_report as mr

    titles = []
    monkeypatch.setattr(mr, "plot_report", lambda rep, path, force=False, title="": titles.append(title))
    base = ["infer", "--dataset", "mimo", "--tasks-per-snr", "1", "--timesteps", "1", "--quiet", "--json"]
    assert main(base + ["--device", "float", "--plot", str(tmp_path / "f.png")]) == 0
    assert main(base + ["--program-seed", "3", "--plot", str(tmp_path / "p.png")]) == 0
    capsys.readouterr()
    assert titles[0] == "mimo-icl (T = 1); ICL float"
    assert titles[1] == "mimo-icl (T = 1), 2x2 QPSK, L = 16, Q = 4; ICL pcm 1d, program seed 3"


def test_tasks_per_snr_and_plot_usage_errors(tmp_path, capsys, monkeypatch):
    base = ["infer", "--dataset", "mimo", "--device", "float", "--quiet"]
    assert main(base + ["--tasks-per-snr", "2", "--limit", "3"]) == 2
    assert main(["infer", "--dataset", "digits", "--plot", str(tmp_path / "x.png"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "--tasks-per-snr" in err[0] and "--dataset mimo" in err[1]
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)  # as if the plot extra were missing
    assert main(base + ["--limit", "2", "--plot", str(tmp_path / "y.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "matplotlib" in err[0] and "bittrue[plot]" in err[0]
    assert not (tmp_path / "y.png").exists()


def test_calibration_uses_mimo_training_prompts_not_the_test_set():
    arch = load_float_model(default_model_path("mimo-icl")).arch
    calib = calibration_tokens(arch, 16)
    train, _ = load_tokens("mimo", "train", arch)
    test, labels = load_tokens("mimo", "test", arch)
    assert calib.shape == (16, 20, arch.token_features) and np.array_equal(calib, train[:16])
    assert not np.array_equal(train[:16], test[:16])
    assert labels.shape == (4000, 4)  # 250 tasks per SNR of 0, 2, ..., 30 dB
    assert load_tokens("mimo", "test", arch, stop=4002)[1].shape == (4002, 4)  # a longer prefix on request
    np.testing.assert_array_equal(load_tokens("mimo", "test", arch, stop=4002)[0][:4000], test)


def test_mimo_needs_a_mimo_model(capsys):
    rc = main(["infer", "--dataset", "mimo", "--model", str(default_model_path("digits")), "--limit", "2",
               "--quiet"])
    assert rc == 2
    assert "mimo" in capsys.readouterr().err


def test_train_split_snrs_are_binned(capsys):
    """The train split's SNRs are continuous (uniform 0..20 dB): the table bins them to the nearest even dB."""
    rc = main(["infer", "--dataset", "mimo", "--device", "float", "--split", "train", "--limit", "40", "--json",
               "--quiet", "--timesteps", "1"])
    assert rc == 0
    m = json.loads(capsys.readouterr().out)["mimo"]
    assert all(s % 2 == 0 and 0 <= s <= 20 for s in m["snr_db"]) and sum(m["tasks_per_snr"]) == 40
    assert len(m["snr_db"]) <= 11
