"""``tools/model_timesteps.py``: a copy of a model that runs at another T, weights unchanged (docs/mimo.md 11.8).

* the output has the new T and the input's weights, BatchNorm statistics, position embedding and metadata, with
  the command appended to ``training.stages``; ``infer`` runs it at its T (the float logits, summed over T,
  equal a run of the input with ``--timesteps``);
* an existing output is refused without ``--force``; T outside 1..1024, a missing or non-model input give exit
  2 with one line and write nothing.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bittrue.model import default_model_path, load_float_model
from toolload import needs_tool, tool_fixture  # tests/ is on sys.path (conftest.py)

pytestmark = needs_tool("model_timesteps.py")
tool = tool_fixture("model_timesteps.py")


def test_output_runs_at_the_new_t_with_the_same_weights(tool, tmp_path, capsys):
    from bittrue.cli import main as cli_main

    src = default_model_path("digits")
    dst = tmp_path / "t3.h5"
    assert tool.main([str(src), str(dst), "--timesteps", "3"]) == 0
    assert "runs at T = 3" in capsys.readouterr().out
    a, b = load_float_model(src), load_float_model(dst)
    assert a.arch.timesteps != 3 and b.arch.timesteps == 3
    assert b.arch == dataclasses.replace(a.arch, timesteps=3)
    assert set(a.linear) == set(b.linear)
    for name in a.linear:
        for f in ("weight", "bn_gamma", "bn_beta", "bn_mean", "bn_var"):
            np.testing.assert_array_equal(getattr(a.linear[name], f), getattr(b.linear[name], f))
    np.testing.assert_array_equal(a.pos, b.pos)
    stages_a = a.training.get("stages", [a.training.get("command")])
    assert b.training["stages"][:-1] == stages_a
    assert b.training["stages"][-1] == f"python tools/model_timesteps.py {src} {dst} --timesteps 3"

    def logits(*argv):
        assert cli_main(["infer", "--device", "float", "--limit", "3", "--json", "--quiet", *argv]) == 0
        import json
        return np.asarray(json.loads(capsys.readouterr().out)["logits"])

    np.testing.assert_array_equal(logits("--model", str(dst)), logits("--model", str(src), "--timesteps", "3"))
    assert not np.array_equal(logits("--model", str(dst)), logits("--model", str(src)))


@pytest.mark.parametrize("extra, msg", [(["--timesteps", "0"], "--timesteps 0: must be in 1..1024"),
                                        (["--timesteps", "1025"], "--timesteps 1025"),
                                        (["--timesteps", "4", "--missing"], None)])
def test_bad_options_exit_2(tool, tmp_path, capsys, extra, msg):
    out = tmp_path / "o.h5"
    if msg is None:  # argparse's own usage error
        with pytest.raises(SystemExit) as exc:
            tool.main([str(default_model_path("digits")), str(out), *extra])
        assert exc.value.code == 2
    else:
        assert tool.main([str(default_model_path("digits")), str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1
    assert not out.exists()


def test_output_rules_and_bad_inputs(tool, tmp_path, capsys):
    src, dst = default_model_path("digits"), tmp_path / "o.h5"
    assert tool.main([str(src), str(dst), "--timesteps", "2"]) == 0
    capsys.readouterr()
    before = dst.read_bytes()
    assert tool.main([str(src), str(dst), "--timesteps", "5"]) == 2
    err = capsys.readouterr().err
    assert "exists" in err and err.count("\n") == 1 and dst.read_bytes() == before
    assert tool.main([str(src), str(dst), "--timesteps", "5", "--force"]) == 0
    assert load_float_model(dst).arch.timesteps == 5
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not an hdf5 file")
    for path in (tmp_path / "missing.h5", bad):
        capsys.readouterr()
        assert tool.main([str(path), str(tmp_path / "x.h5"), "--timesteps", "2"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("model_timesteps.py: error:") and err.count("\n") == 1
        assert not (tmp_path / "x.h5").exists()
