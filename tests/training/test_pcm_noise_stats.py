"""The training-time PCM device model (``tools/_torch_hw.pcm_weight_noise``, torch) against ``bittrue.program``
(numpy) on the same weights, statistically.

Both map a weight matrix to G+/G- (``tile.mapping``), program it, let it drift to t = 1 day, read it with 1/f
noise, quantise to the conductance image and compensate drift per column tile.  Per column c and repetition r
(a fresh programming seed / torch seed) two features of the effective-weight error e = W_eff - W are taken:

* the gain error ``g = <e, w_c> / <w_c, w_c>`` (drift not compensated, compensated with the wrong
  granularity or the wrong mapping shows here);
* the residual spread ``s = std(e - g w_c) / max|w_c|`` (the noise scale: the mapping's w_max shows here).

Repetitions are independent, so per column each feature's mean over R = 24 repetitions is compared with a
Welch t statistic.  Under the null hypothesis (same distribution) the features are close to normal (sums over 128
devices) and t is close to Student's t with at least R - 1 = 23 degrees of freedom (Welch's lower bound), so
P(|t| > 7) <= 3.9e-7 per comparison; over 96 columns x 2 features x 2 mappings (384 comparisons) the union bound
puts the false-failure probability below 1.5e-4.  The seeds are fixed, so the test is deterministic; the bound
says how unlikely a spurious failure is for other seeds.  Measured with these seeds: max |t| 2.8 (column
mapping), 2.6 (tile mapping); compensating per layer instead of per column tile gives 9.6, a per-tile w_max
where the config says per column (or the reverse) 45.

Weights: 3 column tiles of 32 columns (``tile.cols = 32``) with different magnitude distributions (uniform,
sparse with a few large entries, near +-w_max) and per-column scales 0.1..1, so the tiles drift by different
amounts (per-tile vs per-layer compensation differ) and the columns of a tile have different w_max (per-column
vs per-tile mapping differ).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bittrue.compile import HardwareImage, LayerImage, n_tiles, target_conductances  # noqa: E402
from bittrue.config import HardwareConfig  # noqa: E402
from bittrue.modes import Mapping  # noqa: E402
from bittrue.program import program  # noqa: E402

R = 24  # repetitions per implementation
T_S = 86400.0  # 1 day
BOUND = 7.0  # |Welch t| above this fails (false-failure probability above)
N_IN, COLS, N_TILES = 128, 32, 3


def _weights() -> np.ndarray:
    rng = np.random.default_rng(12345)
    n_out = COLS * N_TILES
    w = np.empty((N_IN, n_out))
    scale = 0.1 + 0.9 * rng.random(n_out)
    w[:, :COLS] = rng.uniform(-1, 1, (N_IN, COLS))  # uniform magnitudes
    sparse = rng.normal(0, 0.05, (N_IN, COLS))  # mostly small, a few large
    big = rng.random((N_IN, COLS)) < 0.05
    sparse[big] = rng.choice([-1.0, 1.0], big.sum())
    w[:, COLS:2 * COLS] = sparse
    w[:, 2 * COLS:] = rng.choice([-1.0, 1.0], (N_IN, COLS)) * rng.uniform(0.8, 1.0, (N_IN, COLS))  # near +-max
    return (w * scale).astype(np.float32).astype(np.float64)


def _config(mapping: Mapping) -> HardwareConfig:
    cfg = HardwareConfig()
    return dataclasses.replace(cfg, tile=dataclasses.replace(cfg.tile, cols=COLS, mapping=mapping)).validate()


def _numpy_effective(w: np.ndarray, cfg: HardwareConfig, seed: int) -> np.ndarray:
    """W as ``bittrue.program`` leaves it on the chip: conductance image x drift gain x w_max."""
    g_pos, g_neg, w_max = target_conductances(w, cfg)
    nt = n_tiles(w.shape[1], cfg.tile.cols)
    lay = LayerImage(name="w", layer_id=0, n_in=w.shape[0], n_out=w.shape[1], g_pos_uS=g_pos, g_neg_uS=g_neg,
                     w_max=w_max, affine_a=np.ones(w.shape[1]), affine_b=np.zeros(w.shape[1]),
                     i_fs_code=np.ones(nt, np.int64), sigma_code=np.zeros(nt, np.int64))
    image = HardwareImage(arch=None, config=cfg, layers=[lay], lif_theta_code={}, pos_code=np.zeros((1, 1), np.int32),
                          cls_code=np.zeros(1, np.int32))
    chip = program(image, "pcm", t_inference_s=T_S, program_seed=seed)
    lc = chip.layers[0]
    alpha_cols = np.repeat(lc.alpha, cfg.tile.cols)[: w.shape[1]]
    return lc.g_diff_code.astype(np.float64) / (1 << cfg.tile.g_bits) * alpha_cols * w_max


def _torch_effective(w: np.ndarray, cfg: HardwareConfig, seed: int) -> np.ndarray:
    from _torch_hw import pcm_weight_noise

    torch.manual_seed(seed)
    wt = torch.from_numpy(w)
    return (wt + pcm_weight_noise(wt, 1.0, T_S, cfg)).numpy()


def _features(w: np.ndarray, w_eff: np.ndarray) -> np.ndarray:
    """(2, n_out): gain error and residual spread per column."""
    e = w_eff - w
    gain = (e * w).sum(0) / (w * w).sum(0)
    resid = (e - gain * w).std(0) / np.abs(w).max(0)
    return np.stack([gain, resid])


def _welch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|t| per feature and column of samples a, b (R, 2, n_out)."""
    se = np.sqrt(a.var(0, ddof=1) / len(a) + b.var(0, ddof=1) / len(b))
    return np.abs(a.mean(0) - b.mean(0)) / se


@pytest.mark.parametrize("mapping", [Mapping.COLUMN, Mapping.TILE], ids=["column", "tile"])
def test_torch_pcm_noise_matches_program(mapping):
    torch.set_num_threads(1)
    w = _weights()
    cfg = _config(mapping)
    f_np = np.stack([_features(w, _numpy_effective(w, cfg, seed)) for seed in range(R)])
    f_t = np.stack([_features(w, _torch_effective(w, cfg, 1000 + seed)) for seed in range(R)])
    t = _welch(f_np, f_t)
    worst = np.unravel_index(np.argmax(t), t.shape)
    feature = ("gain error", "residual spread")[worst[0]]
    assert t.max() <= BOUND, (
        f"{mapping.name}: column {worst[1]} {feature}: numpy {f_np[:, worst[0], worst[1]].mean():.5f} vs torch "
        f"{f_t[:, worst[0], worst[1]].mean():.5f} (|t| = {t.max():.1f} > {BOUND})")
    # both compensate the drift (small gain error) and see the PCM noise (a few % of w_max)
    assert abs(f_np[:, 0].mean()) < 0.05 and abs(f_t[:, 0].mean()) < 0.05
    assert 0.02 < f_np[:, 1].mean() < 0.2 and 0.02 < f_t[:, 1].mean() < 0.2


def test_drift_compensation_off_is_seen():
    """Sanity of the statistic: the torch model without drift compensation is far outside the bound."""
    w = _weights()
    cfg = _config(Mapping.COLUMN)
    off = dataclasses.replace(cfg, pcm=dataclasses.replace(cfg.pcm, drift_compensation=False))
    f_np = np.stack([_features(w, _numpy_effective(w, cfg, seed)) for seed in range(R)])
    f_t = np.stack([_features(w, _torch_effective(w, off, 1000 + seed)) for seed in range(R)])
    assert _welch(f_np, f_t).max() > 10 * BOUND
