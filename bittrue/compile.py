"""Compile: float model + hardware configuration -> hardware image (spec 7).

The hardware image holds everything that is fixed before devices are programmed:

* per linear layer: the tile split, the conductance *targets* ``G+``/``G-`` in uS (spec 4.3),
  the per-column weight scale ``w_max``, the ADC full scale ``I_fs`` per column-tile group
  (calibrated, spec 4.6), the output-noise sigma, and the float affine ``y = a * (W x) + b``
  (bias and inference BatchNorm) that ``program`` folds, with the drift-compensation gain, into
  the integer requantisation ``M, B, S`` (spec 4.7);
* LIF thresholds, position embedding and CLS vector as fixed-point codes (spec 5);
* the architecture and the hardware configuration.

Column-tile groups: the ADC codes of the row tiles of one output column are summed digitally and
multiplied by one ``M[c]`` (spec 4.7), so those row tiles share one ADC step: ``I_fs`` is
calibrated over all row tiles of a column tile (their union of currents).  With one row tile
(every digits layer) this is exactly the per-tile full scale of the spec.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import ConfigError, HardwareConfig
from .kernels.crossbar import SIGMA_CODE_LIMIT
from .model import Architecture, FloatModel
from .modes import Mapping


@dataclass
class LayerImage:
    """Compile-time image of one linear layer (crossbar group)."""

    name: str
    layer_id: int
    n_in: int
    n_out: int
    g_pos_uS: np.ndarray  #: float64 (in, out) target conductances
    g_neg_uS: np.ndarray
    w_max: np.ndarray  #: float64 (out,) weight scale per column
    affine_a: np.ndarray  #: float64 (out,)
    affine_b: np.ndarray  #: float64 (out,)
    i_fs_code: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  #: (n_col_tiles,)
    sigma_code: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  #: (n_col_tiles,)


@dataclass
class HardwareImage:
    arch: Architecture
    config: HardwareConfig
    layers: list[LayerImage]
    lif_theta_code: dict[str, int]
    pos_code: np.ndarray  #: int32 (n_tokens, dim)
    cls_code: np.ndarray  #: int32 (dim,)
    model_sha256: str = ""

    def layer(self, name: str) -> LayerImage:
        for lay in self.layers:
            if lay.name == name:
                return lay
        raise KeyError(name)


def to_code(x: np.ndarray, frac_bits: int, width: int) -> np.ndarray:
    """Real values -> saturated signed fixed-point codes (round half up)."""
    hi = (1 << (width - 1)) - 1
    code = np.floor(np.asarray(x, np.float64) * (1 << frac_bits) + 0.5)
    return np.clip(code, -hi - 1, hi).astype(np.int32)


def target_conductances(weight: np.ndarray, cfg: HardwareConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spec 4.3: (G+ target, G- target, w_max per column) for a weight matrix (in, out)."""
    w = np.asarray(weight, np.float64)
    n_in, n_out = w.shape
    absw = np.abs(w)
    if cfg.tile.mapping == Mapping.COLUMN:
        w_max = absw.max(axis=0) if n_in else np.zeros(n_out)
    else:  # one scale per column-tile group (see module docstring)
        w_max = np.zeros(n_out)
        cols = cfg.tile.cols
        for c0 in range(0, n_out, cols):
            w_max[c0:c0 + cols] = absw[:, c0:c0 + cols].max()
    w_max = np.where(w_max > 0, w_max, 1.0)
    g_max = cfg.pcm.g_max_uS
    g_pos = np.maximum(w, 0) / w_max * g_max
    g_neg = np.maximum(-w, 0) / w_max * g_max
    return g_pos, g_neg, w_max


def quantise_conductance(g_uS: np.ndarray, cfg: HardwareConfig) -> np.ndarray:
    """Spec 4.5: conductances -> int16 image in units of g_max / 2^g_bits (round half up, clipped)."""
    scale = (1 << cfg.tile.g_bits) / cfg.pcm.g_max_uS
    code = np.floor(np.asarray(g_uS, np.float64) * scale + 0.5)
    return np.clip(code, 0, np.iinfo(np.int16).max).astype(np.int16)


def n_tiles(n: int, size: int) -> int:
    return (n + size - 1) // size


#: most memory the ADC calibration may hold for the currents it keeps (docs/cli.md, "Bounds")
CALIBRATION_LIMIT_BYTES = 1 << 30


def calibration_bytes(arch: Architecture, cfg: HardwareConfig, n_samples: int) -> int:
    """Upper bound of the bytes :func:`compile_model` keeps while calibrating on ``n_samples`` samples.

    Per layer, time step and batch of 64 samples (and read pass, for a bit-serial embedding), every (row tile,
    column tile) keeps at most 2^14 float64 currents, and one batch's currents of a row tile (64 x tokens x out)
    exist at a time.
    """
    if n_samples <= 0:
        return 0
    T = cfg.run.timesteps or arch.timesteps
    calls = T * -(-n_samples // 64)
    rows = 64 * arch.n_tokens
    total = 0
    for name, (n_in, n_out) in arch.linear_shapes().items():
        n_rt, n_ct = n_tiles(n_in, cfg.tile.rows), n_tiles(n_out, cfg.tile.cols)
        kept = min(1 << 14, rows * min(n_out, cfg.tile.cols))
        total += n_rt * n_ct * calls * cfg.read_passes(name) * kept * 8
    return total + 64 * arch.n_tokens * max(o for _, o in arch.linear_shapes().values()) * 8


def compile_model(model: FloatModel, cfg: HardwareConfig, calib_x: np.ndarray | None = None,
                  *, calib_seed: int = 0, model_sha256: str = "", progress=None) -> HardwareImage:
    """Compile ``model`` for ``cfg``.

    Parameters
    ----------
    calib_x : uint8 (n, n_patches, token_features), optional
        Calibration inputs (training samples).  The float SNN (``bittrue.floatmodel``) runs on them;
        the input spikes of every layer (for a bit-serial embedding, its bit-planes) drive the *ideal* target
        conductance image, and the
        ``tile.adc_percentile`` percentile of ``|I|`` over each column-tile group is its ``I_fs``.
        Without calibration data (or for a column tile that saw no current), ``I_fs`` is the worst case one
        ADC can see: every row of one row tile active on the tile's largest column (the largest column sum of
        ``|G+ - G-|`` codes over the rows of a row tile, maximised over the row tiles; each ADC converts the
        current of its own tile, spec 4.6), at least 1.
    """
    cfg.validate()
    model.validate()
    arch = model.arch
    # derived defaults too
    for name, k in (("k_s", cfg.resolved_k_s(arch.d_k)), ("k_o", cfg.resolved_k_o(arch.n_tokens))):
        if k.bit_length() - 1 > cfg.lfsr.width:
            raise ConfigError(f"ssa.{name} = {k} (for {arch.name}) needs {k.bit_length() - 1}-bit draws, more than "
                              f"lfsr.width = {cfg.lfsr.width}: raise lfsr.width or set ssa.{name}")
    t_cfg = cfg.tile
    need = calibration_bytes(arch, cfg, 0 if calib_x is None else len(calib_x))
    if need > CALIBRATION_LIMIT_BYTES:
        raise ConfigError(f"ADC calibration would keep about {need / 2**30:.1f} GiB of column currents "
                          f"(tile.rows = {t_cfg.rows}, tile.cols = {t_cfg.cols}, tile.calibration_samples = "
                          f"{0 if calib_x is None else len(calib_x)}); the limit is "
                          f"{CALIBRATION_LIMIT_BYTES >> 30} GiB: use larger tiles or fewer calibration samples")
    layers: list[LayerImage] = []
    for lid, (name, (n_in, n_out)) in enumerate(arch.linear_shapes().items()):
        lin = model.linear[name]
        g_pos, g_neg, w_max = target_conductances(lin.weight, cfg)
        a, b = lin.affine()
        layers.append(LayerImage(name=name, layer_id=lid, n_in=n_in, n_out=n_out, g_pos_uS=g_pos,
                                 g_neg_uS=g_neg, w_max=w_max, affine_a=a, affine_b=b))

    # ---- ADC calibration
    # float64 BLAS on integer values: every product and partial sum is an integer below 2^53, so the
    # currents are exact (and this is ~100x faster than an int64 matmul at CIFAR scale)
    diffs = {lay.name: (quantise_conductance(lay.g_pos_uS, cfg).astype(np.float64)
                        - quantise_conductance(lay.g_neg_uS, cfg)) for lay in layers}
    samples: dict[str, list[list[np.ndarray]]] = {
        lay.name: [[] for _ in range(n_tiles(lay.n_out, t_cfg.cols))] for lay in layers}
    if calib_x is not None and len(calib_x):
        from .floatmodel import float_forward

        cap = 1 << 14  # |I| values kept per (layer, column tile, call): deterministic stride

        def record(name: str, t: int, spikes: np.ndarray) -> None:
            if name not in diffs:
                return
            s = np.asarray(spikes, np.float64).reshape(-1, spikes.shape[-1])
            d = diffs[name]
            for rt in range(n_tiles(d.shape[0], t_cfg.rows)):
                r0, r1 = rt * t_cfg.rows, min(d.shape[0], (rt + 1) * t_cfg.rows)
                cur = np.abs(s[:, r0:r1] @ d[r0:r1])
                for ct, lst in enumerate(samples[name]):
                    v = cur[:, ct * t_cfg.cols:(ct + 1) * t_cfg.cols].ravel()
                    step = max(1, v.size // cap)
                    lst.append(v[::step].copy())  # a copy: a view would keep all of cur alive

        rng = np.random.default_rng(calib_seed)
        T = cfg.run.timesteps or arch.timesteps
        bs = 64
        for i in range(0, len(calib_x), bs):
            float_forward(model, calib_x[i:i + bs], timesteps=T, rng=rng, k_s=cfg.resolved_k_s(arch.d_k),
                          k_o=cfg.resolved_k_o(arch.n_tokens), leak_shift=cfg.lif.leak_shift, reset=cfg.lif.reset,
                          record=record, encoder_mode=cfg.encoder.mode, encoder_bits=cfg.encoder.bits)
            if progress is not None:
                progress(min(len(calib_x), i + bs))
    half = 1 << (t_cfg.adc_bits - 1)
    for lay in layers:
        fs = []
        for ct, lst in enumerate(samples[lay.name]):
            v = np.concatenate(lst) if lst else np.zeros(0)
            if v.size and v.max() > 0:
                f = float(np.percentile(v, t_cfg.adc_percentile))
                f = max(f, 1.0)
            else:  # worst case: every row of one row tile on (each ADC sees its own tile), largest column
                d = diffs[lay.name][:, ct * t_cfg.cols:(ct + 1) * t_cfg.cols]
                f = float(max(1, max(np.abs(d[r0:r0 + t_cfg.rows]).sum(axis=0).max()
                                     for r0 in range(0, d.shape[0], t_cfg.rows))))
            fs.append(int(np.ceil(f)))
        lay.i_fs_code = np.asarray(fs, np.int64)
        noise_lsb = t_cfg.output_noise_lsb if cfg.pcm.output_noise else 0.0  # no noise: nothing to limit
        lay.sigma_code = np.floor(noise_lsb * lay.i_fs_code / half * 256 + 0.5).astype(np.int64)
        if lay.sigma_code.size and int(lay.sigma_code.max()) >= SIGMA_CODE_LIMIT:
            raise ConfigError(f"tile.output_noise_lsb = {t_cfg.output_noise_lsb}: output-noise sigma of layer "
                              f"{lay.name} is {int(lay.sigma_code.max()) / 256:.0f} current units, above the "
                              f"generator's limit of {SIGMA_CODE_LIMIT // 256} (lower the noise or the ADC full scale)")

    fb, wd = cfg.lif.frac_bits, cfg.lif.width
    theta = {n: int(max(1, to_code(np.array(v), fb, wd))) for n, v in model.lif_threshold.items()}
    return HardwareImage(arch=arch, config=cfg, layers=layers, lif_theta_code=theta,
                         pos_code=to_code(model.pos, fb, wd), cls_code=to_code(model.cls, fb, wd),
                         model_sha256=model_sha256)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
