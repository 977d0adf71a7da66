"""cocotb testbench of ``xpk_ssa_head``: every sample, block, head and step of a golden file's SSA engine.

Per (sample, block, head): load the head's slice of the stored seeds (``lfsr_seed_s``/``lfsr_seed_o``,
register axis = (head, row, col)); per step drive the head's columns of the q, k, v spikes named by the
group's ``q_signal``/``k_signal``/``v_signal`` (head h: columns ``head_col0[h] ..  + d_k``), pulse
``start``, wait for ``done`` and compare draw_s, C, S, draw_o, P and O.
"""
import cocotb
from cocotb.triggers import FallingEdge

from golden_io import bus, pack, run_bench, unpack, wait_high


async def _ssa(dut, g, sb):
    for unit in g.kind("ssa"):
        a = g.attrs(unit)
        n, dk, heads = int(a["n_tokens"]), int(a["d_k"]), int(a["heads"])
        bs, bo, width = int(a["draw_bits_s"]), int(a["draw_bits_o"]), int(a["lfsr_width"])
        limit = max(dk, int(a["steps_per_draw_s"])) + max(n, int(a["steps_per_draw_o"])) + 8
        for row in range(g.n):
            q, k, v = (g.read(str(a[f"{x}_signal"]), row) for x in "qkv")
            seeds_s = g.read(str(a["seed_s_signal"]), row).reshape(heads, -1)
            seeds_o = g.read(str(a["seed_o_signal"]), row).reshape(heads, -1)
            exp = {nm: g.read(f"{unit}/{nm}", row) for nm in
                   ("draw_s", "c_code", "s_spikes", "draw_o", "p_code", "o_spikes")}
            for h in range(heads):
                c0 = int(a["head_col0"][h])
                dut.seeds_s.value = pack(seeds_s[h], width)
                dut.seeds_o.value = pack(seeds_o[h], width)
                dut.load.value = 1
                await FallingEdge(dut.clk)
                dut.load.value = 0
                for t in range(g.T):
                    dut.q.value = pack(q[t][:, c0:c0 + dk], 1)
                    dut.k.value = pack(k[t][:, c0:c0 + dk], 1)
                    dut.v.value = pack(v[t][:, c0:c0 + dk], 1)
                    dut.start.value = 1
                    await FallingEdge(dut.clk)
                    dut.start.value = 0
                    sb.cycles["step"] = 1 + await wait_high(dut, dut.done, limit)
                    got = {"draw_s": unpack(bus(dut.draw_s), n * n, bs), "c_code": unpack(bus(dut.c_code), n * n, bs + 1),
                           "s_spikes": unpack(bus(dut.s_spikes), n * n, 1),
                           "draw_o": unpack(bus(dut.draw_o), n * dk, bo),
                           "p_code": unpack(bus(dut.p_code), n * dk, bo + 1),
                           "o_spikes": unpack(bus(dut.o_spikes), n * dk, 1)}
                    for nm, act in got.items():
                        sig = f"{unit}/{nm}"
                        sb.check(sig, row, t, exp[nm][t, h], act, g.dims(sig), head=h, prefix=(h,))


@cocotb.test()
async def ssa(dut):
    await run_bench(dut, "ssa", _ssa)
