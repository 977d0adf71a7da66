"""``tools/mimo_centre.py``: the centred embedding computes the same residual stream (docs/mimo.md 11.6).

* on an off-centre copy of a centred model (the shipped model's one-copy form, centred by the tool) and on
  real prompts, ``BN(e @ W) + pos`` with the encoder in expectation is the same before and after (to float32
  storage), for pilot and query tokens; the one-hot rows of each antenna are centred, the query-flag row is 0,
  the other layers are untouched, the column maxima shrink, and the result is the centred model again (the
  centring is canonical);
* the noise-free float network (every source in expectation) makes the same decisions;
* the command refuses an existing output without ``--force``, a non-mimo model, and keeps the provenance;
* ``--ramp-copies R --onehot-copies K`` give the same residual stream on the tokens with copies, ``one_copy``
  inverts them, the shipped model's format is 4 ramp and 8 one-hot copies, and per column the ratio of the
  largest weight to the largest y weight goes from rho to max(1, rho R / K).

The shipped model has copies, fine-tuned after the transform (docs/mimo.md 11.8), so its copies are no longer
equal; the tests start from its one-copy form (:func:`_shipped_one_copy`, the copies summed back).
"""
from __future__ import annotations

import dataclasses
import numpy as np
import pytest

from bittrue.datasets import mimo
from bittrue.model import default_model_path, load_float_model, save_float_model
from toolload import load_tool, needs_tool, tool_fixture  # tests/ is on sys.path (conftest.py)

pytestmark = needs_tool("mimo_centre.py")
tool = tool_fixture("mimo_centre.py")


def _shipped_one_copy():
    """The shipped model's one-copy form (its copies summed back: ``one_copy``, the inverse of ``copy_embed``)."""
    with load_tool("mimo_centre.py") as t:
        return t.one_copy(load_float_model(default_model_path("mimo-icl")))


def _centred_one_copy(cfg):
    """The shipped model's one-copy form, centred by the tool (a centred model whatever the shipped one's training)."""
    with load_tool("mimo_centre.py") as t:
        return t.centre_embed(_shipped_one_copy(), cfg)[0]


def _uncentred(fm, cfg, seed=0):
    """The model with the same function and off-centre one-hot rows and a query-flag weight (the inverse of the
    tool's move, with random amounts), as a trained model has them."""
    rng = np.random.default_rng(seed)
    lay, lin = cfg.token_layout(), fm.linear["embed"]
    w, pos = lin.weight.astype(np.float64).copy(), fm.pos.astype(np.float64).copy()
    scale = lin.bn_gamma / np.sqrt(lin.bn_var.astype(np.float64) + lin.bn_eps)
    for a in range(cfg.n_t):
        d = rng.uniform(-0.3, 0.3, w.shape[1])
        w[lay["x"].start + a * cfg.order: lay["x"].start + (a + 1) * cfg.order] += d
        pos[:cfg.pilots] -= d * (255 / 256) * scale
    f = rng.uniform(-0.3, 0.3, w.shape[1])
    w[lay["query"].start] += f
    pos[cfg.pilots:] -= f * (255 / 256) * scale
    linear = dict(fm.linear)
    linear["embed"] = dataclasses.replace(lin, weight=w.astype(np.float32))
    return dataclasses.replace(fm, linear=linear, pos=pos.astype(np.float32)).validate()


def _residual(fm, codes):
    """The residual stream after the embedding, encoder in expectation: BN_inference(p @ W) + pos, float64."""
    lin = fm.linear["embed"]
    z = (codes.astype(np.float64) / 256.0) @ lin.weight.astype(np.float64)
    bn = (z - lin.bn_mean) / np.sqrt(lin.bn_var.astype(np.float64) + lin.bn_eps) * lin.bn_gamma + lin.bn_beta
    return bn + fm.pos.astype(np.float64)


def test_centred_embedding_keeps_the_residual_stream(tool):
    cfg = mimo.MimoConfig()
    centred = _centred_one_copy(cfg)
    fm = _uncentred(centred, cfg)
    out, (before, after) = tool.centre_embed(fm, cfg)
    codes = mimo.prompt_tokens(mimo.eval_tasks(cfg, 40, seed=5), cfg)
    r0, r1 = _residual(fm, codes), _residual(out, codes)
    assert np.abs(r1 - r0).max() < 1e-5 * max(1.0, np.abs(r0).max())
    assert np.abs(r0 - _residual(centred, codes)).max() < 1e-5 * max(1.0, np.abs(r0).max())
    # the centring is canonical: it undoes the random offsets and gives the centred model again
    np.testing.assert_allclose(out.linear["embed"].weight, centred.linear["embed"].weight, atol=2e-6)
    np.testing.assert_allclose(out.pos, centred.pos, atol=2e-5)
    w = out.linear["embed"].weight.astype(np.float64)
    lay = cfg.token_layout()
    for a in range(cfg.n_t):
        rows = w[lay["x"].start + a * cfg.order: lay["x"].start + (a + 1) * cfg.order]
        np.testing.assert_allclose(rows.max(0), -rows.min(0), atol=1e-6)
    assert np.all(w[lay["query"].start] == 0)
    np.testing.assert_array_equal(w[lay["y"]], fm.linear["embed"].weight[lay["y"]])
    assert not np.allclose(out.pos, fm.pos)
    for name in fm.linear:
        if name != "embed":
            assert out.linear[name] is fm.linear[name]
    assert before == pytest.approx(tool.column_ratio(fm.linear["embed"].weight, lay["y"]))
    assert after < before - 0.5


def test_centred_model_makes_the_same_noise_free_decisions(tool):
    from bittrue.config import HardwareConfig
    from bittrue.floatmodel import SOURCES, float_forward

    cfg = mimo.MimoConfig()
    hw = HardwareConfig()
    fm = _uncentred(_shipped_one_copy(), cfg, seed=1)
    out, _ = tool.centre_embed(fm, cfg)
    codes = mimo.prompt_tokens(mimo.eval_tasks(cfg, 30, seed=6), cfg)
    kw = dict(timesteps=fm.arch.timesteps, k_s=hw.resolved_k_s(fm.arch.d_k), k_o=hw.resolved_k_o(fm.arch.n_tokens),
              expectation=frozenset(SOURCES))
    a = float_forward(fm, codes, rng=np.random.default_rng(0), **kw)
    b = float_forward(out, codes, rng=np.random.default_rng(0), **kw)
    assert (a.argmax(-1) == b.argmax(-1)).mean() >= 0.98


def test_command_output_rules_and_provenance(tool, tmp_path, capsys):
    src = tmp_path / "uncentred.h5"
    save_float_model(_uncentred(_shipped_one_copy(), mimo.MimoConfig()), src)
    dst = tmp_path / "c.h5"
    assert tool.main([str(src), str(dst)]) == 0
    fm, out = load_float_model(src), load_float_model(dst)
    assert out.training["stages"][:-1] == fm.training["stages"]
    assert out.training["stages"][-1].startswith("python tools/mimo_centre.py ")
    assert out.training["centre_embed"]["median_column_max_over_y_max_after"] < \
        out.training["centre_embed"]["median_column_max_over_y_max_before"]
    capsys.readouterr()
    assert tool.main([str(src), str(dst)]) == 2
    assert "exists" in capsys.readouterr().err
    assert tool.main([str(default_model_path("digits")), str(tmp_path / "d.h5")]) == 2
    err = capsys.readouterr().err
    assert "not a mimo-icl model" in err and err.count("\n") == 1 and not (tmp_path / "d.h5").exists()
    assert tool.main([str(tmp_path / "missing.h5"), str(tmp_path / "e.h5")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_wrong_token_format_is_refused(tool):
    cfg = mimo.MimoConfig()
    fm = _shipped_one_copy()
    with pytest.raises(ValueError, match="token format"):
        tool.centre_embed(fm, dataclasses.replace(cfg, levels=8))


def test_copies_keep_the_residual_stream_and_invert(tool):
    cfg = mimo.MimoConfig()
    shipped = load_float_model(default_model_path("mimo-icl"))
    r, k = shipped.arch.ramp_copies, shipped.arch.onehot_copies
    assert (r, k) == (4, 8)  # docs/mimo.md 11.7
    one = _centred_one_copy(cfg)
    out, new = tool.copy_embed(one, cfg, r, k)
    assert (out.arch.ramp_copies, out.arch.onehot_copies, out.arch.token_features) == (4, 8, 321)
    assert (new.ramp_copies, new.onehot_copies) == (4, 8) and new.token_features == 321
    tasks = mimo.eval_tasks(cfg, 40, seed=7)
    r0 = _residual(one, mimo.prompt_tokens(tasks, cfg))
    r1 = _residual(out, mimo.prompt_tokens(tasks, new))
    assert np.abs(r1 - r0).max() < 1e-5 * max(1.0, np.abs(r0).max())
    # one_copy sums the copies back; the shipped model has this format
    back = tool.one_copy(out)
    np.testing.assert_allclose(back.linear["embed"].weight, one.linear["embed"].weight, rtol=1e-6, atol=1e-7)
    assert back.arch == one.arch and out.arch == shipped.arch
    np.testing.assert_array_equal(out.pos, one.pos)
    # per column, max |w| / max |w on one copy of y| goes from rho to max(1, rho R / K): the one-hot weights
    # split K ways, the y weights R ways (median 4.58 -> 2.29 for the centred one-copy form of the shipped model)
    w1, w = np.abs(one.linear["embed"].weight.astype(np.float64)), np.abs(out.linear["embed"].weight)
    rho = w1.max(0) / w1[cfg.token_layout()["y"]].max(0)
    after = w.max(0) / w[:64].max(0)
    np.testing.assert_allclose(after, np.maximum(1.0, rho * r / k), rtol=1e-5)
    assert np.median(rho) == pytest.approx(tool.column_ratio(w1, cfg.token_layout()["y"]))
    assert np.median(after) < np.median(rho) - 1.0
    with pytest.raises(ValueError, match="one-copy model"):
        tool.copy_embed(shipped, cfg, 2, 2)


def test_copies_command(tool, tmp_path, capsys):
    src, dst = tmp_path / "one.h5", tmp_path / "c.h5"
    save_float_model(_shipped_one_copy(), src)
    assert tool.main([str(src), str(dst), "--no-centre", "--ramp-copies", "2", "--onehot-copies", "8"]) == 0
    assert "2 ramp and 8 one-hot copies" in capsys.readouterr().out
    out = load_float_model(dst)
    assert (out.arch.ramp_copies, out.arch.onehot_copies) == (2, 8)
    w1 = np.abs(load_float_model(src).linear["embed"].weight.astype(np.float64))
    rho = w1.max(0) / w1[mimo.MimoConfig().token_layout()["y"]].max(0)
    assert out.training["embed_copies"]["median_column_max_over_y_max"] == \
        pytest.approx(np.median(np.maximum(1.0, rho * 2 / 8)), abs=1e-4)  # stored to 4 decimals
    assert out.training["stages"][-1].endswith("--no-centre --ramp-copies 2 --onehot-copies 8")
    # the output is read with its own token format
    from bittrue.workloads import load_tokens
    assert load_tokens("mimo", "test", out.arch, stop=2)[0].shape[1:] == (20, 193)
    # a model with copies is not read; copies outside 1..64 are refused, with one line and nothing written
    for argv, msg in (([str(dst), str(tmp_path / "x.h5")], "one-copy"),
                      ([str(src), str(tmp_path / "x.h5"), "--onehot-copies", "0"], "--onehot-copies 0"),
                      ([str(src), str(tmp_path / "x.h5"), "--ramp-copies", "65"], "--ramp-copies 65")):
        assert tool.main(argv) == 2
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1 and not (tmp_path / "x.h5").exists()
