"""HDF5 (de)serialisation of hardware images (compile output) and programmed chips (program output).

Both are written into an h5py group, so a golden-vector file can embed the chip it came from.

Image group::

    attrs: kind="hardware-image", arch_json, config_json, model_sha256
    /pos_code int32 (N, D), /cls_code int32 (D,), /lif_theta_code/<name> int64 scalar
    /layers/<NN>_<name>/ attrs name, layer_id;  g_pos_uS, g_neg_uS (in, out) float64;
                          w_max, affine_a, affine_b (out,) float64; i_fs_code, sigma_code int64

Chip group = an image group (``/image``) plus attrs kind="chip", device, t_inference_s,
drift_compensation, program_seed, output_noise and per layer ``/layers/<NN>_<name>/``:
``g_pos_code``, ``g_neg_code`` int16 (in, out), ``m_code``, ``b_code`` int64 (out,), ``alpha`` float64,
attrs ``s_shift``.  ``g_diff_code`` is derived (G+ - G-).
"""
from __future__ import annotations

import numpy as np

from . import h5safe
from .compile import HardwareImage, LayerImage
from .config import HardwareConfig
from .kernels.crossbar import SIGMA_CODE_LIMIT
from .model import Architecture, ModelError
from .program import Chip, LayerChip

_FLOAT_FIELDS = ("g_pos_uS", "g_neg_uS", "w_max", "affine_a", "affine_b")


def layer_key(layer_id: int, name: str) -> str:
    return f"{layer_id:02d}_{name}"


def _int_array(x, key: str, what: str, shape: tuple[int, ...], lo: int, hi: int) -> np.ndarray:
    """``x[key]`` as int64 of ``shape`` with every value in ``lo..hi``, else a one-line :class:`ModelError`.

    The kernels' exactness arguments (int16 conductances, int32 column currents, the ADC's float estimate,
    the noise generator's int64 product) hold only inside these ranges, so a file that leaves them is refused
    rather than run.
    """
    raw = h5safe.read(x, key, what, ModelError, shape=shape, kinds="iu")  # shape, dtype checked before reading
    if raw.size and (int(raw.min()) < lo or int(raw.max()) > hi):
        raise ModelError(f"{what}: {key} outside {lo}..{hi} (min {int(raw.min())}, max {int(raw.max())})")
    return raw.astype(np.int64)


def _ds(g, name, data, **kw):
    return g.create_dataset(name, data=data, **kw)


def write_image(g, image: HardwareImage, *, floats: bool = True, compression: str | None = "gzip") -> None:
    kw = dict(compression=compression, shuffle=True) if compression else {}
    g.attrs["kind"] = "hardware-image"
    g.attrs["arch_json"] = image.arch.to_json()
    g.attrs["config_json"] = image.config.to_json()
    g.attrs["model_sha256"] = image.model_sha256
    _ds(g, "pos_code", np.asarray(image.pos_code, np.int32))
    _ds(g, "cls_code", np.asarray(image.cls_code, np.int32))
    gt = g.create_group("lif_theta_code", track_order=True)
    for name, v in image.lif_theta_code.items():
        gt.create_dataset(name, data=np.int64(v))
    gl = g.create_group("layers", track_order=True)
    for lay in image.layers:
        x = gl.create_group(layer_key(lay.layer_id, lay.name), track_order=True)
        x.attrs["name"] = lay.name
        x.attrs["layer_id"] = lay.layer_id
        if floats:
            for f in _FLOAT_FIELDS:
                _ds(x, f, np.asarray(getattr(lay, f), np.float64), **(kw if getattr(lay, f).ndim > 1 else {}))
        _ds(x, "i_fs_code", np.asarray(lay.i_fs_code, np.int64))
        _ds(x, "sigma_code", np.asarray(lay.sigma_code, np.int64))


def read_image(g) -> HardwareImage:
    try:
        if g.attrs.get("kind") != "hardware-image":
            raise ModelError("not a hardware image group")
        arch = Architecture.from_json(g.attrs["arch_json"])
        cfg = HardwareConfig.from_json(g.attrs["config_json"])
        layers = []
        shapes = arch.linear_shapes()
        for key in g["layers"]:
            x = g["layers"][key]
            name = str(x.attrs["name"])
            if name not in shapes:
                raise ModelError(f"hardware image: layer {name!r} is not in the architecture")
            n_in, n_out = shapes[name]
            what = f"hardware image layer {name}"
            want = {f: (n_in, n_out) if f.startswith("g_") else (n_out,) for f in _FLOAT_FIELDS}
            vals = {f: (h5safe.read(x, f, what, ModelError, shape=want[f], kinds="iuf", dtype=np.float64)
                        if f in x else None) for f in _FLOAT_FIELDS}
            if vals["g_pos_uS"] is None:  # integer-only image (inside a chip): floats not needed to run
                vals = {f: np.zeros((n_in, n_out) if f.startswith("g_") else n_out) for f in _FLOAT_FIELDS}
            for f, v in vals.items():
                if v is None or v.shape != want[f]:
                    raise ModelError(f"{what}: {f} has shape {None if v is None else v.shape}, expected {want[f]}")
                if not np.all(np.isfinite(v)):
                    raise ModelError(f"{what}: {f} holds NaN or Inf")
            n_ct = -(-n_out // cfg.tile.cols)
            layers.append(LayerImage(name=name, layer_id=int(x.attrs["layer_id"]), n_in=n_in, n_out=n_out,
                                     i_fs_code=_int_array(x, "i_fs_code", what, (n_ct,), 1, 1 << 31),
                                     sigma_code=_int_array(x, "sigma_code", what, (n_ct,), 0,
                                                           SIGMA_CODE_LIMIT - 1), **vals))
        missing = [n for n in shapes if n not in {lay.name for lay in layers}]
        if missing:
            raise ModelError(f"hardware image: layer {missing[0]} is missing")
        theta = {k: int(_int_array(g["lif_theta_code"], k, "hardware image LIF threshold", (), -(1 << 62),
                                   1 << 62)) for k in g["lif_theta_code"]}
        if set(theta) != set(arch.lif_names()):
            raise ModelError(f"hardware image: LIF thresholds for {sorted(theta)}, the architecture has "
                             f"{sorted(arch.lif_names())}")
        lim = 1 << (cfg.lif.width - 1)
        pos = _int_array(g, "pos_code", "hardware image", (arch.n_tokens, arch.dim), -lim, lim - 1)
        cls = _int_array(g, "cls_code", "hardware image", (arch.dim,), -lim, lim - 1)
        return HardwareImage(arch=arch, config=cfg, layers=layers, lif_theta_code=theta,
                             pos_code=pos.astype(np.int32), cls_code=cls.astype(np.int32),
                             model_sha256=str(g.attrs.get("model_sha256", "")))
    except ModelError:
        raise
    except (KeyError, ValueError, TypeError, OSError, RuntimeError, RecursionError) as exc:
        raise ModelError(f"hardware image: corrupt or incomplete ({type(exc).__name__}: {exc})") from None


def write_chip(g, chip: Chip, *, floats: bool = False, compression: str | None = "gzip") -> None:
    kw = dict(compression=compression, shuffle=True) if compression else {}
    g.attrs["kind"] = "chip"
    g.attrs["device"] = chip.device
    g.attrs["t_inference_s"] = float(chip.t_inference_s)
    g.attrs["drift_compensation"] = bool(chip.drift_compensation)
    g.attrs["program_seed"] = np.uint64(chip.program_seed)
    g.attrs["output_noise"] = bool(chip.output_noise)
    write_image(g.create_group("image", track_order=True), chip.image, floats=floats, compression=compression)
    gl = g.create_group("layers", track_order=True)
    for lay in chip.layers:
        x = gl.create_group(layer_key(lay.layer_id, lay.name), track_order=True)
        x.attrs["name"] = lay.name
        x.attrs["layer_id"] = lay.layer_id
        x.attrs["s_shift"] = int(lay.s_shift)
        _ds(x, "g_pos_code", lay.g_pos_code, **kw)
        _ds(x, "g_neg_code", lay.g_neg_code, **kw)
        _ds(x, "m_code", lay.m_code)
        _ds(x, "b_code", lay.b_code)
        _ds(x, "alpha", np.asarray(lay.alpha, np.float64))


def read_chip(g) -> Chip:
    try:
        if g.attrs.get("kind") != "chip":
            raise ModelError("not a chip group")
        image = read_image(g["image"])
        by_name = {lay.name: lay for lay in image.layers}
        layers = []
        for key in g["layers"]:
            x = g["layers"][key]
            name = str(x.attrs["name"])
            if name not in by_name:
                raise ModelError(f"chip: layer {name!r} is not in the architecture")
            im = by_name[name]
            what = f"chip layer {name}"
            gp = _int_array(x, "g_pos_code", what, (im.n_in, im.n_out), 0, 32767).astype(np.int16)  # spec 4.5
            gn = _int_array(x, "g_neg_code", what, (im.n_in, im.n_out), 0, 32767).astype(np.int16)
            m_max = (1 << (image.config.tile.requant_m_bits - 1)) - 1  # signed requant_m_bits register
            s_shift = int(x.attrs["s_shift"])
            if not 0 <= s_shift <= 62:
                raise ModelError(f"{what}: s_shift {s_shift} outside 0..62")
            layers.append(LayerChip(name=name, layer_id=int(x.attrs["layer_id"]), g_pos_code=gp, g_neg_code=gn,
                                    g_diff_code=(gp.astype(np.int32) - gn).astype(np.int16),
                                    i_fs_code=im.i_fs_code, sigma_code=im.sigma_code,
                                    m_code=_int_array(x, "m_code", what, (im.n_out,), -m_max, m_max),
                                    b_code=_int_array(x, "b_code", what, (im.n_out,), -(1 << 62) + 1, (1 << 62) - 1),
                                    s_shift=s_shift, alpha=h5safe.read(x, "alpha", what, ModelError, kinds="iuf",
                                                                      shape=im.i_fs_code.shape, dtype=np.float64)))
        missing = [lay.name for lay in image.layers if lay.name not in {c.name for c in layers}]
        if missing:
            raise ModelError(f"chip: layer {missing[0]} has no conductance image")
        return Chip(image=image, layers=layers, device=str(g.attrs["device"]),
                    t_inference_s=float(g.attrs["t_inference_s"]),
                    drift_compensation=bool(g.attrs["drift_compensation"]),
                    program_seed=int(g.attrs["program_seed"]), output_noise=bool(g.attrs["output_noise"]))
    except ModelError:
        raise
    except (KeyError, ValueError, TypeError, OSError, RuntimeError, RecursionError) as exc:
        raise ModelError(f"chip: corrupt or incomplete ({type(exc).__name__}: {exc})") from None
