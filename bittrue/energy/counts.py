"""Counting: exact activity counts of a run (:class:`ActivityCounter`, a run sink), their closed forms, and
recounting from a golden file."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import HardwareConfig
from ..kernels.lfsr import lfsr_count
from ..modes import EncoderMode
from .. import netlist as nl
from ..model import Architecture
from .table import EnergyTableError


def log2_int(x: int) -> int:
    return int(x).bit_length() - 1


def ceil_div(a: int, b: int) -> int:
    return -(-int(a) // int(b))


@dataclass
class ActivityCounts:
    """Exact activity counts of a run: totals over ``n_samples`` samples and ``timesteps`` steps."""

    arch: Architecture
    config: HardwareConfig
    timesteps: int
    n_samples: int
    sites: dict[str, dict[str, int]]
    tiles: dict[str, list[list[int]]] = field(default_factory=dict)  #: cell reads per (row tile, col tile)

    def total(self, counter: str) -> int:
        """Sum of one counter over every site."""
        return int(sum(c.get(counter, 0) for c in self.sites.values()))

    @classmethod
    def from_dict(cls, d: dict[str, Any], arch: Architecture, cfg: HardwareConfig) -> "ActivityCounts":
        """Inverse of :meth:`to_dict` (e.g. ``report["counts"]`` of ``energy --json``), to re-price
        saved counts with another table without running again."""
        return cls(arch=arch, config=cfg, timesteps=int(d["timesteps"]), n_samples=int(d["samples"]),
                   sites={s: {k: int(v) for k, v in c.items()} for s, c in d["sites"].items()},
                   tiles={k: [[int(x) for x in r] for r in v] for k, v in d.get("tiles_cell_reads", {}).items()})

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.arch.name, "timesteps": self.timesteps, "samples": self.n_samples,
                "sites": {s: dict(c) for s, c in self.sites.items()},
                "tiles_cell_reads": {k: [list(r) for r in v] for k, v in self.tiles.items()}}


def crossbar_inputs(arch: Architecture) -> dict[str, int]:
    """Crossbar layer name -> tokens it converts per time step (``n_patches``, ``N``, or the readout tokens:
    1 for a CLS readout, the query tokens of a decoder)."""
    return {name: op.tokens for name, op in nl.crossbars(arch).items()}


def lif_sizes(arch: Architecture) -> dict[str, tuple[int, int]]:
    """LIF population name -> (tokens, width)."""
    return {name: (op.tokens, op.n_out) for name, op in nl.lifs(arch).items()}


def closed_form_counts(arch: Architecture, cfg: HardwareConfig, timesteps: int,
                       n_samples: int = 1) -> dict[str, dict[str, int]]:
    """Every counter that the dimensions fix, for ``n_samples`` inferences of ``timesteps`` steps.

    ``lfsr_steps = registers x steps_per_draw x T`` (registers per the sharing mode, spec 2.4;
    steps per draw ``lfsr.steps_per_draw`` or the draw width, spec 2.2);
    ``and_evals_score = and_evals_output = T x heads x N^2 x d_k`` per block;
    ``adc_conversions = T x tokens x row_tiles x out`` per layer (every column of every tile
    converts for every token, spec 4.1); ``requant_macs = T x tokens x out``;
    ``psum_adds = T x tokens x (row_tiles - 1) x out``; with ``encoder.mode = "bitserial"`` (spec 5.3) the
    embedding converts once per bit-plane (``row_tiles`` becomes ``row_tiles x encoder.bits`` in both, and its
    buffer reads are the codes' bits), and the encoder has no LFSR steps, comparators or buffer writes; ``lif_updates = T x tokens x width``;
    buffer bits are whole spike vectors (zeros included) written once and read once per consumer;
    ``state_bits`` = 2 x lif.width per LIF update or residual add (read + write), plus lif.width
    per residual-stream read by ``lif.blocks.b.in`` / ``.mlp_in``.
    """
    T, n = int(timesteps), int(n_samples)
    k = T * n
    N, D, H, dk = arch.n_tokens, arch.dim, arch.heads, arch.d_k
    sh = int(cfg.lfsr.sharing)
    spd = cfg.lfsr.steps_per_draw
    bits_enc = cfg.encoder.bits
    bits_s, bits_o = log2_int(cfg.resolved_k_s(dk)), log2_int(cfg.resolved_k_o(N))
    w_lif = cfg.lif.width
    sites: dict[str, dict[str, int]] = {}
    npf = arch.n_patches * arch.token_features
    bitserial = cfg.encoder.mode == EncoderMode.BITSERIAL
    if bitserial:  # spec 5.3: no LFSR, no comparator; the embedding reads the codes' bits (counted there)
        sites["encoder"] = {"lfsr_steps": 0, "comparator_ops": 0, "buffer_bits_written": 0, "buffer_bits_read": 0}
    else:
        sites["encoder"] = {"lfsr_steps": int(lfsr_count(sh, arch.n_patches, arch.token_features)) * (spd or bits_enc) * k,
                            "comparator_ops": npf * k, "buffer_bits_written": npf * k,
                            "buffer_bits_read": npf * bits_enc * k}  # the feature codes, re-read every step
    shapes = arch.linear_shapes()
    toks = crossbar_inputs(arch)
    for name, (n_in, n_out) in shapes.items():
        n_rt = ceil_div(n_in, cfg.tile.rows)
        t_ = toks[name]
        passes = cfg.read_passes(name)  # one read pass per bit-plane for a bit-serial embedding
        c = {"adc_conversions": t_ * n_rt * passes * n_out * k, "psum_adds": t_ * (n_rt * passes - 1) * n_out * k,
             "requant_macs": t_ * n_out * k, "buffer_bits_read": t_ * n_in * passes * k}
        if name == "head":
            c["logit_adds"] = arch.n_readout * arch.n_classes * k
        sites[name] = c
    n_reg_s = int(lfsr_count(sh, N, N))
    n_reg_o = int(lfsr_count(sh, N, dk))
    for op in nl.netlist(arch):
        if op.kind == nl.LIF:
            upd = op.tokens * op.n_out * k
            extra = upd * w_lif if op.src[0] == nl.RESIDUAL else 0  # the residual stream read
            sites[f"lif.{op.name}"] = {"lif_updates": upd, "buffer_bits_written": upd,
                                       "state_bits": 2 * w_lif * upd + extra}
        elif op.kind == nl.SSA:
            sites[op.name] = {
                "lfsr_steps": H * (n_reg_s * (spd or bits_s) + n_reg_o * (spd or bits_o)) * k,
                "and_evals_score": H * N * N * dk * k, "and_evals_output": H * N * N * dk * k,
                "comparator_ops_score": H * N * N * k, "comparator_ops_output": H * N * dk * k,
                "buffer_bits_read": 3 * N * D * k, "buffer_bits_written": N * D * k}
        elif op.kind in (nl.ADD, nl.EMBED):
            site = "embed.residual" if op.kind == nl.EMBED else f"{nl.block_name(op)}.residual"
            c = sites.setdefault(site, {"residual_adds": 0, "state_bits": 0})
            c["residual_adds"] += op.tokens * op.n_out * k
            c["state_bits"] += 2 * w_lif * op.tokens * op.n_out * k
    return sites


class ActivityCounter:
    """A :class:`bittrue.run.Sink` that counts what the chip does; exact integers.

    Parameters
    ----------
    arch, cfg : the chip's architecture and hardware configuration (``chip.arch``, ``chip.config``).
    timesteps : the T of the run (``Runner.T``).

    Use::

        counter = ActivityCounter(chip.arch, chip.config, runner.T)
        runner.run_batch(x, ids, sink=counter)
        counts = counter.counts()

    It asks for the ``encoder``, ``spikes`` and ``ssa`` signal groups.  Data-dependent counters:
    spikes of the encoder and every LIF population; per crossbar layer, the active rows of each
    row tile (``active_rows``: a 1 on a word line), the cell reads ``active rows x columns`` of
    every tile, word-line pulses ``active rows x column tiles``; per SSA block the score counter
    increments ``sum_{i,j} popcount(q_i AND k_j)`` and output counter increments
    ``sum_{i,c} popcount_j(S[i,j] AND v[j,c])`` (AND outputs that are 1, counted before the
    counters saturate) and the score / output spikes.
    """

    signals = frozenset({"encoder", "spikes", "ssa"})

    def __init__(self, arch: Architecture, cfg: HardwareConfig, timesteps: int):
        self.arch = arch
        self.cfg = cfg
        self.T = int(timesteps)
        self.n_samples = 0
        self.rows = cfg.tile.rows
        self.cols = cfg.tile.cols
        self._shapes = arch.linear_shapes()
        self._data: dict[str, dict[str, int]] = {}
        self._active: dict[str, np.ndarray] = {
            name: np.zeros(ceil_div(n_in, self.rows), dtype=object) for name, (n_in, _) in self._shapes.items()}
        self._feeds = {op.src[0]: name for name, op in nl.crossbars(arch).items()}  #: signal -> crossbar it drives
        #: q / k / v spike signal -> (SSA unit, "q" | "k" | "v")
        self._ssa_in = {src: (op.name, "qkv"[i]) for op in nl.ops_of(arch, nl.SSA) for i, src in enumerate(op.src)}
        self._qkv: dict[str, dict[str, np.ndarray]] = {}

    # ---------------------------------------------------------------- sink protocol
    def begin_batch(self, sample_ids: np.ndarray) -> None:
        self.n_samples += int(len(sample_ids))

    def end_batch(self, logits: np.ndarray) -> None:
        self._qkv.clear()

    def _add(self, site: str, counter: str, value: int) -> None:
        d = self._data.setdefault(site, {})
        d[counter] = d.get(counter, 0) + int(value)

    def _crossbar(self, name: str, spikes: np.ndarray) -> None:
        n_in = self._shapes[name][0]
        x = np.asarray(spikes).reshape(-1, n_in)
        acc = self._active[name]
        for rt in range(len(acc)):
            acc[rt] += int(np.count_nonzero(x[:, rt * self.rows:(rt + 1) * self.rows]))

    def __call__(self, path: str, t: int, data: np.ndarray) -> None:
        site, _, sig = path.rpartition("/")
        if path == "encoder/spikes":
            self._add("encoder", "spikes", np.count_nonzero(data))
        elif sig == "spikes" and site.startswith("lif."):
            self._add(site, "spikes", np.count_nonzero(data))
            if path in self._ssa_in:
                unit, kind = self._ssa_in[path]
                self._qkv.setdefault(unit, {})[kind] = np.array(data, dtype=np.int64)
                if kind == "k":
                    self._score_increments(unit)
        elif sig == "s_spikes":
            s = np.asarray(data)
            self._add(site, "spikes_score", np.count_nonzero(s))
            self._output_increments(site, s)
        elif sig == "o_spikes":
            o = np.asarray(data)  # (B, H, N, d_k) -> heads concatenated (B, N, H * d_k), as the crossbar sees it
            self._add(site, "spikes_output", np.count_nonzero(o))
            data = o.transpose(0, 2, 1, 3).reshape(o.shape[0], o.shape[2], -1)
        if path in self._feeds:
            self._crossbar(self._feeds[path], data)

    def _heads(self, x: np.ndarray) -> np.ndarray:
        """(B, N, D) -> (B, H, N, d_k)."""
        nb, n, _ = x.shape
        return x.reshape(nb, n, self.arch.heads, self.arch.d_k).transpose(0, 2, 1, 3)

    def _score_increments(self, unit: str) -> None:
        # sum_{i,j} sum_d q[i,d] k[j,d] = sum_d (sum_i q[i,d]) (sum_j k[j,d]), per sample and head
        q, k = self._qkv[unit]["q"], self._qkv[unit]["k"]
        self._add(unit, "counter_increments_score", int((q.sum(axis=1) * k.sum(axis=1)).sum()))

    def _output_increments(self, unit: str, s: np.ndarray) -> None:
        # sum_{i,j,c} S[i,j] v[j,c] = sum_j (sum_i S[i,j]) (sum_c v[j,c]), per sample and head
        v = self._heads(self._qkv[unit]["v"])  # (B, H, N, d_k)
        col = np.asarray(s, dtype=np.int64).sum(axis=2)  # (B, H, N_k)
        self._add(unit, "counter_increments_output", int((col * v.sum(axis=3)).sum()))

    # ---------------------------------------------------------------- result
    def counts(self) -> ActivityCounts:
        """Closed-form counters plus the data-dependent ones gathered so far."""
        sites = closed_form_counts(self.arch, self.cfg, self.T, self.n_samples)
        tiles: dict[str, list[list[int]]] = {}
        for name, (n_in, n_out) in self._shapes.items():
            act = [int(a) for a in self._active[name]]
            n_ct = ceil_div(n_out, self.cols)
            cols = [min(n_out, (ct + 1) * self.cols) - ct * self.cols for ct in range(n_ct)]
            tiles[name] = [[a * c for c in cols] for a in act]
            sites[name].update(active_rows=sum(act), wordline_pulses=sum(act) * n_ct, cell_reads=sum(act) * n_out)
        for site, d in self._data.items():
            sites.setdefault(site, {}).update(d)
        for name in lif_sizes(self.arch):
            sites[f"lif.{name}"].setdefault("spikes", 0)
        sites["encoder"].setdefault("spikes", 0)
        for op in nl.ops_of(self.arch, nl.SSA):
            for c in ("counter_increments_score", "counter_increments_output", "spikes_score", "spikes_output"):
                sites[op.name].setdefault(c, 0)
        return ActivityCounts(arch=self.arch, config=self.cfg, timesteps=self.T, n_samples=self.n_samples,
                              sites=sites, tiles=tiles)


_SSA_SIGNALS = {"c_code", "s_spikes", "p_code", "o_spikes", "draw_s", "draw_o"}
_XBAR_GROUPS = {"i_code": "current", "noise_code": "noise", "adc_code": "adc", "y_code": "requant"}


def signal_group(path: str) -> str | None:
    """The :data:`bittrue.run.SIGNALS` group of a signal path emitted by the runner (None if unknown)."""
    unit, _, name = path.rpartition("/")
    if name in ("lfsr_seed", "lfsr_seed_s", "lfsr_seed_o"):
        return "seeds"
    if unit == "input":
        return "input"
    if unit == "encoder":
        return "encoder"
    if unit.startswith("lif."):
        return {"spikes": "spikes", "v_code": "membrane"}.get(name)
    if unit.endswith(".ssa") and name in _SSA_SIGNALS:
        return "ssa"
    if name == "residual_code":
        return "residual"
    if name == "logits_t":
        return "logits"
    return _XBAR_GROUPS.get(name)


class MultiSink:
    """Several sinks on one run (e.g. an :class:`ActivityCounter` and a ``GoldenWriter``).

    ``signals`` is the union; each signal goes only to the sinks that asked for its group
    (:func:`signal_group`; a path of unknown group goes to every sink), so no sink receives a
    signal it did not ask for.  ``begin_batch`` / ``end_batch`` go to every sink that has them.
    """

    def __init__(self, *sinks):
        self.sinks = [s for s in sinks if s is not None]
        self.signals = frozenset().union(*(s.signals for s in self.sinks))

    def begin_batch(self, sample_ids) -> None:
        for s in self.sinks:
            if hasattr(s, "begin_batch"):
                s.begin_batch(sample_ids)

    def end_batch(self, logits) -> None:
        for s in self.sinks:
            if hasattr(s, "end_batch"):
                s.end_batch(logits)

    def __call__(self, path: str, t: int, data: np.ndarray) -> None:
        g = signal_group(path)
        for s in self.sinks:
            if g is None or g in s.signals:
                s(path, t, data)


def counted_signal_order(arch: Architecture) -> list[str]:
    """The signals :class:`ActivityCounter` needs, in the order the runner emits them in one step."""
    order = []
    for op in nl.netlist(arch):
        if op.kind in (nl.ENCODER, nl.LIF):
            order.append(op.dst)
        elif op.kind == nl.SSA:
            order += [f"{op.name}/s_spikes", f"{op.name}/o_spikes"]
    return order


def counts_from_golden(path: str | Path, batch_size: int = 64) -> ActivityCounts:
    """Activity counts recomputed from the spikes stored in a golden file or activation log
    (``bittrue.golden``; it must hold the ``encoder``, ``spikes`` and ``ssa`` signal groups).

    No emulation runs: the stored spikes are replayed, step by step in run order, into an
    :class:`ActivityCounter`, so the counts equal those of the run that wrote the file.
    """
    from ..golden import GoldenFile

    with GoldenFile(path) as g:
        chip = g.chip()
        arch, cfg = chip.arch, chip.config
        T = int(g.attrs["timesteps"])
        n = int(g.attrs["n_samples"])
        have = g.signals()
        order = counted_signal_order(arch)
        missing = [s for s in order if s not in have]
        if missing:
            raise EnergyTableError(f"{path}: golden file lacks {missing[0]} (and {len(missing) - 1} more signals); "
                                   f"write it with the encoder, spikes and ssa signal groups")
        counter = ActivityCounter(arch, cfg, T)
        for i in range(0, n, batch_size):
            rows = slice(i, min(n, i + batch_size))
            data = {s: g.read(s, rows) for s in order}  # (samples, T, ...)
            counter.begin_batch(np.arange(rows.start, rows.stop))
            for t in range(T):
                for s in order:
                    counter(s, t, np.ascontiguousarray(data[s][:, t]))
            counter.end_batch(None)
    return counter.counts()


def site_block(site: str) -> str:
    """Group of a site for the per-block breakdown: input, blocks.b or head."""
    s = site[4:] if site.startswith("lif.") else site
    if s.startswith("blocks."):
        return ".".join(s.split(".")[:2])
    if s.startswith("head"):
        return "head"
    return "input"
