"""Continuing a partial activation log written by an interrupted run."""
from __future__ import annotations

import json
from typing import Iterable

import h5py
import numpy as np

from .digest import chip_digests
from .format import SCHEMA_VERSION, GoldenError
from .reader import check_noise_generator, check_schema


def resume_writer(cls, f, runner, signals: Iterable[str], *, kind: str = "log", meta: dict | None = None,
                  n_samples: int | None = None):
    """Continue a partial file written by an interrupted run (opened ``r+``).

    The file must describe the same run (schema, chip digests, root seed, T, signals, kind and every
    ``meta`` value); its datasets are cut back to the last complete batch (``samples_done``) and the
    writer appends from there.  Raises :class:`GoldenError` when the file cannot be continued.
    """
    from ..run import SIGNALS

    check_schema(f)
    check_noise_generator(f, bool(runner.noise_on), "cannot be continued")
    a = f.attrs
    if "samples_done" not in a:
        raise GoldenError("the partial file records no complete batch (samples_done missing): start over "
                          "with --force")
    image_sha, _ = chip_digests(runner.chip)
    sig = frozenset(signals)
    want = {"schema_version": SCHEMA_VERSION, "kind": kind, "image_sha256": image_sha,
            "root_seed": int(runner.root_seed),
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
        if not isinstance(g, h5py.Group) or not {"unit", "index"} <= set(g.attrs):
            raise GoldenError(f"the partial file is damaged (layers/{gname} is not a described unit group): "
                              f"start over with --force")
        unit = str(g.attrs["unit"])
        if unit in self._units:
            raise GoldenError(f"the partial file is damaged (two groups of unit {unit}): start over with --force")
        self._units[unit] = g
        self._order.setdefault(unit, int(g.attrs["index"]))
        for dname in g:
            self._ds[f"{unit}/{dname}"] = g[dname]
    for grp, pre in ((self.g_inputs, "inputs"), (self.g_outputs, "outputs")):
        for dname in grp:
            self._ds[f"{pre}/{dname}"] = grp[dname]
    for key, ds in self._ds.items():
        if not isinstance(ds, h5py.Dataset):
            raise GoldenError(f"the partial file is damaged ({ds.name} is not a dataset): start over with --force")
    # checked against what this run writes on first use (GoldenWriter._dataset, _unit_group); anything left
    # unused after the first batch is not this run's
    self._unchecked = set(self._ds) | set(self._units)
    for ds in self._ds.values():
        if ds.shape[0] > self.n:
            ds.resize(self.n, axis=0)
        elif ds.shape[0] < self.n:
            raise GoldenError(f"the partial file is inconsistent ({ds.name} has {ds.shape[0]} samples, "
                              f"{self.n} recorded): start over with --force")
    self._staged = None
    self._batch = None
    return self
