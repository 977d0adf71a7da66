"""Golden vectors and activation logs: one HDF5 writer, its reader, and ``verify``.

The layout is specified in ``docs/golden-schema.md`` (schema ``bittrue-golden`` 1.2.0).  In short::

    /                 attrs: schema, schema_version, creator, versions, config_json, seeds, sha256s, ...
    /chip             the programmed chip (bittrue.hwfile.write_chip): hardware + conductance image
    /inputs           feature_code (sample, patch, feature) uint8, sample_id (sample,), [label]
    /layers/NN_<unit> one group per hardware unit in data-flow order; one dataset per run signal
    /outputs          logits (sample, class), prediction (sample,)

:class:`GoldenWriter` is a :class:`bittrue.run.Sink`: it buffers one batch (in storage encoding:
spikes bit-packed, codes in the narrowest integer type of their declared width) and appends it to
resizable chunked datasets at ``end_batch``, so memory is bounded by the batch size for any run
length.  The same writer serves ``bittrue golden`` (every signal) and ``bittrue infer --log``
(chosen signal groups).

:func:`verify` rebuilds the chip from the file's own ``/chip`` group, re-checks its sha256 digests,
replays the stored inputs with the stored sample ids, root seed and T, and compares every stored
dataset element by element, batch by batch; the first difference (in run order: batch, then time
step, then data-flow order, then C order with the sample first) is reported cocotb-style.
"""
from __future__ import annotations

import functools
import hashlib
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from . import netlist
from .model import ModelError
from .kernels.crossbar import NOISE_GENERATOR

SCHEMA = "bittrue-golden"
SCHEMA_VERSION = "1.2.0"
#: Output-noise generator of files written before the ``noise_generator`` attribute (schema 1.0.0).
NOISE_GENERATOR_1_0 = "splitmix64-ih12"
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
    if unit == "input" and name == "p_code":
        return Format(runner.bits_enc, False, runner.bits_enc, "1"), ("patch", "feature")
    if name.startswith("lfsr_seed"):
        return Format(runner.width, False, 0, "lfsr_state"), ("register",)
    if unit == "encoder" and name == "draw":
        return Format(runner.bits_enc, False, runner.bits_enc, "1"), ("patch", "feature")
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


# ============================================================================ units and chip digests
def unit_order(arch) -> list[str]:
    """Hardware units in data-flow order: the ``NN`` of ``/layers/NN_<unit>`` (:func:`bittrue.netlist.unit_order`)."""
    return netlist.unit_order(arch)


def crossbar_input(arch, name: str) -> str | None:
    """Run signal that holds the word-line spikes of crossbar layer ``name`` (None if there is no such layer)."""
    xb = netlist.crossbars(arch).get(name)
    return None if xb is None else xb.src[0]


# ============================================================================ replay attributes (1.2)
#: Signal groups an RTL replay of each digital block needs (``docs/golden-schema.md`` 5.2), and the group
#: whose presence means the file stores that block (``golden --replayable`` then requires the others).
REPLAY_NEEDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "encoder": ("encoder", ("seeds", "encoder")),
    "ssa": ("ssa", ("seeds", "spikes", "ssa")),
    "colpath": ("adc", ("adc", "requant")),
    "lif": ("membrane", ("membrane", "spikes", "requant", "residual")),
}


def replay_blocks(signals: Iterable[str]) -> tuple[list[str], list[str]]:
    """(blocks a file with these signal groups lets an RTL replay check, problems of the others).

    A block counts when its trigger group is stored; a problem names a stored trigger group whose
    companions are missing (such a file is not replayable for that block).
    """
    sig = set(signals)
    ok, bad = [], []
    for block, (trigger, needs) in REPLAY_NEEDS.items():
        if trigger not in sig:
            continue
        missing = [g for g in needs if g not in sig]
        if missing:
            bad.append(f"the {block} replay of group {trigger!r} also needs {', '.join(missing)}")
        else:
            ok.append(block)
    return ok, bad


def check_replayable(signals: Iterable[str]) -> None:
    """Raise ValueError (one line) unless every stored block is replayable and at least one is stored."""
    ok, bad = replay_blocks(signals)
    if bad:
        raise ValueError("not replayable: " + "; ".join(bad))
    if not ok:
        raise ValueError("not replayable: store at least one of the groups "
                         + ", ".join(t for t, _ in REPLAY_NEEDS.values()))


def _lif_inputs(arch, site: str) -> tuple[list[str], int, int]:
    """(signals summed into LIF ``site``'s input, first input column, first token) (spec 6)."""
    def residual_before(b: int) -> str:
        return "embed/residual_code" if b == 0 else f"blocks.{b - 1}/residual_code"

    if site == "head.in":
        return [residual_before(arch.depth)], 0, int(arch.readout_slice.start or 0)
    _, b, nm = site.split(".")
    b = int(b)
    pre = f"blocks.{b}"
    return {"in": ([residual_before(b)], 0), "q": ([f"{pre}.qkv/y_code"], 0),
            "k": ([f"{pre}.qkv/y_code"], arch.dim), "v": ([f"{pre}.qkv/y_code"], 2 * arch.dim),
            "mlp_in": ([residual_before(b), f"{pre}.proj/y_code"], 0),
            "h": ([f"{pre}.mlp1/y_code"], 0)}[nm] + (0,)


def _lfsr_attrs(runner, bits: int, steps: int) -> dict:
    from .modes import Sharing

    taps = [int(t) for t in runner.cfg.lfsr_taps()]
    return dict(lfsr_width=int(runner.width), lfsr_taps=taps, lfsr_tap_mask=int(runner.tap_mask),
                sharing=int(runner.sharing), sharing_name=Sharing(runner.sharing).name.lower(),
                draw_bits=int(bits), steps_per_draw=int(steps))


def replay_attrs(runner, unit: str) -> dict:
    """Attributes of group ``/layers/NN_<unit>`` that an RTL replay reads (schema 1.2, section 5.1).

    Every parameter is resolved (no 0-means-default): K_S, K_O, draw widths, clocks per draw of each
    phase, LFSR width and taps, sharing, mask, the head-to-column map and the signals feeding the block.
    """
    from .hwfile import layer_key
    from .modes import Mask, Reset

    arch, cfg = runner.arch, runner.cfg
    if unit == "encoder":
        a = _lfsr_attrs(runner, runner.bits_enc, runner.steps_enc)
        a.update(n_rows=int(arch.n_patches), n_cols=int(arch.token_features),
                 register_grid=list(runner.enc_grid), input_signal="inputs/feature_code",
                 seed_signal="encoder/lfsr_seed")
        return a
    if unit.endswith(".ssa"):
        pre = unit[: -len(".ssa")]
        a = _lfsr_attrs(runner, 0, 0)
        del a["draw_bits"], a["steps_per_draw"]
        a.update(k_s=int(runner.k_s), k_o=int(runner.k_o), draw_bits_s=int(runner.bits_s),
                 draw_bits_o=int(runner.bits_o), steps_per_draw_s=int(runner.steps_s),
                 steps_per_draw_o=int(runner.steps_o), mask=int(arch.mask), mask_name=Mask(arch.mask).name.lower(),
                 n_tokens=int(arch.n_tokens), d_k=int(arch.d_k), heads=int(arch.heads),
                 head_col0=[int(h * arch.d_k) for h in range(arch.heads)],
                 q_signal=f"lif.{pre}.q/spikes", k_signal=f"lif.{pre}.k/spikes", v_signal=f"lif.{pre}.v/spikes",
                 seed_s_signal=f"{unit}/lfsr_seed_s", seed_o_signal=f"{unit}/lfsr_seed_o",
                 register_grid_s=list(runner.s_grid), register_grid_o=list(runner.o_grid))
        return a
    if unit in runner.layers:
        lay = runner.layers[unit]
        return dict(adc_bits=int(cfg.tile.adc_bits), acc_width=32, requant_m_bits=int(cfg.tile.requant_m_bits),
                    out_width=int(cfg.lif.width), s_shift=int(lay.s_shift),
                    chip_layer=f"/chip/layers/{layer_key(lay.layer_id, lay.name)}")
    if unit.startswith("lif."):
        sigs, col0, tok0 = _lif_inputs(arch, unit[4:])
        return dict(leak_shift=int(cfg.lif.leak_shift), reset=int(cfg.lif.reset),
                    reset_name=Reset(cfg.lif.reset).name.lower(), width=int(cfg.lif.width),
                    frac_bits=int(cfg.lif.frac_bits), input_signals=sigs, input_col0=int(col0),
                    input_token0=int(tok0))
    return {}


def seed_shape_attrs(runner, signal: str) -> dict:
    """``register_shape`` / ``register_dims`` of a seed dataset: its flat register axis unflattened."""
    unit, _, name = signal.partition("/")
    if name == "lfsr_seed" and unit == "encoder":
        return dict(register_shape=[1, *runner.enc_grid], register_dims=["head", "row", "col"])
    if name in ("lfsr_seed_s", "lfsr_seed_o"):
        grid = runner.s_grid if name.endswith("_s") else runner.o_grid
        return dict(register_shape=[int(runner.arch.heads), *grid], register_dims=["head", "row", "col"])
    return {}


def _record(name: str, arr) -> bytes:
    a = np.asarray(arr)
    if a.dtype.kind not in "iub":
        raise TypeError(f"{name}: not integer")
    le = a.dtype.newbyteorder("<")
    head = f"{name}\t{le.str}\t{','.join(str(int(d)) for d in a.shape)}\n".encode()
    return head + np.ascontiguousarray(a, dtype=le).tobytes()


def _text_record(name: str, text: str) -> bytes:
    b = text.encode("utf-8")
    return f"{name}\tutf-8\t{len(b)}\n".encode() + b


def chip_records(chip) -> list[tuple[str, bytes]]:
    """Canonical serialisation of everything the integer datapath reads from a chip.

    Records, in this order (``K`` = ``NN_<layer name>`` as in hwfile, layers by layer_id)::

        image/arch_json, image/config_json                      (UTF-8 text)
        image/pos_code int32, image/cls_code int32
        image/lif_theta_code/<name> int64 scalar                (names sorted)
        per layer: image/layers/K/i_fs_code int64, image/layers/K/sigma_code int64,
                   layers/K/g_pos_code int16, layers/K/g_neg_code int16,
                   layers/K/m_code int64, layers/K/b_code int64, layers/K/s_shift int64 scalar
        output_noise uint8 scalar

    A numeric record is ``name TAB dtype TAB shape LF`` (dtype as numpy's little-endian string,
    e.g. ``<i2``; shape comma-separated, empty for a scalar) followed by the C-order little-endian
    bytes; a text record is ``name TAB utf-8 TAB nbytes LF`` and the bytes.
    """
    from .hwfile import layer_key

    img = chip.image
    out = [("image/arch_json", _text_record("image/arch_json", img.arch.to_json())),
           ("image/config_json", _text_record("image/config_json", img.config.to_json()))]

    def add(name, arr):
        out.append((name, _record(name, arr)))

    add("image/pos_code", np.asarray(img.pos_code, np.int32))
    add("image/cls_code", np.asarray(img.cls_code, np.int32))
    for k in sorted(img.lif_theta_code):
        add(f"image/lif_theta_code/{k}", np.int64(img.lif_theta_code[k]))
    for lay in sorted(chip.layers, key=lambda x: x.layer_id):
        key = layer_key(lay.layer_id, lay.name)
        im = img.layer(lay.name)
        add(f"image/layers/{key}/i_fs_code", np.asarray(im.i_fs_code, np.int64))
        add(f"image/layers/{key}/sigma_code", np.asarray(im.sigma_code, np.int64))
        add(f"layers/{key}/g_pos_code", np.asarray(lay.g_pos_code, np.int16))
        add(f"layers/{key}/g_neg_code", np.asarray(lay.g_neg_code, np.int16))
        add(f"layers/{key}/m_code", np.asarray(lay.m_code, np.int64))
        add(f"layers/{key}/b_code", np.asarray(lay.b_code, np.int64))
        add(f"layers/{key}/s_shift", np.int64(lay.s_shift))
    add("output_noise", np.uint8(1 if chip.output_noise else 0))
    return out


def chip_digests(chip) -> tuple[str, dict[str, str]]:
    """(image_sha256 over all records, {record name: sha256 of that record})."""
    recs = chip_records(chip)
    h = hashlib.sha256()
    for _, b in recs:
        h.update(b)
    return h.hexdigest(), {n: hashlib.sha256(b).hexdigest() for n, b in recs}


@functools.lru_cache(maxsize=1)
def _git_describe() -> str:
    """``git describe --always --tags`` of the source tree, once per process ("" outside git)."""
    try:
        r = subprocess.run(["git", "describe", "--always", "--tags"], cwd=Path(__file__).resolve().parent,
                           capture_output=True, text=True, timeout=5)
        return r.stdout.strip() if r.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


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


# ============================================================================ writer
def _chunks(tail: tuple[int, ...], itemsize: int, n_hint: int | None) -> tuple[int, ...]:
    tail = tuple(max(1, int(d)) for d in tail)
    per = itemsize * int(np.prod(tail, dtype=np.int64))
    cap = CHUNK_SAMPLES if not n_hint else min(CHUNK_SAMPLES, 1 << max(0, int(n_hint - 1).bit_length()))
    c = 1
    while c * 2 <= cap and c * 2 * per <= CHUNK_BYTES:
        c *= 2
    if per <= CHUNK_BYTES or not tail:
        return (c,) + tail
    lead = max(1, CHUNK_BYTES // max(1, per // tail[0]))  # split the first tail axis (time)
    return (1, min(lead, tail[0])) + tail[1:]


class GoldenWriter:
    """HDF5 sink for :meth:`bittrue.run.Runner.run_batch`: golden vectors or an activation log.

    Parameters
    ----------
    f : h5py.File
        Freshly created file (``track_order=True``); the writer fills it.
    runner : bittrue.run.Runner
        The runner that will call this sink (chip, T and root seed are recorded from it).
    signals : iterable of str
        Signal groups to store (subset of :data:`bittrue.run.SIGNALS`).
    kind : {"golden", "log"}
    meta : dict, optional
        Extra root attributes (dataset, split, start, ...): str, int, float or bool values.
    n_samples : int, optional
        Expected number of samples (only caps the chunk size: a chunk never spans more samples
        than the run has).

    Use: ``stage(features, labels)`` (optional) then ``runner.run_batch(x, ids, writer)`` per batch,
    then ``close()``.  Only one batch is held in memory.
    """

    def __init__(self, f, runner, signals: Iterable[str], *, kind: str = "golden", meta: dict | None = None,
                 n_samples: int | None = None):
        import numba

        from . import __version__
        from .hwfile import write_chip
        from .run import SIGNALS

        self._bind(f, runner, signals, n_samples)
        sig = self.signals
        chip = runner.chip
        image_sha, records = chip_digests(chip)
        a = f.attrs
        a["schema"] = SCHEMA
        a["schema_version"] = SCHEMA_VERSION
        a["encoding-type"] = SCHEMA
        a["encoding-version"] = SCHEMA_VERSION
        a["kind"] = kind
        a["creator"] = f"bittrue {__version__}"
        a["bittrue_version"] = __version__
        a["numpy_version"] = np.__version__
        a["numba_version"] = numba.__version__
        a["git_describe"] = _git_describe()
        a["config_json"] = chip.config.to_json()
        a["arch_json"] = chip.arch.to_json()
        a["root_seed"] = np.uint64(int(runner.root_seed))
        a["program_seed"] = np.uint64(chip.program_seed)
        a["device"] = chip.device
        a["drift_time_s"] = float(chip.t_inference_s)
        a["drift_compensation"] = bool(chip.drift_compensation)
        a["timesteps"] = np.int64(self.T)
        a["model_sha256"] = chip.image.model_sha256
        a["image_sha256"] = image_sha
        a["signals"] = json.dumps([s for s in SIGNALS if s in sig])
        a["noise_generator"] = NOISE_GENERATOR
        for k, v in (meta or {}).items():
            a[k] = v
        gc = f.create_group("chip", track_order=True)
        write_chip(gc, chip)
        gc.attrs["record_sha256"] = json.dumps(records, sort_keys=False)
        _annotate_chip(gc, chip.config)
        self.g_inputs = self._group(f, "inputs", "inputs")
        self.g_layers = self._group(f, "layers", "layers")
        self.g_outputs = self._group(f, "outputs", "outputs")
        self._ds: dict[str, object] = {}  # h5 path -> dataset
        self._units: dict[str, object] = {}
        self.n = 0  # samples written
        self._staged: tuple[np.ndarray, np.ndarray | None] | None = None
        self._batch: dict[str, np.ndarray] | None = None

    # ------------------------------------------------------------------ helpers
    def _bind(self, f, runner, signals: Iterable[str], n_samples: int | None) -> None:
        """State shared by a new writer and a resumed one: file, runner, signal groups, unit order."""
        from .run import SIGNALS

        sig = frozenset(signals)
        bad = sig - set(SIGNALS)
        if bad:
            raise ValueError(f"unknown signal groups {sorted(bad)}; choose from {', '.join(SIGNALS)}")
        self.signals = sig
        self.f = f
        self.runner = runner
        self.T = int(runner.T)
        self.n_hint = n_samples
        self._order = {u: i for i, u in enumerate(unit_order(runner.arch))}

    @staticmethod
    def _group(parent, name: str, enc: str, **attrs):
        g = parent.create_group(name, track_order=True)
        g.attrs["encoding-type"] = enc
        g.attrs["encoding-version"] = ENCODING_VERSION
        for k, v in attrs.items():
            g.attrs[k] = v
        return g

    def _unit_index(self, unit: str) -> int:
        if unit not in self._order:  # a unit this module does not know: after the known ones
            self._order[unit] = len(self._order)
        return self._order[unit]

    def _unit_group(self, unit: str):
        g = self._units.get(unit)
        if g is not None:
            return g
        idx = self._unit_index(unit)
        layers = self.runner.layers
        if unit in layers:
            lay = layers[unit]
            cfg = self.runner.cfg
            n_in, n_out = lay.g_diff_code.shape
            extra = dict(kind="crossbar", layer_id=int(lay.layer_id), tile_rows=int(cfg.tile.rows),
                         tile_cols=int(cfg.tile.cols), n_row_tiles=-(-n_in // cfg.tile.rows),
                         n_col_tiles=-(-n_out // cfg.tile.cols),
                         input_signal=crossbar_input(self.runner.arch, unit) or "")
        elif unit.startswith("lif."):
            extra = dict(kind="lif", theta_code=int(self.runner.theta[unit[4:]]))
        elif unit.endswith(".ssa"):
            extra = dict(kind="ssa")
        elif unit in ("input", "encoder"):
            extra = dict(kind=unit)
        else:
            extra = dict(kind="residual" if unit.startswith("blocks.") else "other")
        extra.update(replay_attrs(self.runner, unit))
        g = self._group(self.g_layers, f"{idx:02d}_{unit}", "unit", unit=unit, index=idx, **extra)
        self._units[unit] = g
        return g

    def _dataset(self, key: str, group, name: str, tail: tuple[int, ...], fmt: Format, dims: tuple[str, ...],
                 signal: str, per_step: bool, packed_length: int | None = None):
        ds = self._ds.get(key)
        if ds is not None:
            return ds
        dt = fmt.storage_dtype()
        full_tail = ((self.T,) if per_step else ()) + tuple(tail)
        ds = group.create_dataset(name, shape=(0,) + full_tail, maxshape=(None,) + full_tail, dtype=dt,
                                  chunks=_chunks(full_tail, dt.itemsize, self.n_hint), compression="gzip",
                                  compression_opts=GZIP_LEVEL, shuffle=True, fletcher32=True, track_times=False)
        a = ds.attrs
        a["encoding-type"] = ENC_PACKED if fmt.packed else ENC_INT
        a["encoding-version"] = ENCODING_VERSION
        for k, v in fmt.attrs().items():
            a[k] = v
        a["dims"] = ["sample"] + (["t"] if per_step else []) + list(dims)
        a["signal"] = signal
        for k, v in seed_shape_attrs(self.runner, signal).items():
            a[k] = v
        if fmt.packed:
            a["packed_length"] = int(packed_length)
            a["bitorder"] = "little"
        self._ds[key] = ds
        return ds

    @staticmethod
    def _append(ds, n0: int, block: np.ndarray) -> None:
        n1 = n0 + block.shape[0]
        if ds.shape[0] != n0:
            raise RuntimeError(f"{ds.name}: has {ds.shape[0]} samples, expected {n0}")
        if block.shape[1:] != ds.shape[1:]:
            raise ValueError(f"{ds.name}: batch shape {block.shape[1:]} differs from {ds.shape[1:]}")
        ds.resize(n1, axis=0)
        ds[n0:n1] = block

    # ------------------------------------------------------------------ sink protocol
    def stage(self, features: np.ndarray, labels: np.ndarray | None = None) -> None:
        """The 8-bit feature codes (and labels) of the next batch, stored under /inputs."""
        self._staged = (np.asarray(features), None if labels is None else np.asarray(labels))

    def begin_batch(self, sample_ids: np.ndarray) -> None:
        self._ids = np.asarray(sample_ids, np.int64).copy()
        self._nb = len(self._ids)
        self._batch = {}
        self._meta: dict[str, tuple] = {}
        self._steps: dict[str, int] = {}
        if self._staged is not None and len(self._staged[0]) != self._nb:
            raise ValueError(f"staged {len(self._staged[0])} inputs for a batch of {self._nb}")

    def __call__(self, path: str, t: int, data: np.ndarray) -> None:
        if self._batch is None:
            raise RuntimeError("GoldenWriter: signal before begin_batch")
        data = np.asarray(data)
        if data.shape[0] != self._nb:
            raise ValueError(f"{path}: batch axis {data.shape[0]}, expected {self._nb}")
        buf = self._batch.get(path)
        if buf is None:
            fmt, dims = signal_format(path, self.runner, data)
            if len(dims) != data.ndim - 1:
                dims = tuple(f"dim{i}" for i in range(1, data.ndim))
            enc_shape = encode(fmt, data[:1]).shape[1:] if data.size else data.shape[1:]
            shape = (self._nb,) + ((self.T,) if t >= 0 else ()) + enc_shape
            buf = np.zeros(shape, fmt.storage_dtype())
            self._batch[path] = buf
            self._meta[path] = (fmt, dims, t >= 0, data.shape[-1] if data.ndim > 1 else 1)
            self._steps[path] = 0
        fmt, _, per_step, _ = self._meta[path]
        if per_step != (t >= 0):
            raise ValueError(f"{path}: mixes per-sample (t=-1) and per-step calls")
        try:
            enc = encode(fmt, data)
        except ValueError as exc:
            raise ValueError(f"signal {path} t {t}: {exc}") from None
        if per_step:
            if not 0 <= t < self.T:
                raise ValueError(f"{path}: time step {t} outside 0..{self.T - 1}")
            buf[:, t] = enc
        else:
            buf[...] = enc
        self._steps[path] += 1

    def end_batch(self, logits: np.ndarray) -> None:
        n0 = self.n
        # groups (and datasets within a group) are created in data-flow order, not call order
        # (per-sample constants such as SSA seeds arrive before the first time step)
        paths = sorted(self._batch, key=lambda p: self._unit_index(p.partition("/")[0]))
        for path in paths:
            buf = self._batch[path]
            fmt, dims, per_step, length = self._meta[path]
            if per_step and self._steps[path] != self.T:
                raise RuntimeError(f"{path}: {self._steps[path]} of {self.T} time steps received")
            unit, _, name = path.partition("/")
            g = self._unit_group(unit)
            ds = self._dataset(path, g, name, buf.shape[2 if per_step else 1:], fmt, dims, path, per_step,
                               packed_length=length if fmt.packed else None)
            self._append(ds, n0, buf)
        nb = self._nb
        if self._staged is None and "inputs/feature_code" in self._ds:
            raise RuntimeError("GoldenWriter: stage(features) was not called for this batch")
        fin = self._dataset("inputs/sample_id", self.g_inputs, "sample_id", (), Format(64, True, 0, "index"),
                            (), "", False)
        self._append(fin, n0, self._ids)
        if self._staged is not None:
            x, y = self._staged
            ds = self._dataset("inputs/feature_code", self.g_inputs, "feature_code", x.shape[1:],
                               Format(8, False, 8, "1"), ("patch", "feature"), "", False)
            self._append(ds, n0, encode(Format(8, False, 8, "1"), x))
            if y is not None:
                y = np.asarray(y, np.int64)
                ydims = ("token",) if y.ndim == 2 else tuple(f"dim{i}" for i in range(1, y.ndim))
                ds = self._dataset("inputs/label", self.g_inputs, "label", y.shape[1:],
                                   Format(64, True, 0, "class"), ydims, "", False)
                self._append(ds, n0, np.asarray(y, np.int64))
        lg = np.asarray(logits)
        fl = Format(32, True, self.runner.cfg.lif.frac_bits, "1")
        ro = ("token",) if lg.ndim == 3 else ()  # a decoder reads out several query tokens
        ds = self._dataset("outputs/logits", self.g_outputs, "logits", lg.shape[1:], fl, ro + ("class",), "", False)
        self._append(ds, n0, encode(fl, lg))
        from .run import predict

        nc = lg.shape[-1]
        fp = Format(max(1, (nc - 1).bit_length()), False, 0, "class")
        ds = self._dataset("outputs/prediction", self.g_outputs, "prediction", lg.shape[1:-1], fp, ro, "", False)
        self._append(ds, n0, encode(fp, predict(lg)))
        self.n = n0 + nb
        self._batch = None
        self._staged = None
        # a batch is complete only once every dataset holds it: record it, then flush to disk, so an
        # interrupted run can be resumed from here (``GoldenWriter.resume``)
        self.f.attrs["samples_done"] = np.int64(self.n)
        self.f.flush()

    def close(self) -> None:
        self.f.attrs["n_samples"] = np.int64(self.n)
        if "samples_done" in self.f.attrs:
            del self.f.attrs["samples_done"]

    # ------------------------------------------------------------------ resume
    @classmethod
    def resume(cls, f, runner, signals: Iterable[str], *, kind: str = "log", meta: dict | None = None,
               n_samples: int | None = None) -> "GoldenWriter":
        """Continue a partial file written by an interrupted run (opened ``r+``).

        The file must describe the same run (schema, chip digests, root seed, T, signals, kind and every
        ``meta`` value); its datasets are cut back to the last complete batch (``samples_done``) and the
        writer appends from there.  Raises :class:`GoldenError` when the file cannot be continued.
        """
        from .run import SIGNALS

        check_schema(f)
        check_noise_generator(f, bool(runner.noise_on), "cannot be continued")
        a = f.attrs
        if "samples_done" not in a:
            raise GoldenError("the partial file records no complete batch (samples_done missing): start over "
                              "with --force")
        image_sha, _ = chip_digests(runner.chip)
        sig = frozenset(signals)
        want = {"kind": kind, "image_sha256": image_sha, "root_seed": int(runner.root_seed),
                "timesteps": int(runner.T), "config_json": runner.chip.config.to_json(),
                "signals": json.dumps([s for s in SIGNALS if s in sig])}
        want.update(meta or {})
        for k, v in want.items():
            have = a.get(k)
            if isinstance(have, bytes):
                have = have.decode()
            if isinstance(have, np.generic):
                have = have.item()
            if isinstance(v, np.generic):
                v = v.item()
            if have != v:
                raise GoldenError(f"the partial file was written by a different run ({k} differs): "
                                  f"start over with --force")
        self = cls.__new__(cls)
        self._bind(f, runner, sig, n_samples)
        self.g_inputs, self.g_layers, self.g_outputs = f["inputs"], f["layers"], f["outputs"]
        self.n = int(a["samples_done"])
        self._ds, self._units = {}, {}
        for gname in self.g_layers:
            g = self.g_layers[gname]
            unit = str(g.attrs["unit"])
            self._units[unit] = g
            self._order.setdefault(unit, int(g.attrs["index"]))
            for dname in g:
                self._ds[f"{unit}/{dname}"] = g[dname]
        for grp, pre in ((self.g_inputs, "inputs"), (self.g_outputs, "outputs")):
            for dname in grp:
                self._ds[f"{pre}/{dname}"] = grp[dname]
        for ds in self._ds.values():
            if ds.shape[0] > self.n:
                ds.resize(self.n, axis=0)
            elif ds.shape[0] < self.n:
                raise GoldenError(f"the partial file is inconsistent ({ds.name} has {ds.shape[0]} samples, "
                                  f"{self.n} recorded): start over with --force")
        self._staged = None
        self._batch = None
        return self

    def stored_logits(self) -> np.ndarray:
        """Logits of the samples already in the file (raw int64 codes)."""
        ds = self._ds.get("outputs/logits")
        if ds is None:
            return np.zeros((0,), np.int64)
        return np.asarray(decode(ds.attrs, ds[: self.n]), np.int64)


def write_run(writer: GoldenWriter, runner, x: np.ndarray, sample_ids: np.ndarray, labels: np.ndarray | None = None,
              batch_size: int = 64, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Run ``x`` batch by batch through ``runner`` into ``writer``; return the logits."""
    n = len(x)
    out = None
    for i in range(0, n, batch_size):
        j = min(n, i + batch_size)
        writer.stage(x[i:j], None if labels is None else labels[i:j])
        lg = runner.run_batch(x[i:j], sample_ids[i:j], writer)
        if out is None:
            out = np.zeros((n,) + lg.shape[1:], np.int64)
        out[i:j] = lg
        if progress is not None:
            progress(j - i)
    writer.close()
    return out if out is not None else np.zeros((0, runner.arch.n_classes), np.int64)


# ============================================================================ reader
def _version_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in str(text).split("."))
    except ValueError:
        raise GoldenError(f"schema_version {text!r} is not MAJOR.MINOR.PATCH") from None


def check_schema(f) -> None:
    """Raise :class:`GoldenError` unless ``f`` is a golden file this reader understands."""
    schema = f.attrs.get("schema")
    if schema is None:
        raise GoldenError("not a bittrue golden file (no 'schema' attribute)")
    if str(schema) != SCHEMA:
        raise GoldenError(f"schema {str(schema)!r}, expected {SCHEMA!r}")
    ver = _version_tuple(f.attrs.get("schema_version", ""))
    mine = _version_tuple(SCHEMA_VERSION)
    if ver[0] != mine[0]:
        raise GoldenError(f"schema_version {'.'.join(map(str, ver))} has major version {ver[0]}; "
                          f"this bittrue reads {mine[0]}.x")
    for g in ("chip", "inputs", "layers", "outputs"):
        if g not in f:
            raise GoldenError(f"group /{g} missing")


def check_noise_generator(f, noise_on: bool, what: str = "cannot be replayed") -> None:
    """Raise :class:`GoldenError` when ``f`` was written with another output-noise generator.

    Only matters when the chip adds output noise (``noise_on``); files of schema 1.0.0 carry no
    ``noise_generator`` attribute and used :data:`NOISE_GENERATOR_1_0`.
    """
    have = f.attrs.get("noise_generator", NOISE_GENERATOR_1_0)
    have = have.decode() if isinstance(have, bytes) else str(have)
    if noise_on and have != NOISE_GENERATOR:
        raise GoldenError(f"written with output-noise generator {have!r}; this bittrue implements "
                          f"{NOISE_GENERATOR!r}, so its noise codes {what} (write the file again)")


def signal_datasets(f) -> dict[str, object]:
    """Run signal path -> stored dataset, over every ``/layers/NN_<unit>`` group."""
    out = {}
    for gname in f["layers"]:
        g = f["layers"][gname]
        for dname in g:
            ds = g[dname]
            sig = str(ds.attrs.get("signal", f"{g.attrs.get('unit', gname)}/{dname}"))
            out[sig] = ds
    return out


class GoldenFile:
    """Read access to a golden file or activation log (checks the schema on open)."""

    def __init__(self, path: str | Path):
        from .h5safe import open_h5

        self.f = open_h5(path, "golden file", GoldenError)
        try:
            check_schema(self.f)
        except Exception:
            self.f.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self.f.close()

    @property
    def attrs(self):
        return self.f.attrs

    def chip(self):
        from .hwfile import read_chip

        return read_chip(self.f["chip"])

    def signals(self) -> dict[str, object]:
        return signal_datasets(self.f)

    def read(self, signal: str, rows: slice = slice(None)) -> np.ndarray:
        """Decoded raw codes of a run signal ("unit/name") or of ``inputs/...``/``outputs/...``."""
        if signal.split("/")[0] in ("inputs", "outputs"):
            ds = self.f[signal]
        else:
            ds = self.signals()[signal]
        return decode(ds.attrs, ds[rows])


# ============================================================================ verify
@dataclass(eq=False)
class Mismatch(Exception):
    """First difference between a golden file and the replay (cocotb-style one-liner)."""

    sample: int | None
    layer: str
    signal: str
    t: int | None
    index: str
    expected: object
    actual: object
    where: str = ""
    note: str = ""

    def line(self) -> str:
        s = "-" if self.sample is None else str(self.sample)
        t = "-" if self.t is None or self.t < 0 else str(self.t)
        msg = (f"MISMATCH sample {s} layer {self.layer} signal {self.signal} t {t} index {self.index}: "
               f"expected {self.expected}, actual {self.actual}")
        if self.where:
            msg += f" ({self.where})"
        if self.note:
            msg += f"; {self.note}"
        return msg

    def __str__(self) -> str:
        return self.line()


@dataclass
class VerifyResult:
    ok: bool
    samples: int
    timesteps: int
    datasets: int
    values: int
    image_sha256: str
    seconds: float
    mismatch: Mismatch | None = None


def _index_str(idx: tuple[int, ...], dims: list[str]) -> str:
    if not idx:
        return "()"
    if len(dims) == len(idx):
        return "(" + ", ".join(f"{d}={i}" for d, i in zip(dims, idx)) + ")"
    return "(" + ", ".join(str(i) for i in idx) + ")"


class _Checker:
    """A sink that compares every signal of a replayed batch against the stored datasets."""

    def __init__(self, index: dict[str, object], signals: frozenset[str], T: int):
        self.index = index
        self.signals = signals
        self.T = T
        self.values = 0
        self.seen: set[str] = set()
        self.rows = slice(0, 0)
        self.ids = np.zeros(0, np.int64)

    def begin_batch(self, sample_ids) -> None:
        self.cache: dict[str, np.ndarray] = {}

    def _stored(self, path: str) -> np.ndarray:
        a = self.cache.get(path)
        if a is None:
            ds = self.index[path]
            a = ds[self.rows]
            self.cache[path] = a
        return a

    def __call__(self, path: str, t: int, data: np.ndarray) -> None:
        unit, _, name = path.partition("/")
        ds = self.index.get(path)
        if ds is None:
            raise Mismatch(None, unit, name, t, "-", "(dataset)", "(produced by the replay)",
                           note="signal missing from the file")
        self.seen.add(path)
        per_step = "t" in list(ds.attrs["dims"])[:2]
        if per_step != (t >= 0):
            raise GoldenError(f"{ds.name}: dims {list(ds.attrs['dims'])} do not match the run signal")
        act = np.asarray(data)
        tail = act.shape[1:]
        if tail and str(ds.attrs.get("encoding-type")) == ENC_PACKED:
            tail = tail[:-1] + (-(-tail[-1] // 8),)
        if ds.shape[2 if per_step else 1:] != tail:  # checked before a batch of rows is read
            raise Mismatch(int(self.ids[0]) if len(self.ids) else None, unit, name, t, "(shape)",
                           ds.shape[2 if per_step else 1:], tail, where=ds.name, note="stored shape")
        raw = self._stored(path)
        raw = raw[:, t] if per_step else raw
        compare_block(ds, raw, act, self.ids, unit, name, t, self.rows.start)
        self.values += act.size

    def end_batch(self, logits) -> None:
        self.logits = np.array(logits)


def compare_block(ds, raw: np.ndarray, act: np.ndarray, ids, unit: str, name: str, t: int | None,
                  row0: int) -> None:
    """Compare stored (raw, storage-encoded) data of one batch with the replay; raise Mismatch."""
    exp = decode(ds.attrs, raw)
    dims = [str(d) for d in ds.attrs["dims"]]
    dims = dims[2:] if (len(dims) > 1 and dims[1] == "t") else dims[1:]
    if exp.shape != act.shape:
        raise Mismatch(int(ids[0]) if len(ids) else None, unit, name, t, "(shape)", exp.shape[1:], act.shape[1:],
                       where=ds.name)
    a64 = act.astype(np.int64)
    e64 = exp.astype(np.int64)
    ne = e64 != a64
    if ne.any():
        first = tuple(int(i) for i in np.argwhere(ne)[0])
        b = first[0]
        raise Mismatch(int(ids[b]), unit, name, t, _index_str(first[1:], dims), int(e64[first]),
                       int(a64[first]), where=f"{ds.name}, row {row0 + b}")
    if str(ds.attrs.get("encoding-type")) == ENC_PACKED:
        packed = np.packbits(act.astype(np.uint8), axis=-1, bitorder="little")
        if not np.array_equal(packed, raw):
            first = tuple(int(i) for i in np.argwhere(packed != raw)[0])
            b = first[0]
            raise Mismatch(int(ids[b]), unit, name, t, _index_str(first[1:], []), int(raw[first]),
                           int(packed[first]), where=f"{ds.name}, row {row0 + b}",
                           note="padding bits of a packed byte are set")


def _check_chip(f, chip) -> tuple[str, Mismatch | None]:
    """Recompute the chip digests; a Mismatch naming the first altered record, or None."""
    sha, records = chip_digests(chip)
    stored = str(f.attrs.get("image_sha256", ""))
    if sha == stored:
        return sha, None
    try:
        rec_stored = json.loads(str(f["chip"].attrs.get("record_sha256", "{}")))
    except ValueError:
        rec_stored = {}
    for name, h in records.items():
        if rec_stored.get(name) != h:
            parts = name.split("/")
            layer = "chip"
            if "layers" in parts:
                key = parts[parts.index("layers") + 1]
                layer = key.split("_", 1)[1] if "_" in key else key
            return sha, Mismatch(None, layer, parts[-1], None, "-", f"sha256 {str(rec_stored.get(name))[:16]}",
                                 f"sha256 {h[:16]}", where=f"/chip/{name}",
                                 note="the stored chip was altered after export")
    return sha, Mismatch(None, "chip", "image_sha256", None, "-", stored[:16], sha[:16], where="/chip")


def verify(path: str | Path, *, batch_size: int = 64, progress: Callable[[int], None] | None = None) -> VerifyResult:
    """Replay a golden file on its own stored chip and compare every stored dataset.

    Raises :class:`GoldenError` (exit 2) for files that cannot be checked, including corrupt ones (a failed
    chunk checksum, a missing attribute, a dataset of the wrong type); returns a :class:`VerifyResult` whose
    ``mismatch`` is the first difference (exit 1) or None (exit 0).
    """
    try:
        return _verify(path, batch_size=batch_size, progress=progress)
    except ModelError:
        raise
    except (OSError, KeyError, TypeError, ValueError, IndexError, RuntimeError, RecursionError,
            OverflowError) as exc:
        raise GoldenError(f"{path}: corrupt or inconsistent file ({type(exc).__name__}: {exc})") from None


def _verify(path, *, batch_size: int, progress) -> VerifyResult:
    from .run import SIGNALS, Runner, predict

    t0 = time.perf_counter()
    with GoldenFile(path) as gf:
        f = gf.f
        try:
            chip = gf.chip()
        except ModelError as exc:
            raise GoldenError(f"{path}: {exc}") from None
        a = f.attrs
        try:
            T = int(a["timesteps"])
            root = int(a["root_seed"])
            sig_json = json.loads(str(a.get("signals", "null")))
        except (KeyError, ValueError, TypeError) as exc:
            raise GoldenError(f"{path}: root attributes incomplete ({exc})") from None
        if "sample_id" not in f["inputs"] or "feature_code" not in f["inputs"]:
            raise GoldenError(f"{path}: /inputs/feature_code and /inputs/sample_id are needed to replay")
        ids_ds, x_ds = f["inputs/sample_id"], f["inputs/feature_code"]
        arch = chip.arch
        n = ids_ds.shape[0] if ids_ds.shape else 0
        q = (arch.readout_tokens,) if arch.readout_tokens else ()
        for ds, want in ((ids_ds, (n,)), (x_ds, (n, arch.n_patches, arch.token_features)),
                         (f["outputs"].get("logits"), (n,) + q + (arch.n_classes,)),
                         (f["outputs"].get("prediction"), (n,) + q)):
            if ds is not None and ds.shape != want:
                raise GoldenError(f"{path}: {ds.name} has shape {ds.shape}, the stored chip needs {want}")
        for ds in (ids_ds, x_ds):
            if ds.dtype.kind not in "iu":
                raise GoldenError(f"{path}: {ds.name} holds {ds.dtype} values; the schema stores integer codes")
        n = ids_ds.shape[0]
        index = signal_datasets(f)
        signals = frozenset(sig_json if sig_json is not None else SIGNALS) & set(SIGNALS)
        missing_out = [k for k in ("logits", "prediction") if k not in f["outputs"]]
        if missing_out:
            raise GoldenError(f"{path}: /outputs/{missing_out[0]} is missing (every golden file stores it)")
        for p, ds in list(index.items()) + [(f"outputs/{k}", f["outputs"][k]) for k in ("logits", "prediction")]:
            if ds.dtype.kind not in "iu":
                raise GoldenError(f"{path}: {ds.name} holds {ds.dtype} values; the schema stores integer codes")
            if ds.shape[0] != n:
                raise GoldenError(f"{path}: {ds.name} holds {ds.shape[0]} samples, /inputs/sample_id {n}")
            d = list(ds.attrs.get("dims", []))
            if len(d) > 1 and d[1] == "t" and ds.shape[1] != T:
                raise GoldenError(f"{path}: {ds.name} holds {ds.shape[1]} time steps, file says T = {T}")
        image_sha, chip_mm = _check_chip(f, chip)
        runner = Runner(chip, timesteps=T, root_seed=root)
        try:
            check_noise_generator(f, bool(runner.noise_on))
        except GoldenError as exc:
            raise GoldenError(f"{path}: {exc}") from None
        chk = _Checker(index, signals, T)
        outs = {k: f["outputs"][k] for k in ("logits", "prediction") if k in f["outputs"]}
        mm = None
        try:
            for i in range(0, n, batch_size):
                j = min(n, i + batch_size)
                chk.rows = slice(i, j)
                chk.ids = np.asarray(ids_ds[i:j], np.int64)
                x = decode(x_ds.attrs, x_ds[i:j])
                try:
                    logits = runner.run_batch(x, chk.ids, chk)
                except ValueError as exc:
                    raise GoldenError(f"{path}: cannot replay the stored inputs ({exc})") from None
                for k, ds in outs.items():
                    act = logits if k == "logits" else predict(logits)
                    compare_block(ds, ds[i:j], act, chk.ids, "outputs", k, None, i)
                    chk.values += act.size
                if i == 0:
                    missing = sorted(set(index) - chk.seen)
                    if missing:
                        u, _, nm = missing[0].partition("/")
                        raise Mismatch(None, u, nm, None, "-", "(stored dataset)", "(not produced by the replay)",
                                       where=index[missing[0]].name)
                if progress is not None:
                    progress(j - i)
        except Mismatch as exc:
            mm = exc
        if chip_mm is not None:
            if mm is not None:
                chip_mm.note += f"; first effect: {mm.line()[len('MISMATCH '):]}"
            mm = chip_mm
        return VerifyResult(ok=mm is None, samples=n, timesteps=T, datasets=len(index) + len(outs),
                            values=chk.values, image_sha256=image_sha, seconds=time.perf_counter() - t0,
                            mismatch=mm)
