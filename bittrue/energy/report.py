"""XPK-1 energy per site and category from counts, and the report (:func:`energy_report`, :func:`format_report`)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..config import HardwareConfig
from .. import netlist as nl
from ..model import Architecture
from .baseline import baseline_energy
from .counts import ActivityCounts, ceil_div, log2_int, site_block
from .table import EnergyTable, XPK1_CATEGORIES, load_energy_table


# =============================================================================== XPK-1 energy
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
        psum_bits = cfg.tile.adc_bits + max(0, math.ceil(math.log2(ceil_div(n_in, cfg.tile.rows))))
        if cfg.read_passes(site) > 1:
            psum_bits += cfg.encoder.bits  # the shift-added passes of a bit-serial embedding (spec 5.3)
        put("pcm_read", c.get("cell_reads", 0) * tab.cell_read_pJ)
        put("adc", c["adc_conversions"] * tab.adc_pJ(cfg.tile.adc_bits))
        rq = tab.mul_pJ(psum_bits, cfg.tile.requant_m_bits) + tab.add_pJ(psum_bits + cfg.tile.requant_m_bits)
        put("psum_requant", c["psum_adds"] * tab.add_pJ(psum_bits) + c["requant_macs"] * rq
            + c.get("logit_adds", 0) * tab.add_pJ(32))
    elif site.startswith("lif."):
        # v - (v >> s) + y : two w-bit adds, then the w-bit threshold compare
        put("lif", c["lif_updates"] * 3 * tab.add_pJ(w))
    elif site.endswith(".ssa"):
        bits_s, bits_o = log2_int(cfg.resolved_k_s(arch.d_k)), log2_int(cfg.resolved_k_o(arch.n_tokens))
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
        blk = site_block(site)
        by_block[blk] = by_block.get(blk, 0.0) + tot / n * 1e-3
        for k, v in e.items():
            by_cat[k] += v / n * 1e-3
    total = sum(by_cat.values())
    order = nl.block_names(counts.arch)
    return {"energy_per_inference_nJ": total, "by_category_nJ": by_cat,
            "by_block_nJ": {k: by_block.get(k, 0.0) for k in order}, "by_site_nJ": by_site}


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
