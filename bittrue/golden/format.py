"""Storage formats of the golden schema: version, encodings, integer formats of signals and chip datasets."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model import ModelError


SCHEMA = "bittrue-golden"
SCHEMA_VERSION = "1.3.0"
#: Output-noise generator of files written before the ``noise_generator`` attribute (schema 1.0.0).
NOISE_GENERATOR_1_0 = "splitmix64-ih12"
#: signals renamed since an older schema minor version: old path -> path now (read files map them)
RENAMED_BEFORE_1_3 = {"input/p_code": "input/prob_code"}
ENCODING_VERSION = "1.0.0"
#: encoding-type of a dataset of raw integer codes / of bit-packed spikes (see the schema)
ENC_INT = "int-code"
ENC_PACKED = "packed-bits"
ENC_FLOAT = "float64-informational"

#: target chunk size (bytes, uncompressed) and the largest number of samples in one chunk
CHUNK_BYTES = 1 << 20
CHUNK_SAMPLES = 64
GZIP_LEVEL = 4


class GoldenError(ModelError):
    """A file that is not a readable golden file (wrong schema, newer major version, corrupt)."""


# ============================================================================ formats
@dataclass(frozen=True)
class Format:
    """Fixed-point format of a stored integer code: ``value = code / 2^frac_bits`` in ``units``."""

    bit_width: int
    signed: bool
    frac_bits: int
    units: str
    overflow: str = "none"  #: "saturate" where the hardware clamps, else "none"
    rounding: str = "none"  #: "nearest" (floor(x + 1/2)), "floor" (arithmetic shift) or "none"
    packed: bool = False  #: 1-bit values stored bit-packed along the last axis

    @property
    def lo(self) -> int:
        return -(1 << (self.bit_width - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        return (1 << (self.bit_width - 1)) - 1 if self.signed else (1 << self.bit_width) - 1

    def storage_dtype(self) -> np.dtype:
        """Narrowest numpy integer type holding the format (uint8 bytes when packed)."""
        if self.packed:
            return np.dtype(np.uint8)
        for n in (8, 16, 32, 64):
            if self.bit_width <= n:
                return np.dtype(f"{'i' if self.signed else 'u'}{n // 8}")
        raise ValueError(f"bit width {self.bit_width} > 64")

    def attrs(self) -> dict:
        return {"bit_width": int(self.bit_width), "signed": bool(self.signed), "frac_bits": int(self.frac_bits),
                "units": self.units, "overflow": self.overflow, "rounding": self.rounding}


SPIKE = Format(1, False, 0, "spike", packed=True)


def _bits(k: int) -> int:
    return max(1, int(k))


def signal_format(path: str, runner, data: np.ndarray) -> tuple[Format, tuple[str, ...]]:
    """(format, dims after the sample and time axes) of a run signal ``path`` ("unit/name")."""
    unit, _, name = path.partition("/")
    cfg = runner.cfg
    lw, fb = cfg.lif.width, cfg.lif.frac_bits
    gb = cfg.tile.g_bits
    act = Format(lw, True, fb, "1", "saturate", "nearest")
    if unit == "input" and name == "prob_code":
        return Format(runner.cfg.encoder.bits, False, runner.cfg.encoder.bits, "1"), ("patch", "feature")
    if name.startswith("lfsr_seed"):
        return Format(runner.width, False, 0, "lfsr_state"), ("register",)
    if unit == "encoder" and name == "draw":
        return Format(runner.cfg.encoder.bits, False, runner.cfg.encoder.bits, "1"), ("patch", "feature")
    if unit == "encoder" and name == "spikes":
        return SPIKE, ("patch", "feature")
    if name == "spikes":
        return SPIKE, ("token", "neuron")
    score, out = ("head", "query", "key"), ("head", "query", "channel")
    table = {
        "draw_s": (Format(_bits(runner.bits_s), False, runner.bits_s, "1"), score),
        "draw_o": (Format(_bits(runner.bits_o), False, runner.bits_o, "1"), out),
        "c_code": (Format(runner.bits_s + 1, False, 0, "count", "saturate"), score),
        "p_code": (Format(runner.bits_o + 1, False, 0, "count", "saturate"), out),
        "s_spikes": (SPIKE, score),
        "o_spikes": (SPIKE, out),
        "i_code": (Format(32, True, gb, "g_max"), ("token", "row_tile", "column")),
        "noise_code": (Format(32, True, gb, "g_max", "none", "nearest"), ("token", "row_tile", "column")),
        "adc_code": (Format(cfg.tile.adc_bits, True, 0, "adc_lsb", "saturate", "nearest"),
                     ("token", "row_tile", "column")),
        "y_code": (act, ("token", "column")),
        "v_code": (Format(lw, True, fb, "1", "saturate", "floor"), ("token", "neuron")),
        "residual_code": (Format(lw, True, fb, "1", "saturate"), ("token", "channel")),
        "logits_t": (act, ("token", "class") if np.ndim(data) == 3 else ("class",)),
    }
    if name in table:
        return table[name]
    # unknown signal (a newer runner): a plain integer code of its own dtype
    dt = np.asarray(data).dtype
    return (Format(dt.itemsize * 8, dt.kind == "i", 0, "1"),
            tuple(f"dim{i}" for i in range(1, np.ndim(data))))


def format_from_attrs(attrs) -> Format:
    return Format(int(attrs["bit_width"]), bool(attrs["signed"]), int(attrs["frac_bits"]), str(attrs["units"]),
                  str(attrs.get("overflow", "none")), str(attrs.get("rounding", "none")),
                  str(attrs.get("encoding-type", ENC_INT)) == ENC_PACKED)


def encode(fmt: Format, data: np.ndarray) -> np.ndarray:
    """Raw codes -> storage encoding; raises ValueError if a value is outside the format."""
    a = np.asarray(data)
    if a.dtype.kind not in "iub":
        raise ValueError(f"not an integer array ({a.dtype})")
    if a.size:
        lo, hi = int(a.min()), int(a.max())
        if lo < fmt.lo or hi > fmt.hi:
            raise ValueError(f"values {lo}..{hi} outside the {'s' if fmt.signed else 'u'}{fmt.bit_width} "
                             f"format ({fmt.lo}..{fmt.hi})")
    if fmt.packed:
        return np.packbits(a.astype(np.uint8, copy=False), axis=-1, bitorder="little")
    return a.astype(fmt.storage_dtype(), copy=False)


def decode(ds_attrs, raw: np.ndarray) -> np.ndarray:
    """Storage encoding -> raw codes (dispatch on ``encoding-type``)."""
    enc = str(ds_attrs.get("encoding-type", ENC_INT))
    if enc == ENC_PACKED:
        length, nbytes = int(ds_attrs["packed_length"]), (raw.shape[-1] if raw.ndim else 0)
        if not 8 * (nbytes - 1) < length <= 8 * nbytes:  # checked before unpacking allocates length bits
            raise GoldenError(f"packed_length {length} does not fit {nbytes} packed bytes")
        return np.unpackbits(raw, axis=-1, count=length, bitorder="little")
    if enc in (ENC_INT, ENC_FLOAT):
        return raw
    raise GoldenError(f"unknown encoding-type {enc!r}")


def _chip_format(name: str, cfg, g) -> tuple[Format | None, list[str]]:
    lw, fb, gb = cfg.lif.width, cfg.lif.frac_bits, cfg.tile.g_bits
    s = int(g.attrs.get("s_shift", 0))
    table = {
        "g_pos_code": (Format(16, True, gb, "g_max"), ["row", "column"]),
        "g_neg_code": (Format(16, True, gb, "g_max"), ["row", "column"]),
        "m_code": (Format(cfg.tile.requant_m_bits, True, s, "1"), ["column"]),
        "b_code": (Format(64, True, s, "y_code_lsb"), ["column"]),
        "alpha": (None, ["col_tile"]),
        "pos_code": (Format(lw, True, fb, "1"), ["token", "channel"]),
        "cls_code": (Format(lw, True, fb, "1"), ["channel"]),
        "i_fs_code": (Format(32, False, gb, "g_max"), ["col_tile"]),
        "sigma_code": (Format(32, False, gb + 8, "g_max"), ["col_tile"]),
    }
    if g.name.endswith("/lif_theta_code"):
        return Format(lw, True, fb, "1"), []
    return table.get(name, (False, []))


def _annotate_chip(gc, cfg) -> None:
    """Add encoding-type/-version to every node of the chip group and format attrs to its datasets."""
    import h5py

    def visit(name, obj):
        obj.attrs["encoding-version"] = ENCODING_VERSION
        if isinstance(obj, h5py.Group):
            obj.attrs["encoding-type"] = str(obj.attrs.get("kind", "group"))
            return
        leaf = name.rsplit("/", 1)[-1]
        fmt, dims = _chip_format(leaf, cfg, obj.parent)
        if fmt is None:  # alpha: informational float, folded into m_code
            obj.attrs["encoding-type"] = ENC_FLOAT
            fmt = Format(64, True, 0, "1")
        else:
            obj.attrs["encoding-type"] = ENC_INT
            if fmt is False:
                dt = obj.dtype
                fmt, dims = Format(dt.itemsize * 8, dt.kind == "i", 0, "1"), [f"dim{i}" for i in range(obj.ndim)]
        for k, v in fmt.attrs().items():
            obj.attrs[k] = v
        obj.attrs["dims"] = list(dims)[: obj.ndim] if len(dims) >= obj.ndim else [f"dim{i}" for i in range(obj.ndim)]

    gc.attrs["encoding-type"] = "chip"
    gc.attrs["encoding-version"] = ENCODING_VERSION
    gc.visititems(visit)
