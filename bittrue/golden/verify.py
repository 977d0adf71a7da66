"""``verify``: replay a golden file on its own stored chip and report the first mismatch."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..model import ModelError
from .digest import chip_digests
from .format import ENC_PACKED, GoldenError, decode
from .reader import GoldenFile, check_noise_generator, signal_datasets


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
    from ..run import SIGNALS, Runner, predict

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
