"""The HDF5 sink that writes golden files and activation logs (:class:`GoldenWriter`), and ``write_run``."""
from __future__ import annotations

import json
from typing import Callable, Iterable

import numpy as np

from ..kernels.crossbar import NOISE_GENERATOR
from .digest import _git_describe, chip_digests
from .format import (CHUNK_BYTES, CHUNK_SAMPLES, ENC_INT, ENC_PACKED, ENCODING_VERSION, GZIP_LEVEL, SCHEMA,
                     SCHEMA_VERSION, Format, GoldenError, _annotate_chip, decode, encode, signal_format)
from .replay import crossbar_input, replay_attrs, seed_shape_attrs, unit_order


# ============================================================================ writer
def _attr_value(v):
    """An attribute value in plain Python form (str for bytes, nested lists for arrays) for comparison."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    a = np.asarray(v)
    if a.ndim:
        return [_attr_value(x) for x in a.tolist()] if a.dtype.kind in "OSU" else a.tolist()
    return a.item() if isinstance(v, np.generic) else v


def _attrs_differ(have, want: dict) -> str | None:
    """None when the attributes ``have`` are exactly ``want``; else a short description of the first difference."""
    extra = sorted(set(have.keys()) - set(want))
    if extra:
        return f"attribute {extra[0]!r} is not this run's"
    for k, v in want.items():
        if k not in have:
            return f"attribute {k!r} is missing"
        if _attr_value(have[k]) != _attr_value(v):
            return f"attribute {k!r} differs from this run's"
    return None


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

        from .. import __version__
        from ..hwfile import write_chip
        from ..run import SIGNALS

        if runner.bitserial:
            raise ValueError("GoldenWriter: encoder.mode = bitserial has no place in schema "
                             f"{SCHEMA_VERSION} (docs/golden-schema.md): write golden vectors of the rate encoder")
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
        self._unchecked: set[str] = set()  # datasets and unit groups of a continued partial file not yet checked
        self.n = 0  # samples written
        self._staged: tuple[np.ndarray, np.ndarray | None] | None = None
        self._batch: dict[str, np.ndarray] | None = None

    # ------------------------------------------------------------------ helpers
    def _bind(self, f, runner, signals: Iterable[str], n_samples: int | None) -> None:
        """State shared by a new writer and a resumed one: file, runner, signal groups, unit order."""
        from ..run import SIGNALS

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

    def _unit_attrs(self, unit: str) -> tuple[int, dict]:
        """The index and the attributes (after ``encoding-type``/``-version``) of ``unit``'s group."""
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
            extra = dict(kind="lif", theta_code=int(self.runner.chip.image.lif_theta_code[unit[4:]]))
        elif unit.endswith(".ssa"):
            extra = dict(kind="ssa")
        elif unit in ("input", "encoder"):
            extra = dict(kind=unit)
        else:
            extra = dict(kind="residual" if unit.startswith("blocks.") else "other")
        extra.update(replay_attrs(self.runner, unit))
        return idx, dict(unit=unit, index=idx, **extra)

    def _unit_group(self, unit: str):
        g = self._units.get(unit)
        if g is not None and unit not in self._unchecked:
            return g
        idx, attrs = self._unit_attrs(unit)
        name = f"{idx:02d}_{unit}"
        if g is not None:  # a group of the partial file being continued: it must be the one this run writes
            want = {"encoding-type": "unit", "encoding-version": ENCODING_VERSION, **attrs}
            self._check_resumed(g, f"unit {unit} belongs in layers/{name}" if g.name.rpartition("/")[2] != name
                                else _attrs_differ(g.attrs, want))
            self._unchecked.discard(unit)
            return g
        self._check_new(f"layers/{name}")
        g = self._group(self.g_layers, name, "unit", **attrs)
        self._units[unit] = g
        return g

    def _dataset(self, key: str, group, name: str, tail: tuple[int, ...], fmt: Format, dims: tuple[str, ...],
                 signal: str, per_step: bool, packed_length: int | None = None):
        ds = self._ds.get(key)
        if ds is not None and key not in self._unchecked:
            return ds
        dt = fmt.storage_dtype()
        full_tail = ((self.T,) if per_step else ()) + tuple(tail)
        attrs = {"encoding-type": ENC_PACKED if fmt.packed else ENC_INT, "encoding-version": ENCODING_VERSION,
                 **fmt.attrs(), "dims": ["sample"] + (["t"] if per_step else []) + list(dims), "signal": signal,
                 **seed_shape_attrs(self.runner, signal)}
        if fmt.packed:
            attrs.update(packed_length=int(packed_length), bitorder="little")
        if ds is not None:  # a dataset of the partial file being continued: it must be the one this run writes
            if ds.dtype != dt or ds.shape[1:] != full_tail or ds.maxshape != (None,) + full_tail:
                self._check_resumed(ds, f"dtype {ds.dtype}, shape {ds.shape}, maxshape {ds.maxshape}; this run "
                                        f"writes {dt}, (n,) + {full_tail}, (None,) + {full_tail}")
            if (ds.compression, ds.shuffle, ds.fletcher32) != ("gzip", True, True):
                self._check_resumed(ds, "its storage filters differ from this run's")
            self._check_resumed(ds, _attrs_differ(ds.attrs, attrs))
            self._unchecked.discard(key)
            return ds
        self._check_new(f"{group.name.lstrip('/')}/{name}")
        ds = group.create_dataset(name, shape=(0,) + full_tail, maxshape=(None,) + full_tail, dtype=dt,
                                  chunks=_chunks(full_tail, dt.itemsize, self.n_hint), compression="gzip",
                                  compression_opts=GZIP_LEVEL, shuffle=True, fletcher32=True, track_times=False)
        for k, v in attrs.items():
            ds.attrs[k] = v
        self._ds[key] = ds
        return ds

    @staticmethod
    def _check_resumed(obj, problem: str | None) -> None:
        """Raise :class:`GoldenError` naming ``obj`` when a continued partial file's ``problem`` is not None."""
        if problem:
            raise GoldenError(f"the partial file is damaged ({obj.name}: {problem}): start over with --force")

    def _check_new(self, path: str) -> None:
        """A continued partial file must already hold every group and dataset this run writes."""
        if self.n:
            raise GoldenError(f"the partial file is damaged (/{path} is missing): start over with --force")

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
        from ..run import predict

        nc = lg.shape[-1]
        fp = Format(max(1, (nc - 1).bit_length()), False, 0, "class")
        ds = self._dataset("outputs/prediction", self.g_outputs, "prediction", lg.shape[1:-1], fp, ro, "", False)
        self._append(ds, n0, encode(fp, predict(lg)))
        if self._unchecked:  # a continued partial file holds something this run does not write
            what = sorted(self._unchecked)[0]
            obj = self._ds[what] if what in self._ds else self._units[what]
            self._check_resumed(obj, "not written by this run")
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
        """Continue a partial file written by an interrupted run (opened ``r+``): :func:`.resume.resume_writer`."""
        from .resume import resume_writer

        return resume_writer(cls, f, runner, signals, kind=kind, meta=meta, n_samples=n_samples)

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
