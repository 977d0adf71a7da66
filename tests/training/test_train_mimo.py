"""``tools/train_mimo.py``: a two-step fine-tuning run of the shipped mimo-icl model with the soft ML-LS targets
and another T writes a loadable float model that records its loss and T; a run with ANN distillation and noisy
model selection records both; the teacher's soft targets are the numpy ANN's; one noisy validation chip is one
PCM draw at the configuration's noise, reproducible and leaving the caller's random stream alone; bad options
are usage errors (exit 2)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]


def test_train_mimo_soft_labels_two_steps(tmp_path):
    import train_mimo

    from bittrue.model import load_float_model

    out = tmp_path / "m.h5"
    rc = train_mimo.main(["--steps", "2", "--eval-every", "1", "--batch", "8", "--ssa-warmup", "0",
                          "--noise-start", "0", "--init", str(ROOT / "bittrue/models/mimo-icl.h5"),
                          "--soft-labels", "ml-ls", "--soft-weight", "0.8", "--timesteps", "4", "--threads", "1",
                          "--quiet", "--out", str(out)])
    assert rc == 0
    fm = load_float_model(out)
    assert "soft targets ml-ls" in fm.training["loss"] and fm.training["steps_run"] == 2
    assert fm.arch.timesteps == 4 and fm.arch.name == "mimo-icl"
    assert fm.training["stages"][-1].endswith(f"--out {out}")


@pytest.mark.parametrize("argv", [["--soft-weight", "1.5"], ["--timesteps", "0"], ["--kd-weight", "-0.1"],
                                  ["--kd-temp", "0"], ["--select-noise", "-1"], ["--select-chips", "0"],
                                  ["--rate-warmup", "1.5"], ["--embed-clip", "0.5"],
                                  ["--embed-clip-warmup", "2"]])
def test_train_mimo_bad_option_exit_2(argv, capsys, tmp_path):
    import train_mimo

    with pytest.raises(SystemExit) as exc:  # (a one-step run if the check were missing: rc 0, no SystemExit)
        train_mimo.main(argv + ["--steps", "1", "--batch", "4", "--threads", "1", "--quiet",
                                "--out", str(tmp_path / "m.h5")])
    assert exc.value.code == 2 and argv[0] in capsys.readouterr().err


def test_embed_clip_rule_and_schedule():
    """``clip_embed`` bounds the one-hot and query-flag rows by factor x the column's largest |y weight| and leaves
    the y rows and the weights within the bound alone; the factor falls linearly from EMBED_CLIP_START."""
    from train_mimo import EMBED_CLIP_START, clip_embed, embed_clip_factor

    g = torch.Generator().manual_seed(4)
    w = torch.randn(73, 64, generator=g, dtype=torch.float64)
    w[64:] *= 10
    before = w.clone()
    clip_embed(w, slice(0, 64), 1.5)
    bound = 1.5 * before[:64].abs().amax(0)
    assert torch.equal(w[:64], before[:64])
    assert torch.all(w[64:].abs() <= bound + 1e-12)
    inside = before[64:].abs() <= bound
    assert inside.any() and (~inside).any()
    assert torch.equal(w[64:][inside], before[64:][inside])
    assert torch.allclose(w[64:][~inside].abs(), bound.expand(9, 64)[~inside])
    assert torch.equal(torch.sign(w[64:]), torch.sign(before[64:]))
    assert embed_clip_factor(0.0, 2.0, 0.3) == EMBED_CLIP_START
    assert embed_clip_factor(0.15, 2.0, 0.3) == pytest.approx((EMBED_CLIP_START + 2.0) / 2)
    assert embed_clip_factor(0.3, 2.0, 0.3) == 2.0 == embed_clip_factor(0.9, 2.0, 0.3)
    assert embed_clip_factor(0.0, 2.0, 0.0) == 2.0


def test_train_mimo_embed_clip_two_steps(tmp_path):
    """``--embed-clip 1.5`` (no warm-up): the stored model's one-hot and query-flag weights are within 1.5 times
    each column's largest |y weight| (the shipped model's one-copy form is a median 5.1 times), and the metadata
    records it."""
    import mimo_centre
    import train_mimo

    from bittrue.datasets.mimo import MimoConfig
    from bittrue.model import load_float_model, save_float_model

    out = tmp_path / "m.h5"
    init = tmp_path / "one.h5"
    save_float_model(mimo_centre.one_copy(load_float_model(ROOT / "bittrue/models/mimo-icl.h5")), init)
    rc = train_mimo.main(["--steps", "2", "--eval-every", "1", "--batch", "8", "--ssa-warmup", "0",
                          "--noise-start", "0", "--init", str(init), "--embed-clip", "1.5",
                          "--embed-clip-warmup", "0", "--threads", "1", "--quiet", "--out", str(out)])
    assert rc == 0
    y = MimoConfig().token_layout()["y"]
    for path, ok in ((init, False), (out, True)):
        w = load_float_model(path).linear["embed"].weight.astype("float64")
        within = (abs(w[y.stop:]).max(0) <= 1.5 * abs(w[y]).max(0) * (1 + 1e-6)).all()
        assert within == ok
    assert load_float_model(out).training["embed_clip"]["factor"] == 1.5


def test_train_mimo_rate_twin_warmup_and_the_hardware_lif(tmp_path, monkeypatch):
    """``--rate-warmup 0.5`` trains the first step as the rate twin and the second with spikes; a hardware file's
    LIF (soft reset, leak shift 15) reaches the torch network, the metadata and the numpy check at the end."""
    import _torch_hw
    import train_mimo

    import bittrue.floatmodel
    from bittrue import netlist as nl
    from bittrue.model import ARCHITECTURES, load_float_model
    from bittrue.modes import Reset

    calls = {"rate": 0, "numpy": []}
    rate, ff = _torch_hw.LIF.rate, bittrue.floatmodel.float_forward

    def spy_rate(self, y, timesteps):
        calls["rate"] += 1
        return rate(self, y, timesteps)

    def spy_ff(*a, **kw):
        calls["numpy"].append((kw.get("leak_shift"), kw.get("reset")))
        return ff(*a, **kw)

    monkeypatch.setattr(_torch_hw.LIF, "rate", spy_rate)
    monkeypatch.setattr(bittrue.floatmodel, "float_forward", spy_ff)
    hw = tmp_path / "if.toml"
    hw.write_text('[lif]\nreset = "soft"\nleak_shift = 15\n')
    out = tmp_path / "m.h5"
    rc = train_mimo.main(["--steps", "2", "--eval-every", "1", "--batch", "4", "--ssa-warmup", "0",
                          "--noise-start", "0", "--rate-warmup", "0.5", "--hardware", str(hw), "--timesteps", "2",
                          "--threads", "1", "--quiet", "--out", str(out)])
    assert rc == 0
    n_lif = sum(op.kind == nl.LIF for op in nl.netlist(ARCHITECTURES["mimo-icl"]))
    # one rate-twin forward in step 1, none in step 2 or the spiking validations, then the rate twin's own
    # validation of the selected model (1,100 tasks in chunks of 512)
    assert calls["rate"] == n_lif * (1 + 3)
    assert calls["numpy"] and set(calls["numpy"]) == {(15, Reset.SOFT)}
    t = load_float_model(out).training
    assert t["rate_warmup_fraction"] == 0.5 and t["reset"] == "soft" and t["leak_shift"] == 15
    assert 0.0 < t["torch_val_rate_twin_mean_ser"] < 1.0


def test_train_mimo_distillation_and_noisy_selection_two_steps(tmp_path, monkeypatch):
    """From the shipped model (4 ramp and 8 one-hot copies, 321 features) the ANN teacher reads one copy of each
    block, the one-copy tokens (73 features) it was trained on: the same codes as the one-copy format."""
    import train_mimo

    from bittrue.datasets.mimo import MimoConfig, generate_tasks, prompt_tokens
    from bittrue.model import load_float_model

    seen = []
    probs = train_mimo.teacher_probs

    def spy(teacher, x, temp):
        seen.append(x.detach().clone())
        return probs(teacher, x, temp)

    monkeypatch.setattr(train_mimo, "teacher_probs", spy)
    out = tmp_path / "m.h5"
    rc = train_mimo.main(["--steps", "2", "--eval-every", "1", "--batch", "8", "--ssa-warmup", "0",
                          "--noise-start", "0", "--init", str(ROOT / "bittrue/models/mimo-icl.h5"),
                          "--kd", str(ROOT / "bittrue/models/mimo-icl-ann.npz"), "--kd-weight", "0.7",
                          "--select-noise", "1", "--select-chips", "1", "--timesteps", "2", "--threads", "1",
                          "--quiet", "--out", str(out)])
    assert rc == 0
    assert len(seen) == 2 and seen[0].shape == (8, 20, 73)
    first = generate_tasks(MimoConfig(), 8, train_mimo.TRAIN_SEED_BASE + 0 * 10_000_000)  # --seed 0, step 0
    np.testing.assert_array_equal(seen[0].numpy() * 256.0, prompt_tokens(first, MimoConfig()).astype(np.float32))
    t = load_float_model(out).training
    assert t["distillation"]["weight"] == 0.7 and t["distillation"]["teacher"].endswith("mimo-icl-ann.npz")
    assert t["selection"].startswith("validation on 1 chips with hardware noise scale 1.0")
    assert 0.0 < t["selection_val_mean_ser"] < 1.0


def test_train_mimo_unreadable_teacher_exit_2(tmp_path, capsys):
    import train_mimo

    bad = tmp_path / "ann.npz"
    bad.write_bytes(b"not a zip file")
    rc = train_mimo.main(["--steps", "1", "--batch", "4", "--threads", "1", "--quiet", "--kd", str(bad),
                          "--out", str(tmp_path / "m.h5")])
    err = capsys.readouterr().err
    assert rc == 2 and str(bad) in err and len(err.strip().splitlines()) == 1


def test_teacher_probs_are_the_numpy_ann_softmax():
    """The teacher gets the SNN's inputs ``code / 256`` and must give the softmax of the numpy ANN's logits on
    ``code / 255`` (tools/ann.py), the same tokens: float32 torch against float64 numpy, within 1e-4."""
    import numpy as np
    import train_mimo
    from _torch_net import ann_from_arrays
    from ann import ann_forward_tokens, load_ann

    from bittrue.datasets.mimo import MimoConfig, generate_tasks, prompt_tokens
    from bittrue.model import ARCHITECTURES

    arch = ARCHITECTURES["mimo-icl"]
    params = load_ann(ROOT / "bittrue/models/mimo-icl-ann.npz")
    teacher = ann_from_arrays(arch, params).eval()
    codes = prompt_tokens(generate_tasks(MimoConfig(), 64, 5), MimoConfig())
    got = train_mimo.teacher_probs(teacher, torch.from_numpy(codes.astype(np.float32) / 256.0), 2.0).numpy()
    lg = ann_forward_tokens(params, codes.astype(np.float64) / 255.0, arch) / 2.0
    want = np.exp(lg - lg.max(-1, keepdims=True))
    want /= want.sum(-1, keepdims=True)
    assert got.shape == want.shape == (64, 4, 16)
    np.testing.assert_allclose(got, want, atol=1e-4)


def _mimo_net(pcm_noise):
    import _torch_hw
    from _torch_net import SpikingTransformer, load_snn

    from bittrue.config import HardwareConfig
    from bittrue.model import load_float_model

    fm = load_float_model(ROOT / "bittrue/models/mimo-icl.h5")
    opts = _torch_hw.HWOptions(HardwareConfig(), pcm_noise)
    net = SpikingTransformer(fm.arch, 16, 16, opts, timesteps=2)
    load_snn(net, fm)
    return net, opts


def test_chip_logits_one_draw_at_the_configured_noise_reproducible_and_isolated(monkeypatch):
    """One call is one chip: a single PCM draw per crossbar at scale ``noise`` (not ``--pcm-noise``), however
    many chunks; the same seed gives the same logits, another seed others; the caller's torch RNG state and the
    network's noise state are as before."""
    import _torch_hw
    import numpy as np
    import train_mimo

    from bittrue.datasets.mimo import generate_tasks, prompt_tokens
    from bittrue.workloads import mimo_config

    net, opts = _mimo_net(pcm_noise=0.3)
    cfg = mimo_config(net.arch)  # the shipped model's tokens (its copies)
    x = torch.from_numpy(prompt_tokens(generate_tasks(cfg, 24, 9), cfg).astype(np.float32) / 256)
    scales = []
    real = _torch_hw.pcm_weight_noise

    def counting(w, scale, t_s, hw=None):
        scales.append(scale)
        return real(w, scale, t_s, hw)

    monkeypatch.setattr(_torch_hw, "pcm_weight_noise", counting)
    net.train()
    net.state.noise, net.state.forward_id = 0.25, 7
    rng_before = torch.random.get_rng_state()
    a = train_mimo.chip_logits(net, opts, x, 1.0, seed=3, chunk=10)  # 3 chunks
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    assert (net.state.noise, net.state.eval_noise, net.state.forward_id, opts.pcm_noise) == (0.25, False, 7, 0.3)
    assert net.training
    assert len(scales) == len(net.lin) and set(scales) == {1.0}
    b = train_mimo.chip_logits(net, opts, x, 1.0, seed=3, chunk=10)
    c = train_mimo.chip_logits(net, opts, x, 1.0, seed=4, chunk=10)
    clean = train_mimo.chip_logits(net, opts, x, 0.0, seed=3, chunk=10)
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a, clean)


def test_train_mimo_refuses_an_existing_output_before_training(tmp_path, capsys, monkeypatch):
    """An existing ``--out`` (by default the shipped model) is refused before any task is drawn, exit 2, one
    line, the file unchanged; ``--force`` overwrites it."""
    import train_mimo

    import bittrue.datasets.mimo as mimo

    out = tmp_path / "m.h5"
    out.write_bytes(b"keep me")
    argv = ["--steps", "1", "--eval-every", "1", "--batch", "4", "--ssa-warmup", "0", "--timesteps", "1",
            "--threads", "1", "--quiet", "--out", str(out)]
    with monkeypatch.context() as m:
        m.setattr(mimo, "eval_tasks", lambda *a, **k: pytest.fail("training started"))
        rc = train_mimo.main(argv)
    err = capsys.readouterr().err
    assert rc == 2 and "--force" in err and len(err.strip().splitlines()) == 1
    assert out.read_bytes() == b"keep me"
    assert train_mimo.main(argv + ["--force"]) == 0 and out.read_bytes() != b"keep me"


def test_train_mimo_ann_init_and_ssa_attention(tmp_path, capsys):
    """``train_mimo_ann.py train``: ``--init`` starts from the given weights (a two-step run from the shipped
    ANN, learning rate 0 at its first step, validates at about the shipped 0.161; from scratch about 0.75);
    ``--attention ssa`` writes a file whose numpy forward is the SSA form (``meta.attention``); an unreadable
    ``--init`` is one line, exit 2."""
    import train_mimo_ann
    from ann import load_ann

    shipped = ROOT / "bittrue/models/mimo-icl-ann.npz"
    common = ["--steps", "2", "--eval-every", "1", "--batch", "8", "--time-budget", "0", "--threads", "1"]
    assert train_mimo_ann.main(["train", "--init", str(shipped), *common, "--out", str(tmp_path / "a.npz")]) == 0
    err = capsys.readouterr().err
    assert float(err.split("val SER ")[1].split()[0]) < 0.2, err
    assert "meta.attention" not in load_ann(tmp_path / "a.npz")
    assert train_mimo_ann.main(["train", "--attention", "ssa", *common, "--out", str(tmp_path / "s.npz")]) == 0
    capsys.readouterr()
    assert str(load_ann(tmp_path / "s.npz")["meta.attention"]) == "ssa"
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"junk")
    rc = train_mimo_ann.main(["train", "--init", str(bad), "--steps", "1", "--threads", "1",
                              "--out", str(tmp_path / "b.npz")])
    err = capsys.readouterr().err
    assert rc == 2 and str(bad) in err and len(err.strip().splitlines()) == 1
