"""``tools/mimo_seeds.py``: its bit-true figures are ``infer``'s on the same tasks and program seeds.

The tool skips the tasks above 20 dB and the float ICL, so it must keep the sample ids (the keys of the output
noise) of the tasks it runs: its per-SNR SER at 0..20 dB equals ``infer --dataset mimo --tasks-per-snr N
--program-seed S``'s ``ICL pcm 1d`` column, for two seeds; bad options are usage errors (exit 2).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from bittrue.cli import main as cli_main
from bittrue.model import default_model_path
from toolload import needs_tool, tool_fixture  # tests/ is on sys.path (conftest.py)

pytestmark = needs_tool("mimo_seeds.py")
tool = tool_fixture("mimo_seeds.py")
N = 6  # tasks per SNR


def test_figures_equal_infer(tool, capsys):
    rep = tool.measure(str(default_model_path("mimo-icl")), N, [0, 3], quiet=True)
    assert rep["tasks_per_seed"] == 11 * N and rep["snr_db"] == [float(s) for s in range(0, 21, 2)]
    for row in rep["seeds"]:
        assert cli_main(["infer", "--dataset", "mimo", "--tasks-per-snr", str(N), "--program-seed",
                         str(row["program_seed"]), "--json", "--quiet"]) == 0
        m = json.loads(capsys.readouterr().out)["mimo"]
        np.testing.assert_allclose(row["ser"], m["ser"]["ICL pcm 1d"][:11], rtol=0, atol=1e-12)
        np.testing.assert_allclose(rep["lmmse_ls_ser"], m["ser"]["LMMSE-LS"][:11], rtol=0, atol=1e-12)
        assert row["mean_ser"] == pytest.approx(m["mean_ser"]["ICL pcm 1d"], abs=1e-12)
    assert rep["mean_ser"] == pytest.approx(np.mean([r["mean_ser"] for r in rep["seeds"]]))
    assert rep["ratio_mean"] == pytest.approx(rep["mean_ser"] / rep["lmmse_ls_mean_ser"])


@pytest.mark.parametrize("argv, msg", [(["--seeds", "1,x"], "comma-separated"), (["--seeds", "-1"], ">= 0")])
def test_bad_seeds_are_usage_errors(tool, capsys, argv, msg):
    with pytest.raises(SystemExit) as exc:
        tool.main(argv)
    assert exc.value.code == 2 and msg in capsys.readouterr().err


@pytest.mark.parametrize("argv, msg", [(["--tasks-per-snr", "0"], "--tasks-per-snr"),
                                       (["--model", "missing.h5"], "file not found")])
def test_bad_input_exit_2_one_line(tool, capsys, argv, msg):
    assert tool.main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1
