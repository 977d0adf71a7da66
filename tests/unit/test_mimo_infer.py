"""``infer --dataset mimo``: the SER-versus-SNR table (bit-true ICL, float ICL, classical baselines), docs/mimo.md."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bittrue.cli import main
from bittrue.model import default_model_path, load_float_model
from bittrue.workloads import calibration_tokens, load_tokens

pytestmark = pytest.mark.integration  # whole CLI commands (tests/conftest.py)

BASELINES = ["LMMSE-LS", "LMMSE-true", "ZF-LS"]


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
    assert m["snr_db"] == [float(s) for s in range(0, 21, 2)]
    assert sum(m["tasks_per_snr"]) == m["tasks"] == 22
    for c in m["columns"]:
        assert len(m["ser"][c]) == 11
        assert all(0.0 <= v <= 1.0 for v in m["ser"][c])
        assert m["mean_ser"][c] == pytest.approx(float(np.mean(m["ser"][c])))
    assert m["ratio_to_lmmse_ls"]["LMMSE-LS"] == pytest.approx(1.0)


def test_icl_column_is_the_runs_predictions(result):
    """The ICL column is the SER of the run's own joint predictions, split per antenna."""
    from bittrue.datasets.mimo import split_joint
    from bittrue.workloads import mimo_tasks

    t = mimo_tasks("test")
    pred = split_joint(np.asarray(result["predictions"]), 4, 2)
    err = (pred != t["query_idx"][:22]).reshape(22, -1).mean(1)
    snr = t["snr_db"][:22]
    want = [float(err[snr == s].mean()) for s in np.unique(snr)]
    assert result["mimo"]["ser"]["ICL pcm 1d"] == pytest.approx(want)


def test_float_device_has_one_icl_column(capsys):
    rc = main(["infer", "--dataset", "mimo", "--device", "float", "--start", "5", "--limit", "11", "--json",
               "--quiet", "--timesteps", "1"])
    assert rc == 0
    m = json.loads(capsys.readouterr().out)["mimo"]
    assert m["columns"] == ["ICL float"] + BASELINES
    assert m["tasks_per_snr"] == [1] * 11


def test_calibration_uses_mimo_training_prompts_not_the_test_set():
    arch = load_float_model(default_model_path("mimo-icl")).arch
    calib = calibration_tokens(arch, 16)
    train, _ = load_tokens("mimo", "train", arch)
    test, labels = load_tokens("mimo", "test", arch)
    assert calib.shape == (16, 20, 73) and np.array_equal(calib, train[:16])
    assert not np.array_equal(train[:16], test[:16])
    assert labels.shape == (2000, 4)


def test_mimo_needs_a_mimo_model(capsys):
    rc = main(["infer", "--dataset", "mimo", "--model", str(default_model_path("digits")), "--limit", "2",
               "--quiet"])
    assert rc == 2
    assert "mimo" in capsys.readouterr().err
