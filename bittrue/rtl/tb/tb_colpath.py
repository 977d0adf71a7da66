"""cocotb testbench of ``xpk_colpath``: every sample, step, crossbar layer, token and column tile.

Per token and column tile: the stored ADC codes (``<layer>/adc_code``, one row tile per clock) go through
the partial-sum adder and the requantiser with the layer's M, B, S (``/chip/layers/NN_<layer>``, named by
the group's ``chip_layer``); ``y_code`` is compared with ``<layer>/y_code``.
"""
import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from golden_io import bus, pack, run_bench, unpack, wait_high


async def _colpath(dut, g, sb):
    lanes = int(dut.LANES.value)
    layers = []
    for unit in g.kind("crossbar"):
        if f"{unit}/adc_code" not in g.sig:
            continue
        a = g.attrs(unit)
        chip = g.f[str(a["chip_layer"])]
        m, b = np.asarray(chip["m_code"][:], np.int64), np.asarray(chip["b_code"][:], np.int64)
        mb, tiles = int(a["requant_m_bits"]), []
        for c0 in range(0, len(m), lanes):
            cw = min(lanes, len(m) - c0)
            tiles.append((c0, cw, pack(np.pad(m[c0:c0 + cw], (0, lanes - cw)), mb),
                          pack(np.pad(b[c0:c0 + cw], (0, lanes - cw)), 64)))
        layers.append((unit, int(chip.attrs["s_shift"]), tiles, int(a["adc_bits"]), int(a["out_width"])))
    for row in range(g.n):
        data = {u: (g.read(f"{u}/adc_code", row), g.read(f"{u}/y_code", row)) for u, *_ in layers}
        for t in range(g.T):
            for unit, s, tiles, ab, ow in layers:
                adc, y = data[unit][0][t], data[unit][1][t]
                dut.s_shift.value = s
                for c0, cw, mp, bp in tiles:
                    dut.m_code.value = mp
                    dut.b_code.value = bp
                    for tok in range(adc.shape[0]):
                        n_rt = adc.shape[1]
                        for rt in range(n_rt):
                            dut.adc_code.value = pack(np.pad(adc[tok, rt, c0:c0 + cw], (0, lanes - cw)), ab)
                            dut.in_valid.value = 1
                            dut.first.value = int(rt == 0)
                            dut.last.value = int(rt == n_rt - 1)
                            await FallingEdge(dut.clk)
                        dut.in_valid.value = 0
                        sb.cycles["token"] = n_rt + await wait_high(dut, dut.out_valid, 4)
                        act = unpack(bus(dut.y_code), lanes, ow, signed=True)[:cw]
                        sig = f"{unit}/y_code"
                        sb.check(sig, row, t, y[tok, c0:c0 + cw], act, g.dims(sig), prefix=(tok,), last_offset=c0)


@cocotb.test()
async def colpath(dut):
    await run_bench(dut, "colpath", _colpath)
