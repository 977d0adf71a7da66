"""Pricing: the TOML energy table (:class:`EnergyTable`, :func:`load_energy_table`) with technology scaling."""
from __future__ import annotations

import copy
import math
import tomllib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from ..config import read_toml


TABLE_FORMAT = "bittrue-energy-table"
TABLE_MAJOR = "1"

#: energy categories of XPK-1 and of the baseline, in report order
XPK1_CATEGORIES = ("pcm_read", "adc", "psum_requant", "lif", "ssa_logic", "lfsr", "encoder_compare",
                   "residual", "spike_buffer", "state_memory")
BASELINE_CATEGORIES = ("mac", "requant", "softmax", "layernorm", "gelu", "residual", "activation_memory",
                       "weight_memory")


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
