"""Reading golden files: schema and version checks, the signal index, :class:`GoldenFile`."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..kernels.crossbar import NOISE_GENERATOR
from .format import NOISE_GENERATOR_1_0, RENAMED_BEFORE_1_3, SCHEMA, SCHEMA_VERSION, GoldenError, decode


# ============================================================================ reader
def version_tuple(text: str) -> tuple[int, ...]:
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
    ver = version_tuple(f.attrs.get("schema_version", ""))
    mine = version_tuple(SCHEMA_VERSION)
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
    """Run signal path -> stored dataset, over every ``/layers/NN_<unit>`` group.

    Files of schema < 1.3.0 stored the encoder input as ``input/p_code``: it is listed under its name now,
    ``input/prob_code`` (:data:`RENAMED_BEFORE_1_3`), so such files read and verify as before.
    """
    renamed = RENAMED_BEFORE_1_3 if version_tuple(f.attrs.get("schema_version", "1.0.0")) < (1, 3, 0) else {}
    out = {}
    for gname in f["layers"]:
        g = f["layers"][gname]
        for dname in g:
            ds = g[dname]
            sig = str(ds.attrs.get("signal", f"{g.attrs.get('unit', gname)}/{dname}"))
            out[renamed.get(sig, sig)] = ds
    return out


class GoldenFile:
    """Read access to a golden file or activation log (checks the schema on open)."""

    def __init__(self, path: str | Path):
        from ..h5safe import open_h5

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
        from ..hwfile import read_chip

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
