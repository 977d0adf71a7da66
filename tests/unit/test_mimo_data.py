"""Unit tests of the MIMO in-context-learning task generator (spec 8, ``bittrue.datasets.mimo``).

Statistical checks use fixed seeds and bounds of at least 6 standard deviations (CONVENTIONS, test layering).
"""
from __future__ import annotations

import numpy as np
import pytest

from bittrue.datasets import mimo
from bittrue.datasets.mimo import MimoConfig


# ------------------------------------------------------------------ config
def test_config_defaults_and_sizes():
    c = MimoConfig()
    assert (c.n_r, c.n_t, c.modulation, c.pilots, c.queries, c.levels) == (2, 2, "qpsk", 16, 4, 16)
    assert c.order == 4 and c.n_classes == 16 and c.n_tokens == 20
    assert c.fs == pytest.approx(4.0)
    assert c.token_features == 2 * 2 * 16 + 2 * 4 + 1 == 73
    lay = c.token_layout()
    assert (lay["y"], lay["x"], lay["query"]) == (slice(0, 64), slice(64, 72), slice(72, 73))
    c2 = MimoConfig(n_r=4, n_t=3, modulation="16qam", full_scale=3.0, levels=8)
    assert c2.order == 16 and c2.n_classes == 16 ** 3 and c2.fs == 3.0 and c2.token_features == 64 + 48 + 1


@pytest.mark.parametrize("kw, field", [
    ({"n_r": 0}, "n_r"), ({"pilots": 1}, "pilots"), ({"modulation": "bpsk"}, "modulation"),
    ({"levels": 12}, "levels"), ({"y_bits": 9}, "y_bits"), ({"snr_db_min": 5.0, "snr_db_max": 1.0}, "SNR"),
    ({"full_scale": -1.0}, "full_scale"), ({"queries": True}, "queries"),
    ({"ramp_copies": 0}, "ramp_copies"), ({"onehot_copies": 65}, "onehot_copies"),
    ({"ramp_copies": True}, "ramp_copies"),
])
def test_config_rejects(kw, field):
    with pytest.raises(ValueError, match=field):
        MimoConfig(**kw)


# ------------------------------------------------------------------ constellations
@pytest.mark.parametrize("mod, m", [("qpsk", 4), ("16qam", 16), ("64qam", 64)])
def test_constellation_unit_energy_and_gray(mod, m):
    pts = mimo.constellation(mod)
    assert pts.shape == (m,) and pts.dtype == np.complex128
    assert np.mean(np.abs(pts) ** 2) == pytest.approx(1.0, abs=1e-12)
    assert len(np.unique(np.round(pts, 9))) == m
    d = np.abs(pts[:, None] - pts[None, :])
    dmin = d[d > 1e-9].min()
    i, j = np.nonzero(np.isclose(d, dmin))
    assert len(i) > 0
    # Gray: every nearest-neighbour pair differs in exactly one label bit
    assert all(bin(int(a) ^ int(b)).count("1") == 1 for a, b in zip(i, j))


def test_constellation_hand_values():
    s = 1 / np.sqrt(2)
    np.testing.assert_allclose(mimo.constellation("qpsk"), [-s - 1j * s, -s + 1j * s, s - 1j * s, s + 1j * s])
    q = mimo.constellation("16qam") * np.sqrt(10)
    np.testing.assert_allclose(q.real[::4], [-3, -1, 3, 1])  # g_I = 0, 1, 2, 3 (Gray 00 01 11 10 -> -3 -1 1 3)
    np.testing.assert_allclose(q.imag[:4], [-3, -1, 3, 1])
    with pytest.raises(ValueError, match="modulation"):
        mimo.constellation("8psk")


# ------------------------------------------------------------------ tasks
def test_shapes_dtypes_and_consistency():
    c = MimoConfig()
    t = mimo.generate_tasks(c, 37, seed=3)
    assert t["H"].shape == (37, 2, 2) and t["H"].dtype == np.complex128
    assert t["snr_db"].shape == (37,) and t["noise_var"].shape == (37,)
    assert t["x_idx"].shape == (37, 20, 2) and t["x_idx"].dtype == np.int64
    assert t["x"].shape == (37, 20, 2) and t["y"].shape == (37, 20, 2) and t["y"].dtype == np.complex128
    assert t["pilot_idx"].shape == (37, 16, 2) and t["query_idx"].shape == (37, 4, 2)
    np.testing.assert_array_equal(t["query_idx"], t["x_idx"][:, 16:])
    np.testing.assert_array_equal(t["x"], mimo.constellation("qpsk")[t["x_idx"]])
    assert t["x_idx"].min() >= 0 and t["x_idx"].max() <= 3
    np.testing.assert_allclose(t["noise_var"], 2 / 10 ** (t["snr_db"] / 10))
    assert np.all((t["snr_db"] >= 0) & (t["snr_db"] <= 20))
    assert mimo.generate_tasks(c, 0, seed=3)["y"].shape == (0, 20, 2)


def test_determinism_prefix_and_snr_override():
    c = MimoConfig()
    a = mimo.generate_tasks(c, 300, seed=11)
    b = mimo.generate_tasks(c, 700, seed=11)  # crosses a BLOCK boundary
    for k in a:
        np.testing.assert_array_equal(a[k], b[k][:300], err_msg=k)
    assert not np.array_equal(a["y"], mimo.generate_tasks(c, 300, seed=12)["y"])
    s = mimo.generate_tasks(c, 300, seed=11, snr_db=7.0)
    np.testing.assert_array_equal(s["H"], a["H"])
    np.testing.assert_array_equal(s["x_idx"], a["x_idx"])
    assert np.all(s["snr_db"] == 7.0)
    # same unit noise, rescaled
    n_a = (a["y"] - np.einsum("nrt,nit->nir", a["H"], a["x"])) / np.sqrt(a["noise_var"])[:, None, None]
    n_s = (s["y"] - np.einsum("nrt,nit->nir", s["H"], s["x"])) / np.sqrt(s["noise_var"])[:, None, None]
    np.testing.assert_allclose(n_a, n_s, atol=1e-9)
    with pytest.raises(ValueError, match="seed"):
        mimo.generate_tasks(c, 3, seed=-1)


def test_snr_definition_empirical():
    """SNR = E||Hx||^2 / E||n||^2 = n_t Es / N0; each measured mean is within 6 sigma (task-level sigma)."""
    c = MimoConfig(queries=4)
    n = 4000
    t = mimo.generate_tasks(c, n, seed=5, snr_db=10.0)
    hx = np.einsum("nrt,nit->nir", t["H"], t["x"])
    noise = t["y"] - hx
    n0 = 2 / 10.0
    # noise: per task, mean |n|^2 / N0 over 20 x 2 samples; E = 1
    pn = (np.abs(noise) ** 2).reshape(n, -1).mean(1) / n0
    assert abs(pn.mean() - 1) < 6 * pn.std() / np.sqrt(n)
    # circular: Re and Im each N0 / 2, uncorrelated
    assert abs(np.mean(noise.real ** 2) / n0 - 0.5) < 6 * 0.5 * np.sqrt(2 / noise.size)
    assert abs(np.mean(noise.real * noise.imag)) / n0 < 6 * 0.5 / np.sqrt(noise.size)
    # signal: per task, mean |Hx|^2 per receive antenna / (n_t Es); E = 1
    ps = (np.abs(hx) ** 2).reshape(n, -1).mean(1) / 2
    assert abs(ps.mean() - 1) < 6 * ps.std() / np.sqrt(n)
    # channel entries CN(0, 1)
    assert abs(np.mean(np.abs(t["H"]) ** 2) - 1) < 6 / np.sqrt(t["H"].size)


def test_training_snr_is_uniform():
    c = MimoConfig(snr_db_min=0.0, snr_db_max=20.0)
    s = mimo.generate_tasks(c, 3000, seed=2)["snr_db"]
    assert s.min() >= 0 and s.max() <= 20
    assert abs(s.mean() - 10) < 6 * (20 / np.sqrt(12)) / np.sqrt(3000)
    assert abs(np.mean(s < 5) - 0.25) < 6 * np.sqrt(0.25 * 0.75 / 3000)


def test_eval_set_grid_and_balance():
    c = MimoConfig()
    t = mimo.eval_tasks(c, 2000)
    assert t["y"].shape == (2000, 20, 2)
    grid = np.arange(0, 31, 2, dtype=float)
    np.testing.assert_array_equal(t["snr_db"][:16], grid)
    vals, counts = np.unique(t["snr_db"], return_counts=True)
    np.testing.assert_array_equal(vals, grid)
    assert counts.tolist() == [125] * 16
    t2 = mimo.eval_tasks(c, n_tasks=160)
    np.testing.assert_array_equal(t2["y"], t["y"][:160])
    assert np.all(np.unique(t2["snr_db"], return_counts=True)[1] == 10)


def test_rx_correlation_kronecker():
    """rho = 0 is the i.i.d. draw; rho > 0 keeps unit-power entries and gives E[h_0 h_1^*] = rho (6 sigma)."""
    c = MimoConfig()
    a = mimo.generate_tasks(c, 4000, seed=3, snr_db=10.0)
    b = mimo.generate_tasks(c, 4000, seed=3, snr_db=10.0, rx_corr=0.0)
    np.testing.assert_array_equal(a["H"], b["H"])
    r = mimo.generate_tasks(c, 4000, seed=3, snr_db=10.0, rx_corr=0.9)
    np.testing.assert_array_equal(r["x_idx"], a["x_idx"])
    h = r["H"]  # (n, 2, 2): rows are receive antennas
    n = h.shape[0] * h.shape[2]
    power = np.mean(np.abs(h) ** 2, axis=(0, 2))
    assert np.all(np.abs(power - 1) < 6 / np.sqrt(n))  # |h|^2 ~ Exp(1): sd 1 per sample
    corr = np.mean(h[:, 0] * h[:, 1].conj())
    assert abs(corr - 0.9) < 6 / np.sqrt(n)
    np.testing.assert_allclose(mimo.rx_correlation(3, 0.5), [[1, .5, .25], [.5, 1, .5], [.25, .5, 1]])
    with pytest.raises(ValueError, match="rx_corr"):
        mimo.generate_tasks(c, 2, seed=3, rx_corr=1.0)


# ------------------------------------------------------------------ quantiser, tokens
def test_quantise_hand_table():
    lsb = 4.0 / 128
    y = np.array([0.0, -4.0, 4.0, 4.0 - lsb, -5.0, 9.0, lsb, lsb / 2, -lsb / 2, -lsb / 2 - 1e-9, 2.0])
    assert mimo.quantise(y, 4.0).tolist() == [128, 0, 255, 255, 0, 255, 129, 129, 128, 127, 192]
    assert mimo.quantise(np.array([0.0, -1.0, 0.99]), 1.0, bits=4).tolist() == [8, 0, 15]
    assert mimo.quantise(np.zeros(3), 1.0).dtype == np.uint8
    with pytest.raises(ValueError, match="complex"):
        mimo.quantise(np.zeros(2, complex), 1.0)
    with pytest.raises(ValueError, match="bits"):
        mimo.quantise(np.zeros(2), 1.0, bits=9)
    with pytest.raises(ValueError, match="full_scale"):
        mimo.quantise(np.zeros(2), 0.0)


def test_dequantise_error_within_half_lsb():
    y = np.linspace(-3.9, 3.9, 1001)
    err = mimo.dequantise(mimo.quantise(y, 4.0), 4.0) - y
    assert np.max(np.abs(err)) <= 4.0 / 256 + 1e-12
    c = MimoConfig()
    yc = np.array([[0.3 - 1.2j, -2.0 + 0.01j]])
    codes = mimo.quantise_received(yc, c)
    assert codes.shape == (1, 2, 2)
    assert codes[0, 0].tolist() == mimo.quantise(np.array([0.3, -1.2]), 4.0).tolist()
    assert np.max(np.abs(mimo.dequantise_received(codes, c) - yc)) <= 4.0 / 256 * np.sqrt(2) + 1e-12


def test_ramp_hand_table():
    r = mimo.ramp(np.array([0, 64, 100, 255, 63]), 4)
    assert r.tolist() == [[0, 0, 0, 0], [255, 0, 0, 0], [255, 144, 0, 0], [255, 255, 255, 252], [252, 0, 0, 0]]
    c = np.arange(256)
    assert mimo.ramp(c, 1)[:, 0].tolist() == c.tolist()
    for k in (2, 8, 16, 32):
        f = mimo.ramp(c, k).astype(int)
        # c // w full segments of 255 (= K w - 1) below a partial one of K (c - j0 w)
        np.testing.assert_array_equal(f.sum(1), k * c - c // (256 // k))
        assert np.all(np.diff(f.sum(1)) > 0)  # strictly monotone
    with pytest.raises(ValueError, match="levels"):
        mimo.ramp(c, 3)


def test_prompt_tokens_layout():
    c = MimoConfig()
    t = mimo.generate_tasks(c, 9, seed=1)
    tok = mimo.prompt_tokens(t, c)
    assert tok.shape == (9, 20, 73) and tok.dtype == np.uint8
    lay = c.token_layout()
    ry = mimo.ramp(mimo.quantise_received(t["y"], c), 16).reshape(9, 20, 64)
    np.testing.assert_array_equal(tok[..., lay["y"]], ry)
    x = tok[..., lay["x"]].reshape(9, 20, 2, 4)
    assert np.all(np.isin(x, (0, 255)))
    np.testing.assert_array_equal(np.argmax(x[:, :16], -1), t["pilot_idx"])
    assert np.all((x[:, :16] == 255).sum(-1) == 1)
    assert np.all(x[:, 16:] == 0)
    assert np.all(tok[:, :16, lay["query"]] == 0) and np.all(tok[:, 16:, lay["query"]] == 255)
    with pytest.raises(ValueError, match="prompt_tokens"):
        mimo.prompt_tokens(t, MimoConfig(pilots=8))


def test_prompt_tokens_copies_repeat_each_block():
    c1, c = MimoConfig(), MimoConfig(ramp_copies=2, onehot_copies=8)
    assert c.token_features == 2 * 64 + 8 * 8 + 1 == 193
    lay = c.token_layout()
    assert (lay["y"], lay["x"], lay["query"]) == (slice(0, 128), slice(128, 192), slice(192, 193))
    t = mimo.generate_tasks(c, 7, seed=3)
    one, tok = mimo.prompt_tokens(t, c1), mimo.prompt_tokens(t, c)
    l1 = c1.token_layout()
    assert tok.shape == (7, 20, 193)
    for r in range(2):  # copy-major: the whole ramp block, twice
        np.testing.assert_array_equal(tok[..., r * 64:(r + 1) * 64], one[..., l1["y"]])
    for k in range(8):
        np.testing.assert_array_equal(tok[..., 128 + k * 8:128 + (k + 1) * 8], one[..., l1["x"]])
    np.testing.assert_array_equal(tok[..., 192], one[..., 72])
    np.testing.assert_array_equal(tok[..., c.one_copy_features()], one)
    np.testing.assert_array_equal(c1.one_copy_features(), np.arange(73))


def test_prompt_tokens_options():
    c = MimoConfig(n_r=4, n_t=2, modulation="16qam", pilots=8, queries=2, levels=1, y_bits=6)
    t = mimo.generate_tasks(c, 5, seed=0)
    tok = mimo.prompt_tokens(t, c)
    assert tok.shape == (5, 10, 8 + 32 + 1)
    codes6 = mimo.quantise_received(t["y"], c)
    assert codes6.max() <= 63
    np.testing.assert_array_equal(tok[..., :8], (codes6.astype(int) << 2).reshape(5, 10, 8))


# ------------------------------------------------------------------ labels
def test_joint_labels_roundtrip():
    assert mimo.joint_labels(np.array([1, 2]), 4) == 6
    assert mimo.joint_labels(np.array([[3, 3], [0, 1]]), 4).tolist() == [15, 1]
    idx = np.random.default_rng(0).integers(0, 16, size=(50, 4, 3))
    j = mimo.joint_labels(idx, 16)
    assert j.shape == (50, 4) and j.max() < 16 ** 3
    np.testing.assert_array_equal(mimo.split_joint(j, 16, 3), idx)
    c = MimoConfig()
    t = mimo.generate_tasks(c, 4, seed=0)
    assert mimo.query_labels(t, c).shape == (4, 4)
    np.testing.assert_array_equal(mimo.query_labels(t, c, joint=False), t["query_idx"])
