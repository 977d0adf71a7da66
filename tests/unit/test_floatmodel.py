"""The numpy SNN float expectation model."""
import numpy as np
import pytest

from bittrue.floatmodel import LIF, attention_mask, float_forward, float_predict, ssa
from bittrue.model import ARCHITECTURES, default_model_path, load_float_model, random_float_model
from bittrue.modes import Mask, Reset

ARCH = ARCHITECTURES["digits"]


def _x(b=5, seed=1):
    return np.random.default_rng(seed).integers(0, 256, (b, ARCH.n_patches, ARCH.token_features), dtype=np.uint8)


def test_shapes_and_determinism():
    m = random_float_model(ARCH, seed=3)
    x = _x()
    runs = []
    for seed in (7, 7, 8):
        spikes = []
        lg = float_forward(m, x, timesteps=3, rng=np.random.default_rng(seed), k_s=16, k_o=32,
                           record=lambda n, t, s: spikes.append(s.copy()))
        runs.append((lg, spikes))
    (a, sa), (b, sb), (c, sc) = runs
    assert a.shape == (5, 10) and a.dtype == np.float64
    assert np.array_equal(a, b) and all(np.array_equal(u, w) for u, w in zip(sa, sb))
    assert not all(np.array_equal(u, w) for u, w in zip(sa, sc))


def test_lif_recurrence_hard_and_soft():
    lif = LIF(1.0, leak_shift=1, reset=Reset.HARD)
    ys = [0.6, 0.6, 0.6, 2.5, 0.0]
    # v: 0.6 -> 0.3+0.6=0.9 -> 0.45+0.6=1.05 fire, 0 -> 2.5 fire, 0 -> 0
    assert [float(lif(np.array([y]))[0]) for y in ys] == [0, 0, 1, 1, 0]
    soft = LIF(1.0, leak_shift=1, reset=Reset.SOFT)
    out = [float(soft(np.array([y]))[0]) for y in ys]
    # 0.6, 0.9, 1.05 -> fire, v=0.05; 0.025+2.5=2.525 fire v=1.525; 0.7625 no
    assert out == [0, 0, 1, 1, 0]
    assert soft.v[0] == pytest.approx(0.7625)
    lif2 = LIF(1.0, leak_shift=2)
    lif2(np.array([0.8]))
    lif2(np.array([0.3]))  # 0.8 * 0.75 + 0.3 = 0.9
    assert lif2.v[0] == pytest.approx(0.9)


def test_masks():
    assert np.array_equal(attention_mask(Mask.DIAGONAL, 3), 1 - np.eye(3))
    assert np.array_equal(attention_mask(Mask.CAUSAL, 3), np.tril(np.ones((3, 3))))
    assert np.array_equal(attention_mask(Mask.NONE, 2), np.ones((2, 2)))


def test_ssa_deterministic_extremes():
    # all-ones q, k: C = d_k = K_S -> S = mask exactly; P[i, c] = sum_{j != i} v[j, c]
    rng = np.random.default_rng(0)
    n, d, heads = 5, 8, 2
    q = np.ones((1, n, d))
    v = (rng.random((1, n, d)) < 0.5).astype(float)
    m = attention_mask(Mask.DIAGONAL, n)
    # K_O = 1: O = (P >= 1)
    o = ssa(q, q, v, heads, m, k_s=4, k_o=1, rng=rng)
    p = v.sum(1, keepdims=True) - v
    assert np.array_equal(o, (p >= 1).astype(float))
    # q = 0: no scores, no output
    assert not ssa(np.zeros_like(q), q, v, heads, m, 4, 1, rng).any()


def test_ssa_expectation():
    rng = np.random.default_rng(1)
    n, d, heads, ks, ko = 4, 4, 1, 4, 8
    q = (rng.random((1, n, d)) < 0.6).astype(float)
    k = (rng.random((1, n, d)) < 0.6).astype(float)
    v = (rng.random((1, n, d)) < 0.6).astype(float)
    m = attention_mask(Mask.DIAGONAL, n)
    c = q[0] @ k[0].T
    expect = (m * np.minimum(c, ks) / ks) @ v[0] / ko  # spec 3.6 (K_O >= N)
    reps = 20000
    o = ssa(np.repeat(q, reps, 0), np.repeat(k, reps, 0), np.repeat(v, reps, 0), heads, m, ks, ko, rng)
    est = o.mean(0)
    assert np.all(np.abs(est - expect) <= 6 * np.sqrt(expect * (1 - expect) / reps) + 1e-12)


def test_sources_in_expectation():
    """``expectation``: the named sources become their probabilities; all three make the network deterministic."""
    m = load_float_model(default_model_path("digits"))
    x = _x()

    def run(seed, exp=()):  # every recorded layer input and LIF output, concatenated
        seen = []
        float_forward(m, x, timesteps=3, rng=np.random.default_rng(seed), k_s=16, k_o=16, expectation=exp,
                      record=lambda n, t, a: seen.append(a.ravel().copy()))
        return np.concatenate(seen)

    assert not np.array_equal(run(0), run(1))
    assert np.array_equal(run(0, ("encoder", "score", "output")), run(1, ("encoder", "score", "output")))
    for src in ("encoder", "score", "output"):  # one source in expectation: still random, and not the sampled run
        assert not np.array_equal(run(0, (src,)), run(1, (src,))) and not np.array_equal(run(0, (src,)), run(0))
    # the encoder in expectation feeds the probabilities code / 256 to the embedding
    seen = {}
    float_forward(m, x, timesteps=1, rng=np.random.default_rng(0), k_s=16, k_o=16, expectation=("encoder",),
                  record=lambda n, t, a: seen.setdefault(n, a.copy()))
    assert np.allclose(seen["embed"], x / 256.0)
    with pytest.raises(ValueError, match="sources"):
        float_forward(m, x, timesteps=1, rng=np.random.default_rng(0), k_s=16, k_o=16, expectation=("lfsr",))


def test_record_hook_names_and_shapes():
    m = random_float_model(ARCH, seed=0)
    seen = {}

    def rec(name, t, s):
        seen.setdefault(name, []).append((t, s.shape, set(np.unique(s)) <= {0.0, 1.0}))

    float_forward(m, _x(3), timesteps=2, rng=np.random.default_rng(0), k_s=16, k_o=32, record=rec)
    lin = list(ARCH.linear_shapes())
    assert [n for n in seen if not n.startswith("lif:")] == lin
    assert {n[4:] for n in seen if n.startswith("lif:")} == set(ARCH.lif_names())
    for name, (fin, _) in ARCH.linear_shapes().items():
        toks = {"embed": ARCH.n_patches, "head": 1}.get(name, ARCH.n_tokens)
        assert [e[0] for e in seen[name]] == [0, 1]
        assert all(e[1] == (3, toks, fin) and e[2] for e in seen[name])
    assert seen["lif:blocks.0.h"][0][1] == (3, ARCH.n_tokens, ARCH.mlp)
    assert seen["lif:head.in"][0][1] == (3, 1, ARCH.dim)


def test_tiny_network_by_hand():
    """Identity-like weights, threshold 1: the logits follow from the LIF recurrence by hand."""
    m = random_float_model(ARCH, seed=0)
    for lin in m.linear.values():
        lin.weight[:] = 0
        lin.bias[:] = 0
    m.pos[:] = 0
    m.cls[:] = 0.6  # CLS residual 0.6 every step; head.in: 0.6, 0.9, 1.05 (fire), 0.6, 0.9, 1.05, ...
    m.linear["head"].weight[:] = 0
    m.linear["head"].weight[:, 3] = 1.0  # logit 3 = number of head.in spikes (64 neurons)
    x = np.zeros((2, ARCH.n_patches, ARCH.token_features), np.uint8)
    lg = float_forward(m, x, timesteps=6, rng=np.random.default_rng(0), k_s=16, k_o=32)
    assert lg[:, 3] == pytest.approx([128.0, 128.0], rel=1e-4)  # 2 spikes per neuron in 6 steps, 64 neurons
    assert np.all(lg[:, [0, 1, 2, 4, 5, 6, 7, 8, 9]] == 0)


def test_input_validation():
    m = random_float_model(ARCH)
    with pytest.raises(ValueError, match="uint8"):
        float_forward(m, _x().astype(np.int32), timesteps=1, rng=np.random.default_rng(0), k_s=16, k_o=32)
    with pytest.raises(ValueError, match="shape"):
        float_forward(m, _x()[:, :3], timesteps=1, rng=np.random.default_rng(0), k_s=16, k_o=32)
    with pytest.raises(ValueError, match="timesteps"):
        float_forward(m, _x(), timesteps=0, rng=np.random.default_rng(0), k_s=16, k_o=32)


def test_shipped_model_accuracy():
    path = default_model_path("digits")
    if not path.exists():
        pytest.skip("bittrue/models/digits.h5 not trained yet")
    from bittrue.datasets.digits import load_digits_tokens

    m = load_float_model(path)
    x, y = load_digits_tokens("test")
    acc = float(np.mean(float_predict(m, x, seed=0) == y))
    # sanity bound only: the shipped model (7 training stages, 0.936 at seed 0, 0.953 mean over 20 seeds; README)
    assert acc >= 0.92
    if "numpy_float_test_acc" in m.training:
        assert acc == pytest.approx(m.training["numpy_float_test_acc"], abs=1e-6)


def test_trained_config_mismatches():
    """A model trained for other SSA saturations / LIF settings than the hardware's is reported, one line each."""
    import dataclasses

    from bittrue.config import HardwareConfig
    from bittrue.model import trained_config_mismatches

    m = random_float_model(ARCH, seed=3)
    cfg = HardwareConfig()
    m.training = {}
    assert trained_config_mismatches(m, cfg) == []  # no metadata: nothing to compare
    m.training = {"k_s": 16, "k_o": 16, "leak_shift": 1, "reset": "hard"}  # the digits defaults
    assert trained_config_mismatches(m, cfg) == []
    m.training = {"k_s": 16, "k_o": 32, "leak_shift": 1, "reset": "soft"}
    msgs = trained_config_mismatches(m, cfg)
    assert len(msgs) == 2
    assert "k_o = 32" in msgs[0] and "k_o = 16" in msgs[0] and "[ssa] k_o = 32" in msgs[0]
    assert '[lif] reset = "soft"' in msgs[1]
    cfg16 = dataclasses.replace(cfg, ssa=dataclasses.replace(cfg.ssa, k_o=32),
                                lif=dataclasses.replace(cfg.lif, reset=Reset.SOFT)).validate()
    assert trained_config_mismatches(m, cfg16) == []  # the hardware the model was trained for
    m.training = {"k_s": "sixteen", "k_o": None, "leak_shift": True, "reset": 3}  # malformed: nothing to compare
    assert trained_config_mismatches(m, cfg) == []


def test_infer_warns_on_trained_config_mismatch(tmp_path, capsys):
    """``infer`` with a hardware file whose K_O differs from the shipped model's training prints one warning."""
    from bittrue.cli import main

    hw = tmp_path / "ko32.toml"
    hw.write_text("[ssa]\nk_o = 32\n")
    assert main(["infer", "--limit", "2", "--quiet", "--device", "float", "--hardware", str(hw)]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: the model was trained with k_o = 16 but the hardware has k_o = 32") == 1
    assert main(["infer", "--limit", "2", "--quiet", "--device", "float"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_training_stages_of_a_model():
    """``training_stages``: the recorded chain, else the one command, else ``unknown (source)``; a copy."""
    import dataclasses

    from bittrue.model import default_model_path, load_float_model, training_stages

    fm = load_float_model(default_model_path("mimo-icl"))
    got = training_stages(fm, "x.h5")
    assert got == fm.training["stages"] and len(got) >= 2 and got is not fm.training["stages"]
    one = dataclasses.replace(fm, training={"command": "python tools/train.py --steps 1"})
    assert training_stages(one, "x.h5") == ["python tools/train.py --steps 1"]
    assert training_stages(dataclasses.replace(fm, training={}), "x.h5") == ["unknown (x.h5)"]
