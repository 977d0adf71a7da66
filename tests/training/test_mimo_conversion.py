"""``tools/mimo_conversion.py`` and the hybrid switches of the torch network (``HWState.twin_lifs``,
``HWState.encoder_sample``) behind it (docs/mimo.md 11.6):

* the LIF groups of mimo-icl are the 13 populations in netlist order, q, k and v of a block merged;
* with every population a twin and the encoder and SSA in expectation, the T-step forward equals the rate twin;
  with the defaults (nothing twin, everything sampled) the forward is unchanged;
* in a ``from:G`` row the populations before ``G`` run their rate twin and the others spike, step by step;
* the tool measures the shipped model and exits 2 with one line on a bad row, model or option.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bittrue.model import ARCHITECTURES  # noqa: E402
from torchnets import codes_warm_bn, spiking_net  # noqa: E402  (tests/ on sys.path)

MIMO = ARCHITECTURES["mimo-icl"]


def _net(seed=2, **kw):
    """A random mimo-icl network in float64, BN statistics warmed on 4 random prompts, in eval mode."""
    net = spiking_net(MIMO, seed=seed, **kw).double()
    _codes, p = codes_warm_bn(net, MIMO, n=4)
    net.eval()
    return net, p


def test_lif_groups_of_mimo_icl():
    from mimo_conversion import default_rows, lif_groups

    groups = lif_groups(MIMO)
    assert [g for g, _m in groups] == ["blocks.0.in", "blocks.0.qkv", "blocks.0.mlp_in", "blocks.0.h",
                                       "blocks.1.in", "blocks.1.qkv", "blocks.1.mlp_in", "blocks.1.h", "head.in"]
    assert groups[1][1] == ("blocks.0.q", "blocks.0.k", "blocks.0.v")
    assert sorted(n for _g, m in groups for n in m) == sorted(MIMO.lif_names())
    rows = default_rows(groups)
    assert rows[0] == "twin" and rows[1] == "from:head.in" and rows[9] == "from:blocks.0.in"
    assert rows[-1] == "network"


@pytest.mark.parametrize("leak_shift,hard", [(1, True), (15, False)])
def test_all_twin_hybrid_equals_the_rate_twin(leak_shift, hard):
    from mimo_conversion import hybrid_logits, lif_groups, row_settings

    torch.set_num_threads(1)
    net, p = _net(leak_shift=leak_shift, hard_reset=hard)
    twin = row_settings("twin", lif_groups(MIMO))
    rate = hybrid_logits(net, p, twin, seed=0)
    loop = hybrid_logits(net, p, dict(twin, rate=False), seed=0)  # T steps, every LIF its twin
    assert rate.abs().max() > 0
    torch.testing.assert_close(loop, rate, rtol=1e-12, atol=1e-9)
    spiking = hybrid_logits(net, p, row_settings("from:blocks.0.in", lif_groups(MIMO)), seed=0)
    assert not torch.allclose(spiking, rate)  # the spikes differ from the twin on this network


def test_network_row_is_the_default_forward_and_restores_the_state():
    from mimo_conversion import hybrid_logits, lif_groups, row_settings

    torch.set_num_threads(1)
    net, p = _net()
    st = net.state
    assert st.encoder_sample and st.ssa_sample and not st.twin_lifs and not st.rate
    torch.manual_seed(7)
    with torch.no_grad():
        want = net(p)
    got = hybrid_logits(net, p, row_settings("network", lif_groups(MIMO)), seed=7)
    assert torch.equal(got, want)
    hybrid_logits(net, p, row_settings("twin", lif_groups(MIMO)), seed=7)
    assert st.encoder_sample and st.ssa_sample and not st.twin_lifs and not st.rate and not net.training
    # the switches act: encoder or SSA in expectation changes the logits under the same seed
    enc = hybrid_logits(net, p, dict(row_settings("network", lif_groups(MIMO)), encoder_sample=False), seed=7)
    ssa = hybrid_logits(net, p, row_settings("spiking+encoder", lif_groups(MIMO)), seed=7)
    assert not torch.equal(enc, want) and not torch.equal(ssa, want)


def test_from_row_runs_the_populations_before_it_as_twins(monkeypatch):
    from _torch_hw import LIF
    from _torch_net import _key
    from mimo_conversion import hybrid_logits, lif_groups, row_settings

    torch.set_num_threads(1)
    net, p = _net()
    used: dict[str, set] = {}
    for name in MIMO.lif_names():
        mod = net.lif[_key(name)]

        def rate(y, t, name=name, mod=mod):
            used.setdefault(name, set()).add("twin")
            return LIF.rate(mod, y, t)

        def fwd(y, name=name, mod=mod):
            out = LIF.forward(mod, y)
            assert set(out.unique().tolist()) <= {0.0, 1.0}
            used.setdefault(name, set()).add("spikes")
            return out

        monkeypatch.setattr(mod, "rate", rate)
        monkeypatch.setattr(mod, "forward", fwd)
    hybrid_logits(net, p, row_settings("from:blocks.1.in", lif_groups(MIMO)), seed=0)
    before = {n for n in MIMO.lif_names() if n.startswith("blocks.0.")}
    assert {n for n, u in used.items() if u == {"twin"}} == before
    assert {n for n, u in used.items() if u == {"spikes"}} == set(MIMO.lif_names()) - before


def test_tool_on_the_shipped_model(capsys):
    from mimo_conversion import main

    assert main(["--val-tasks", "22", "--rows", "twin", "from:blocks.0.qkv", "network", "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["row"] for r in out["rows"]] == ["twin", "from:blocks.0.qkv", "network"]
    from bittrue.model import default_model_path, load_float_model

    shipped_t = load_float_model(default_model_path("mimo-icl")).arch.timesteps  # the model's own T (16)
    assert out["timesteps"] == shipped_t and out["val_tasks"] == 22 and 0 < out["lmmse_ls_mean_ser"] < 1
    twin, frm, netw = out["rows"]
    assert twin["rate"] and twin["spiking"] == [] and not twin["ssa_sample"]
    assert "blocks.0.in" not in frm["spiking"] and "blocks.0.q" in frm["spiking"]
    assert netw["encoder_sample"] and netw["ssa_sample"] and len(netw["spiking"]) == len(MIMO.lif_names())
    for r in out["rows"]:
        assert 0 <= r["mean_ser"] <= 1 and len(r["ser_by_snr"]) == 11
        assert r["ratio_lmmse_ls"] == pytest.approx(r["mean_ser"] / out["lmmse_ls_mean_ser"])


@pytest.mark.parametrize("argv,needle", [
    (["--rows", "from:blocks.7.in"], "no LIF group 'blocks.7.in'"),
    (["--rows", "twin", "bogus"], "unknown row 'bogus'"),
    (["--model", "/nonexistent/m.h5"], "file not found"),
])
def test_tool_bad_input_is_one_line_and_exit_2(argv, needle, capsys):
    from mimo_conversion import main

    assert main(argv + ["--val-tasks", "11"]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and err.startswith("mimo_conversion.py: error:")


@pytest.mark.parametrize("argv", [["--val-tasks", "10"], ["--timesteps", "0"], ["--threads", "0"]])
def test_tool_bad_option_exits_2(argv):
    from mimo_conversion import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_pcm_rows_read_the_same_chip(monkeypatch):
    """``--pcm-layers`` rows: ``all`` is the chip of ``train_mimo.chip_logits``; ``adc`` and ``only:NAME`` equal
    that chip with the PCM noise of the other crossbars zeroed after it is drawn (the same random stream)."""
    import _torch_hw
    from mimo_conversion import pcm_chip_logits, pcm_row_layers
    from train_mimo import chip_logits

    torch.set_num_threads(1)
    net, p = _net()
    opts = net.lin["embed"].opts
    names = list(MIMO.linear_shapes())
    want_all = chip_logits(net, opts, p, 1.0, 11)
    assert torch.equal(pcm_chip_logits(net, opts, p, pcm_row_layers("all", names), 11), want_all)
    assert net.state.pcm_layers is None
    orig = _torch_hw.pcm_weight_noise
    for row, keep in [("adc", ()), ("only:blocks.0.qkv", ("blocks_0_qkv",)),
                      ("except:embed", tuple(k for k in net.lin if k != "embed"))]:
        kept = {id(net.lin[k].weight) for k in keep}

        def zeroed(w, *a, kept=kept):
            n = orig(w, *a)
            return n if id(w) in kept else torch.zeros_like(n)

        monkeypatch.setattr(_torch_hw, "pcm_weight_noise", zeroed)
        want = chip_logits(net, opts, p, 1.0, 11)
        monkeypatch.setattr(_torch_hw, "pcm_weight_noise", orig)
        got = pcm_chip_logits(net, opts, p, pcm_row_layers(row, names), 11)
        assert torch.equal(got, want), row
        assert not torch.equal(got, want_all), row


def test_tool_pcm_layers_json(capsys):
    from mimo_conversion import main

    assert main(["--pcm-layers", "--chips", "2", "--val-tasks", "11", "--rows", "adc", "only:embed", "--json",
                 "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mode"] == "pcm-layers" and [r["row"] for r in out["rows"]] == ["adc", "only:embed"]
    adc, emb = out["rows"]
    assert adc["pcm_layers"] == [] and emb["pcm_layers"] == ["embed"]
    for r in out["rows"]:
        assert len(r["mean_ser_by_chip"]) == 2 and r["mean_ser"] == pytest.approx(np.mean(r["mean_ser_by_chip"]))
    assert main(["--pcm-layers", "--rows", "only:blocks.9.qkv", "--val-tasks", "11"]) == 2
    assert "unknown --pcm-layers row 'only:blocks.9.qkv'" in capsys.readouterr().err
