"""The digital int8 ANN-transformer baseline of the same dimensions, priced on the same table."""
from __future__ import annotations

from typing import Any

from .. import netlist as nl
from ..model import Architecture
from .counts import site_block
from .table import BASELINE_CATEGORIES, EnergyTable, load_energy_table


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
        blk = site_block(site)
        by_block[blk] = by_block.get(blk, 0.0) + tot
        for k, v in e.items():
            by_cat[k] += v * 1e-3
    total = sum(by_cat.values())
    order = nl.block_names(arch)
    return {"energy_per_inference_nJ": total, "by_category_nJ": by_cat,
            "by_block_nJ": {k: by_block.get(k, 0.0) for k in order}, "by_site_nJ": by_site,
            "macs_per_inference": int(sum(c.get("macs", 0) for c in baseline_counts(arch, tab).values()))}
