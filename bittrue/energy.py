"""Energy: exact activity counts of a run -> energy per inference, beside a digital ANN baseline.

Three steps, each usable alone:

1. **Count.**  :class:`ActivityCounter` is a :class:`bittrue.run.Sink`: pass it to
   ``Runner.run_batch(..., sink=counter)``.  It gathers exact integer activity counts of what
   the emulated chip does (:class:`ActivityCounts`): every counter that depends on the data
   (spikes, active crossbar rows, SSA counter increments) is summed from the signals the runner
   emits; every counter fixed by the dimensions (LFSR steps, AND evaluations, comparator
   operations, ADC conversions, requantisation multiply-adds, LIF updates, buffer bits, residual
   adds) is its closed form (:func:`closed_form_counts`), multiplied by the number of samples.
2. **Price.**  :func:`load_energy_table` reads the TOML energy table (default
   ``bittrue/hardware/energy.toml``; every entry carries its source or is marked as an assumption)
   and applies technology scaling.  :func:`xpk1_energy` turns counts into picojoules per site and
   per category.
3. **Compare.**  :func:`baseline_counts` / :func:`baseline_energy` price an int8 digital
   ANN-transformer of the same dimensions (every matmul including attention, softmax, LayerNorm,
   GELU, requantisation, residual adds, activation and weight traffic) on the same table.

:func:`energy_report` puts it together (the ``energy`` section of ``infer --json``);
:func:`add_energy_parser` / :func:`cmd_energy` are the ``python -m bittrue energy`` command.

Counter sites (keys of ``ActivityCounts.sites``)
------------------------------------------------
===========================  ============================================================
site                         counters
===========================  ============================================================
``encoder``                  lfsr_steps, comparator_ops, spikes, buffer_bits_written,
                             buffer_bits_read (the 8-bit feature codes, every step)
``embed``, ``blocks.b.qkv``, active_rows, wordline_pulses, cell_reads, adc_conversions,
``.proj``, ``.mlp1``,        psum_adds, requant_macs, buffer_bits_read (+ ``logit_adds``
``.mlp2``, ``head``          for ``head``); per-tile cell reads in ``ActivityCounts.tiles``
``lif.<lif name>``           lif_updates, spikes, buffer_bits_written, state_bits
``blocks.b.ssa``             lfsr_steps, and_evals_score, and_evals_output,
                             counter_increments_score, counter_increments_output,
                             comparator_ops_score, comparator_ops_output, spikes_score,
                             spikes_output, buffer_bits_read, buffer_bits_written
``embed.residual``,          residual_adds, state_bits
``blocks.b.residual``
===========================  ============================================================

All counts are totals over every sample counted (``n_samples``) and every time step.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import tomllib
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from .config import HardwareConfig, read_toml
from .kernels.lfsr import lfsr_count
from . import netlist as nl
from .model import Architecture

TABLE_FORMAT = "bittrue-energy-table"
TABLE_MAJOR = "1"

#: energy categories of XPK-1 and of the baseline, in report order
XPK1_CATEGORIES = ("pcm_read", "adc", "psum_requant", "lif", "ssa_logic", "lfsr", "encoder_compare",
                   "residual", "spike_buffer", "state_memory")
BASELINE_CATEGORIES = ("mac", "requant", "softmax", "layernorm", "gelu", "residual", "activation_memory",
                       "weight_memory")


def _log2i(x: int) -> int:
    return int(x).bit_length() - 1


def _ceil_div(a: int, b: int) -> int:
    return -(-int(a) // int(b))


# =============================================================================== counts
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
    ``psum_adds = T x tokens x (row_tiles - 1) x out``; ``lif_updates = T x tokens x width``;
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
    bits_s, bits_o = _log2i(cfg.k_s(dk)), _log2i(cfg.k_o(N))
    w_lif = cfg.lif.width
    sites: dict[str, dict[str, int]] = {}
    npf = arch.n_patches * arch.token_features
    sites["encoder"] = {"lfsr_steps": int(lfsr_count(sh, arch.n_patches, arch.token_features)) * (spd or bits_enc) * k,
                        "comparator_ops": npf * k, "buffer_bits_written": npf * k,
                        "buffer_bits_read": npf * bits_enc * k}  # the feature codes, re-read every step
    shapes = arch.linear_shapes()
    toks = crossbar_inputs(arch)
    for name, (n_in, n_out) in shapes.items():
        n_rt = _ceil_div(n_in, cfg.tile.rows)
        t_ = toks[name]
        c = {"adc_conversions": t_ * n_rt * n_out * k, "psum_adds": t_ * (n_rt - 1) * n_out * k,
             "requant_macs": t_ * n_out * k, "buffer_bits_read": t_ * n_in * k}
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
            name: np.zeros(_ceil_div(n_in, self.rows), dtype=object) for name, (n_in, _) in self._shapes.items()}
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
            n_ct = _ceil_div(n_out, self.cols)
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


def golden_signal_order(arch: Architecture) -> list[str]:
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
    from .golden import GoldenFile

    with GoldenFile(path) as g:
        chip = g.chip()
        arch, cfg = chip.arch, chip.config
        T = int(g.attrs["timesteps"])
        n = int(g.attrs["n_samples"])
        have = g.signals()
        order = golden_signal_order(arch)
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


# =============================================================================== energy table
class EnergyTableError(ValueError):
    """A bad energy table; the message names the key."""


@dataclass
class EnergyTable:
    """The energy table after technology scaling (all values in pJ)."""

    raw: dict[str, Any]
    source: str

    def section(self, name: str) -> dict[str, Any]:
        return self.raw.get(name, {})

    @property
    def digital_scale(self) -> float:
        s = self.section("scaling")
        return (float(s["node_nm"]) / float(s["ref_node_nm"]) * (float(s["vdd_V"]) / float(s["ref_vdd_V"])) ** 2
                * float(s["digital_factor"]))

    # --- primitives (scaled) -------------------------------------------------------
    def add_pJ(self, bits: float) -> float:
        """n-bit add (also compare, counter increment): add_int32 * n / 32 (a full-adder slice per bit)."""
        return float(self.section("digital")["add_int32_pJ"]) * bits / 32.0 * self.digital_scale

    def mul_pJ(self, a_bits: float, b_bits: float) -> float:
        """a x b-bit multiply: mult_int32 * a * b / 1024 (energy ~ partial-product bits)."""
        return float(self.section("digital")["mult_int32_pJ"]) * a_bits * b_bits / 1024.0 * self.digital_scale

    def digital_pJ(self, key: str) -> float:
        return float(self.section("digital")[key]) * self.digital_scale

    @property
    def bit_op_pJ(self) -> float:
        """One bit of random logic: add_int32 / 32."""
        return self.add_pJ(1)

    def memory_bit_pJ(self, kind: str, write: bool = False) -> float:
        """Per-bit access energy of memory ``kind``: an [sram] read key without ``_64b_pJ``, ``dram``,
        or ``register`` (flip-flops: one bit op per bit, ASSUMPTION)."""
        if kind == "register":
            return self.bit_op_pJ
        if kind == "dram":
            e = float(self.section("dram")["read_64b_pJ"]) / 64.0
        else:
            key = f"{kind}_64b_pJ"
            sram = self.section("sram")
            if key not in sram:
                raise EnergyTableError(f"memory {kind!r}: no [sram] {key} (choose {', '.join(_mem_kinds(sram))}, "
                                       f"dram or register)")
            e = float(sram[key]) / 64.0
            if write:
                e *= float(sram.get("write_over_read", 1.0))
        return e * self.digital_scale

    @property
    def cell_read_pJ(self) -> float:
        return float(self.section("pcm")["cell_read_pJ"]) * float(self.section("scaling")["pcm_factor"])

    def adc_pJ(self, bits: int) -> float:
        """Walden: FOM_W x 2^ENOB, ENOB = bits - enob_loss_bits."""
        a = self.section("adc")
        enob = bits - float(a.get("enob_loss_bits", 0.0))
        return float(a["walden_fom_fJ"]) * 1e-3 * 2.0 ** enob * float(self.section("scaling")["adc_factor"])

    def sources(self) -> dict[str, str]:
        return dict(self.section("sources"))

    def summary(self) -> dict[str, Any]:
        """The scaled per-operation energies the report uses (pJ)."""
        return {"table": self.source, "digital_scale": self.digital_scale,
                "node_nm": float(self.section("scaling")["node_nm"]),
                "vdd_V": float(self.section("scaling")["vdd_V"]),
                "add_int32_pJ": self.add_pJ(32), "mult_int8_pJ": self.digital_pJ("mult_int8_pJ"),
                "bit_op_pJ": self.bit_op_pJ, "pcm_cell_read_pJ": self.cell_read_pJ,
                "adc_conversion_pJ_8b": self.adc_pJ(8),
                "sram_bit_pJ": {k: self.memory_bit_pJ(k) for k in _mem_kinds(self.section("sram"))},
                "dram_bit_pJ": self.memory_bit_pJ("dram")}


def _mem_kinds(sram: dict[str, Any]) -> list[str]:
    return [k[: -len("_64b_pJ")] for k in sram if k.endswith("_64b_pJ")]


def default_table_path() -> Path:
    return Path(str(files("bittrue") / "hardware" / "energy.toml"))


def _merge(base: dict[str, Any], over: dict[str, Any], where: str = "") -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        name = f"{where}{k}"
        if k not in base:
            raise EnergyTableError(f"energy table: unknown key {name!r} (allowed: {', '.join(base)})")
        if isinstance(base[k], dict):
            if not isinstance(v, dict):
                raise EnergyTableError(f"energy table: [{name}] must be a table")
            out[k] = _merge(base[k], v, name + ".")
        else:
            if isinstance(base[k], (int, float)) and not isinstance(base[k], bool):
                if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
                    raise EnergyTableError(f"energy table: {name} = {v!r} must be a finite number >= 0")
            elif isinstance(base[k], str) and not isinstance(v, str):
                raise EnergyTableError(f"energy table: {name} = {v!r} must be a string")
            out[k] = v
    return out


def load_energy_table(path: str | Path | None = None, **scaling: float) -> EnergyTable:
    """Read the energy table: the shipped default, overridden by ``path`` (any subset of keys).

    ``scaling`` keyword arguments (``node_nm``, ``vdd_V``, ``digital_factor``, ``pcm_factor``,
    ``adc_factor``) override the ``[scaling]`` section last.
    """
    with open(default_table_path(), "rb") as fh:
        raw = tomllib.load(fh)
    source = "bittrue/hardware/energy.toml"
    if path is not None:
        p = Path(path)
        over = read_toml(p, "energy table", EnergyTableError)
        fmt = over.pop("format", TABLE_FORMAT)
        ver = str(over.pop("format_version", "1.0.0"))
        if fmt != TABLE_FORMAT or ver.split(".")[0] != TABLE_MAJOR:
            raise EnergyTableError(f"energy table {p}: format {fmt!r} {ver} (this bittrue reads {TABLE_FORMAT} "
                                   f"{TABLE_MAJOR}.x)")
        raw = _merge(raw, over)
        source = str(p)
    sc = {k: v for k, v in scaling.items() if v is not None}
    if sc:
        raw = _merge(raw, {"scaling": sc})
    for k in ("node_nm", "ref_node_nm", "vdd_V", "ref_vdd_V"):
        if float(raw["scaling"][k]) <= 0:
            raise EnergyTableError(f"energy table: scaling.{k} = {raw['scaling'][k]!r} must be > 0")
    tab = EnergyTable(raw=raw, source=source)
    for key in ("spike_buffer", "state_memory"):
        tab.memory_bit_pJ(tab.section("xpk1")[key])
    for key in ("activation_memory", "weight_memory"):
        tab.memory_bit_pJ(tab.section("baseline")[key])
    return tab


# =============================================================================== XPK-1 energy
def _site_block(site: str) -> str:
    """Group of a site for the per-block breakdown: input, blocks.b or head."""
    s = site[4:] if site.startswith("lif.") else site
    if s.startswith("blocks."):
        return ".".join(s.split(".")[:2])
    if s.startswith("head"):
        return "head"
    return "input"


def xpk1_site_energy(site: str, c: dict[str, int], arch: Architecture, cfg: HardwareConfig,
                     tab: EnergyTable) -> dict[str, float]:
    """Energy (pJ, totals) of one counter site, by category.  Formulas: docs/energy.md."""
    e: dict[str, float] = {}
    bit = tab.bit_op_pJ
    dig = tab.section("digital")
    spike_bit = tab.memory_bit_pJ(tab.section("xpk1")["spike_buffer"])
    spike_bit_w = tab.memory_bit_pJ(tab.section("xpk1")["spike_buffer"], write=True)
    state = tab.section("xpk1")["state_memory"]
    state_bit = 0.5 * (tab.memory_bit_pJ(state) + tab.memory_bit_pJ(state, write=True))
    lfsr_bit = bit * float(dig.get("logic_bit_ops_per_lfsr_bit", 1.0)) * cfg.lfsr.width
    w = cfg.lif.width

    def put(cat: str, val: float) -> None:
        e[cat] = e.get(cat, 0.0) + float(val)

    put("lfsr", c.get("lfsr_steps", 0) * lfsr_bit)
    put("spike_buffer", c.get("buffer_bits_read", 0) * spike_bit + c.get("buffer_bits_written", 0) * spike_bit_w)
    put("state_memory", c.get("state_bits", 0) * state_bit)
    if site == "encoder":
        put("encoder_compare", c["comparator_ops"] * tab.add_pJ(cfg.encoder.bits))
    elif "cell_reads" in c or "adc_conversions" in c:
        n_in = arch.linear_shapes()[site][0]
        psum_bits = cfg.tile.adc_bits + max(0, math.ceil(math.log2(_ceil_div(n_in, cfg.tile.rows))))
        put("pcm_read", c.get("cell_reads", 0) * tab.cell_read_pJ)
        put("adc", c["adc_conversions"] * tab.adc_pJ(cfg.tile.adc_bits))
        rq = tab.mul_pJ(psum_bits, cfg.tile.requant_m_bits) + tab.add_pJ(psum_bits + cfg.tile.requant_m_bits)
        put("psum_requant", c["psum_adds"] * tab.add_pJ(psum_bits) + c["requant_macs"] * rq
            + c.get("logit_adds", 0) * tab.add_pJ(32))
    elif site.startswith("lif."):
        # v - (v >> s) + y : two w-bit adds, then the w-bit threshold compare
        put("lif", c["lif_updates"] * 3 * tab.add_pJ(w))
    elif site.endswith(".ssa"):
        bits_s, bits_o = _log2i(cfg.k_s(arch.d_k)), _log2i(cfg.k_o(arch.n_tokens))
        and_e = bit * float(dig.get("logic_bit_ops_per_and", 1.0))
        put("ssa_logic", (c["and_evals_score"] + c["and_evals_output"]) * and_e
            + c.get("counter_increments_score", 0) * tab.add_pJ(bits_s + 1)
            + c.get("counter_increments_output", 0) * tab.add_pJ(bits_o + 1)
            + c["comparator_ops_score"] * tab.add_pJ(bits_s) + c["comparator_ops_output"] * tab.add_pJ(bits_o))
    elif site.endswith(".residual"):
        put("residual", c["residual_adds"] * tab.add_pJ(w))
    return {k: v for k, v in e.items() if v}


def xpk1_energy(counts: ActivityCounts, tab: EnergyTable) -> dict[str, Any]:
    """XPK-1 energy per inference (nJ): total, by category, by block, by site."""
    n = max(1, counts.n_samples)
    by_site: dict[str, float] = {}
    by_cat = {k: 0.0 for k in XPK1_CATEGORIES}
    by_block: dict[str, float] = {}
    for site, c in counts.sites.items():
        e = xpk1_site_energy(site, c, counts.arch, counts.config, tab)
        tot = sum(e.values())
        by_site[site] = tot / n * 1e-3
        blk = _site_block(site)
        by_block[blk] = by_block.get(blk, 0.0) + tot / n * 1e-3
        for k, v in e.items():
            by_cat[k] += v / n * 1e-3
    total = sum(by_cat.values())
    order = nl.block_names(counts.arch)
    return {"energy_per_inference_nJ": total, "by_category_nJ": by_cat,
            "by_block_nJ": {k: by_block.get(k, 0.0) for k in order}, "by_site_nJ": by_site}


# =============================================================================== baseline
def baseline_counts(arch: Architecture, tab: EnergyTable | None = None) -> dict[str, dict[str, int]]:
    """Operation counts of one inference of the int8 digital ANN-transformer of ``arch``'s size.

    A standard pre-LN ViT of the same dimensions, run once (no time steps): patch embedding and
    position add; per block LN, QKV, Q K^T (all heads), softmax, A V, projection, residual add,
    LN, MLP1, GELU, MLP2, residual add; a final LN on the CLS token and the head.  Every matmul
    is int8 x int8 MACs; every matmul output is requantised; memory traffic assumes every operand
    is read once (perfect reuse) and every result written once.
    """
    tab = tab or load_energy_table()
    bl = tab.section("baseline")
    a_bits, w_bits, r_bits, s_bits = (int(bl["activation_bits"]), int(bl["weight_bits"]), int(bl["residual_bits"]),
                                      int(bl["score_bits"]))
    N, D, H, dk = arch.n_tokens, arch.dim, arch.heads, arch.d_k
    sites: dict[str, dict[str, int]] = {}

    def matmul(site: str, rows: int, n_in: int, n_out: int, weights: bool = True, in_bits: int = a_bits,
               out_bits: int = a_bits) -> None:
        d = sites.setdefault(site, {})
        d["macs"] = d.get("macs", 0) + rows * n_in * n_out
        d["requants"] = d.get("requants", 0) + rows * n_out
        d["act_bits_read"] = d.get("act_bits_read", 0) + rows * n_in * in_bits
        d["act_bits_written"] = d.get("act_bits_written", 0) + rows * n_out * out_bits
        if weights:
            d["weight_bits"] = d.get("weight_bits", 0) + n_in * n_out * w_bits

    def layernorm(site: str, rows: int) -> None:
        # mean (D adds), centre (D subs), variance (D mults + D adds), rsqrt, scale (D mults),
        # affine (D mults + D adds); reads the residual, writes int8
        sites[site] = {"ln_fp16_adds": rows * 4 * D, "ln_fp16_mults": rows * 3 * D, "ln_rsqrt": rows,
                       "act_bits_read": rows * D * r_bits, "act_bits_written": rows * D * a_bits,
                       "ln_param_bits": 2 * D * 16}

    def residual(site: str, rows: int) -> None:
        d = sites.setdefault(site, {})
        d["residual_adds"] = d.get("residual_adds", 0) + rows * D
        d["act_bits_read"] = d.get("act_bits_read", 0) + rows * D * (r_bits + a_bits)
        d["act_bits_written"] = d.get("act_bits_written", 0) + rows * D * r_bits

    # the same netlist, each XPK-1 op replaced by its digital ANN counterpart
    for op in nl.netlist(arch):
        p = nl.block_name(op)
        if op.kind == nl.XBAR:
            matmul(op.name, op.tokens, op.n_in, op.n_out)
        elif op.kind == nl.EMBED:
            residual("embed.residual", N)
        elif op.kind == nl.ADD:
            residual(f"{p}.residual", N)
        elif op.kind == nl.LIF and op.src[0] == nl.RESIDUAL:  # a LIF reading the residual stream: a LayerNorm
            layernorm("head.ln" if op.readout else f"{p}.{'ln1' if op.name.endswith('.in') else 'ln2'}", op.tokens)
        elif op.kind == nl.LIF and nl.producer(arch, op.src[0]).n_out == op.n_out:  # a whole layer's neurons
            sites[f"{p}.gelu"] = {"gelu": op.tokens * op.n_out}
        elif op.kind == nl.SSA:
            # Q K^T: per head N x N scores, d_k MACs each; Q and K read once, scores written in FP16
            sites[f"{p}.attn_scores"] = {"macs": H * N * N * dk, "requants": H * N * N,
                                         "act_bits_read": 2 * N * D * a_bits, "act_bits_written": H * N * N * s_bits}
            # softmax per row of N: max (N compares), N subtracts, N exps, N adds, 1 reciprocal, N mults
            sites[f"{p}.softmax"] = {"sm_fp16_adds": H * N * 3 * N, "sm_fp16_mults": H * N * N,
                                     "sm_exps": H * N * N, "sm_reciprocals": H * N,
                                     "act_bits_read": H * N * N * s_bits, "act_bits_written": H * N * N * a_bits}
            sites[f"{p}.attn_av"] = {"macs": H * N * N * dk, "requants": N * D,
                                     "act_bits_read": H * N * N * a_bits + N * D * a_bits,
                                     "act_bits_written": N * D * a_bits}
    return sites


def baseline_energy(arch: Architecture, tab: EnergyTable) -> dict[str, Any]:
    """Baseline energy per inference (nJ): total, by category, by block, by site."""
    bl = tab.section("baseline")
    acc = int(bl["accumulator_bits"])
    mac = tab.digital_pJ("mult_int8_pJ") + tab.add_pJ(acc)
    rq = tab.mul_pJ(acc, int(bl["requant_m_bits"])) + tab.add_pJ(acc + int(bl["requant_m_bits"]))
    fa, fm = tab.digital_pJ("add_fp16_pJ"), tab.digital_pJ("mult_fp16_pJ")
    fmac = fa + fm
    e_exp = float(bl["fp16_macs_per_exp"]) * fmac
    e_rec = float(bl["fp16_macs_per_reciprocal"]) * fmac
    e_rsq = float(bl["fp16_macs_per_rsqrt"]) * fmac
    act_r = tab.memory_bit_pJ(bl["activation_memory"])
    act_w = tab.memory_bit_pJ(bl["activation_memory"], write=True)
    wgt = tab.memory_bit_pJ(bl["weight_memory"])
    by_site, by_block = {}, {}
    by_cat = {k: 0.0 for k in BASELINE_CATEGORIES}
    for site, c in baseline_counts(arch, tab).items():
        e = {"mac": c.get("macs", 0) * mac, "requant": c.get("requants", 0) * rq,
             "softmax": c.get("sm_fp16_adds", 0) * fa + c.get("sm_fp16_mults", 0) * fm + c.get("sm_exps", 0) * e_exp
             + c.get("sm_reciprocals", 0) * e_rec,
             "layernorm": c.get("ln_fp16_adds", 0) * fa + c.get("ln_fp16_mults", 0) * fm + c.get("ln_rsqrt", 0) * e_rsq,
             "gelu": c.get("gelu", 0) * (e_exp + 2 * fm + fa),
             "residual": c.get("residual_adds", 0) * tab.add_pJ(int(bl["residual_bits"])),
             "activation_memory": c.get("act_bits_read", 0) * act_r + c.get("act_bits_written", 0) * act_w,
             "weight_memory": (c.get("weight_bits", 0) + c.get("ln_param_bits", 0)) * wgt}
        tot = sum(e.values()) * 1e-3
        by_site[site] = tot
        blk = _site_block(site)
        by_block[blk] = by_block.get(blk, 0.0) + tot
        for k, v in e.items():
            by_cat[k] += v * 1e-3
    total = sum(by_cat.values())
    order = nl.block_names(arch)
    return {"energy_per_inference_nJ": total, "by_category_nJ": by_cat,
            "by_block_nJ": {k: by_block.get(k, 0.0) for k in order}, "by_site_nJ": by_site,
            "macs_per_inference": int(sum(c.get("macs", 0) for c in baseline_counts(arch, tab).values()))}


# =============================================================================== report
def spike_densities(counts: ActivityCounts) -> dict[str, float]:
    """Mean fraction of 1s on the inputs of every crossbar layer (and all of them together)."""
    out = {}
    tot_a = tot_b = 0
    for name in counts.arch.linear_shapes():
        c = counts.sites[name]
        if c["buffer_bits_read"]:
            out[name] = c["active_rows"] / c["buffer_bits_read"]
        if name != "embed":
            tot_a += c["active_rows"]
            tot_b += c["buffer_bits_read"]
    out["all_but_embed"] = tot_a / tot_b if tot_b else 0.0
    return out


def energy_report(counts: ActivityCounts, table: EnergyTable | str | Path | None = None,
                  include_counts: bool = True) -> dict[str, Any]:
    """The ``energy`` section of ``infer --json`` and the output of ``bittrue energy --json``.

    Parameters
    ----------
    counts : ActivityCounts
        From :meth:`ActivityCounter.counts` after a run.
    table : EnergyTable, path of a TOML table, or None for the shipped table.
    include_counts : bool
        Include the raw integer counts (totals over all samples) and per-tile cell reads.
    """
    tab = table if isinstance(table, EnergyTable) else load_energy_table(table)
    x = xpk1_energy(counts, tab)
    b = baseline_energy(counts.arch, tab)
    ex, eb = x["energy_per_inference_nJ"], b["energy_per_inference_nJ"]
    rep: dict[str, Any] = {
        "model": counts.arch.name, "samples": counts.n_samples, "timesteps": counts.timesteps,
        "xpk1": x, "baseline": b, "ratio_baseline_over_xpk1": (eb / ex) if ex > 0 else None,
        "spike_density": spike_densities(counts), "table": tab.summary(), "sources": tab.sources(),
    }
    if include_counts:
        rep["counts"] = counts.to_dict()
    return rep


def format_report(rep: dict[str, Any]) -> str:
    """Human-readable text of :func:`energy_report` (what ``bittrue energy`` prints)."""
    x, b = rep["xpk1"], rep["baseline"]
    lines = [f"model      {rep['model']} (T = {rep['timesteps']}), {rep['samples']} samples; "
             f"crossbar input spike density {rep['spike_density']['all_but_embed']:.3f}",
             f"energy     XPK-1 {x['energy_per_inference_nJ']:.1f} nJ/inference   digital int8 ANN baseline "
             f"{b['energy_per_inference_nJ']:.1f} nJ/inference   ratio {rep['ratio_baseline_over_xpk1']:.2f}x",
             "", "XPK-1 by category (nJ/inference)"]
    for k, v in x["by_category_nJ"].items():
        lines.append(f"  {k:18s} {v:12.2f}  {100 * v / max(x['energy_per_inference_nJ'], 1e-30):5.1f} %")
    lines.append("baseline by category (nJ/inference)")
    for k, v in b["by_category_nJ"].items():
        lines.append(f"  {k:18s} {v:12.2f}  {100 * v / max(b['energy_per_inference_nJ'], 1e-30):5.1f} %")
    lines.append("by block (nJ/inference)          XPK-1     baseline")
    for k in x["by_block_nJ"]:
        lines.append(f"  {k:24s} {x['by_block_nJ'][k]:12.2f} {b['by_block_nJ'].get(k, 0.0):12.2f}")
    lines.append(f"table      {rep['table']['table']} (digital scale {rep['table']['digital_scale']:.3g}, "
                 f"node {rep['table']['node_nm']:g} nm, {rep['table']['vdd_V']:g} V)")
    for k, v in rep["sources"].items():
        lines.append(f"  [{k}] {v}")
    return "\n".join(lines)


# =============================================================================== random model helper
def random_tokens(arch: Architecture, n: int, seed: int = 0) -> np.ndarray:
    """``n`` uniformly random 8-bit inputs of ``arch`` (random images, patchified), uint8."""
    rng = np.random.default_rng(seed)
    if arch.image_shape and arch.patch:
        from .datasets import patchify

        img = rng.integers(0, 256, size=(n,) + tuple(arch.image_shape), dtype=np.uint8)
        tok = patchify(img, arch.patch)
    else:
        tok = rng.integers(0, 256, size=(n, arch.n_patches, arch.token_features), dtype=np.uint8)
    return np.ascontiguousarray(tok, dtype=np.uint8)


def tune_random_model(arch: Architecture, density: float = 0.15, *, seed: int = 0, n_images: int = 2,
                      timesteps: int | None = None, cfg: HardwareConfig | None = None, iters: int = 10):
    """A random float model of ``arch`` whose one common LIF threshold is bisected (in log space)
    so that the float SNN's mean spike density at the crossbar inputs (all layers but ``embed``)
    on ``n_images`` random images is ``density``.  Returns (model, measured density)."""
    from .floatmodel import float_forward
    from .model import random_float_model

    cfg = cfg or HardwareConfig()
    T = int(timesteps or cfg.run.timesteps or arch.timesteps)
    x = random_tokens(arch, n_images, seed=seed + 1)
    base = random_float_model(arch, seed, threshold=1.0)

    def measure(th: float) -> float:
        base.lif_threshold = {k: th for k in base.lif_threshold}
        ones = [0.0, 0.0]

        def rec(name: str, t: int, s: np.ndarray) -> None:
            if not name.startswith("lif:") and name != "embed":
                ones[0] += float(s.sum())
                ones[1] += s.size

        float_forward(base, x, timesteps=T, rng=np.random.default_rng(seed), k_s=cfg.k_s(arch.d_k),
                      k_o=cfg.k_o(arch.n_tokens), leak_shift=cfg.lif.leak_shift, reset=cfg.lif.reset, record=rec)
        return ones[0] / max(ones[1], 1.0)

    lo, hi = math.log(1e-2), math.log(1e1)
    best = (float("inf"), 1.0, 0.0)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        d = measure(math.exp(mid))
        if abs(d - density) < best[0]:
            best = (abs(d - density), math.exp(mid), d)
        if d > density:
            lo = mid
        else:
            hi = mid
    base.lif_threshold = {k: best[1] for k in base.lif_threshold}
    base.training = {"kind": "random", "seed": seed, "target_density": density, "threshold": best[1]}
    return base.validate(), best[2]


# =============================================================================== CLI
def add_energy_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``energy`` subcommand to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    from .options import nonneg_int, parse_time, pos_int, seed_int

    p = subparsers.add_parser("energy", help="activity counts -> energy per inference, beside a digital baseline")
    p.add_argument("--model", default=None,
                   help="float model .h5 (default: the shipped model of --dataset: digits, or mimo-icl for mimo)")
    p.add_argument("--random-model", default=None, metavar="ARCH",
                   help="instead of --model: a random model of ARCH (e.g. cifar10-vit-small) whose LIF threshold is "
                        "tuned to --density on random images")
    p.add_argument("--model-seed", type=seed_int, default=0, help="seed of --random-model's weights (default 0)")
    p.add_argument("--density", type=float, default=0.15,
                   help="target crossbar-input spike density of --random-model (default 0.15)")
    p.add_argument("--hardware", default=None, metavar="FILE.toml", help="hardware configuration (TOML)")
    p.add_argument("--timesteps", type=pos_int, default=None, help="time steps T (default: the model's)")
    p.add_argument("--device", choices=("ideal", "pcm"), default="pcm", help="device model (default pcm)")
    p.add_argument("--drift-time", type=parse_time, default=None, metavar="T", help="inference time (default 1d)")
    p.add_argument("--no-drift-compensation", action="store_true", help="disable global drift compensation")
    p.add_argument("--program-seed", type=seed_int, default=0, help="seed of the device model (default 0)")
    p.add_argument("--dataset", default="digits",
                   help="digits (default), mimo, or random (uniformly random 8-bit images of the model's shape)")
    p.add_argument("--split", default="test", choices=("train", "test", "all"), help="split (default test)")
    p.add_argument("--start", type=nonneg_int, default=0, help="first sample index (default 0)")
    p.add_argument("--limit", type=pos_int, default=None, help="number of samples (default: all; random: 4)")
    p.add_argument("--batch-size", type=pos_int, default=64, help="samples per batch (default 64)")
    p.add_argument("--table", default=None, metavar="FILE.toml",
                   help="energy table overriding entries of the shipped bittrue/hardware/energy.toml")
    p.add_argument("--node-nm", type=float, default=None, help="technology node for digital scaling (default 45)")
    p.add_argument("--vdd", type=float, default=None, help="supply voltage for digital scaling (default 0.9)")
    p.add_argument("--golden", default=None, metavar="FILE.h5",
                   help="no run: recount the spikes stored in a golden file / activation log (needs the encoder, "
                        "spikes and ssa signal groups); model and data options are then ignored")
    p.add_argument("--json", action="store_true", help="JSON on stdout (with the raw counts)")
    p.add_argument("--seed", type=seed_int, default=0, help="root seed (default 0)")
    p.add_argument("--threads", type=pos_int, default=None, help="Numba threads (default: all cores)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or log lines on stderr")
    return p


def cmd_energy(args) -> int:
    """``python -m bittrue energy``: run, count, price; print the report (exit 0)."""
    from .options import UsageError
    from .pipeline import build_chip, load_config, load_model, select
    from .progress import bar
    from .run import Runner

    cfg = load_config(args)
    try:
        tab = load_energy_table(args.table, node_nm=args.node_nm, vdd_V=args.vdd)
    except EnergyTableError as exc:
        raise UsageError(str(exc)) from None
    if args.golden is not None:
        from .golden import GoldenError

        try:
            counts = counts_from_golden(args.golden)
        except (GoldenError, EnergyTableError) as exc:
            raise UsageError(str(exc)) from None
        rep = energy_report(counts, tab, include_counts=args.json)
        rep["golden"] = str(args.golden)
        print(json.dumps(rep) if args.json else format_report(rep))
        return 0
    if args.random_model is not None and args.model is not None:
        raise UsageError("--model and --random-model exclude each other")
    if args.random_model is not None:
        from .model import ARCHITECTURES

        if args.random_model not in ARCHITECTURES:
            raise UsageError(f"--random-model {args.random_model!r}: choose one of {', '.join(ARCHITECTURES)}")
        if not 0.0 < args.density < 1.0:
            raise UsageError(f"--density {args.density}: must be in (0, 1)")
        model, _ = tune_random_model(ARCHITECTURES[args.random_model], args.density, seed=args.model_seed, cfg=cfg)
    else:
        model = load_model(args.model, args.dataset, cfg)
    arch = model.arch
    if args.dataset == "random":
        n = args.limit or 4
        x = random_tokens(arch, args.start + n, seed=1000 + int(cfg.run.root_seed))[args.start:]
        ids = np.arange(args.start, args.start + n, dtype=np.int64)
    else:
        from .workloads import DATASETS, load_tokens

        if args.dataset not in DATASETS:
            raise UsageError(f"--dataset {args.dataset!r}: choose random or one of {', '.join(DATASETS)}")
        xs, _ = load_tokens(args.dataset, args.split, arch)
        sel = select(len(xs), args.start, args.limit)
        x = xs[sel]
        ids = np.arange(sel.start, sel.stop, dtype=np.int64)
    if args.random_model is not None or arch.name != "digits":
        from .compile import compile_model
        from .program import program

        calib = random_tokens(arch, 8, seed=7) if args.dataset == "random" else None
        if calib is None and args.dataset != "random":
            from .workloads import calibration_tokens

            calib = calibration_tokens(arch, cfg.tile.calibration_samples)
        image = compile_model(model, cfg, calib)
        chip = program(image, args.device, t_inference_s=args.drift_time,
                       drift_compensation=False if args.no_drift_compensation else None,
                       program_seed=args.program_seed)
    else:
        chip = build_chip(model, cfg, args.device, args.drift_time, args.no_drift_compensation, args.program_seed,
                          args.model, args.quiet)
    runner = Runner(chip)
    counter = ActivityCounter(chip.arch, chip.config, runner.T)
    with bar(len(x), f"XPK-1 {args.device} (counting)", args.quiet) as b:
        for i in range(0, len(x), args.batch_size):
            j = min(len(x), i + args.batch_size)
            runner.run_batch(x[i:j], ids[i:j], sink=counter)
            b.update(j - i)
    rep = energy_report(counter.counts(), tab, include_counts=args.json)
    rep["dataset"] = args.dataset
    rep["device"] = args.device
    if args.random_model is not None:
        rep["random_model"] = dict(model.training)
    if args.json:
        print(json.dumps(rep))
    else:
        print(format_report(rep))
    return 0
