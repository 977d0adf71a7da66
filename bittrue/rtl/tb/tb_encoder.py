"""cocotb testbench of ``xpk_encoder``: every sample and step of a golden file's input encoder.

Per sample: load the stored seeds (``encoder/lfsr_seed``), then per step drive the feature codes
(``p = (feature_code << bits) >> 8``), pulse ``start``, wait for ``done`` and compare every comparator's
draw and spike with ``encoder/draw`` and ``encoder/spikes``.
"""
import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from golden_io import bus, pack, run_bench, unpack, wait_high


async def _encoder(dut, g, sb):
    a = g.attrs("encoder")
    k, width, steps = int(a["draw_bits"]), int(a["lfsr_width"]), int(a["steps_per_draw"])
    rows, cols = int(a["n_rows"]), int(a["n_cols"])
    for row in range(g.n):
        p = (g.read(str(a["input_signal"]), row) << k) >> 8
        dut.seeds.value = pack(g.read(str(a["seed_signal"]), row), width)
        dut.load.value = 1
        await FallingEdge(dut.clk)
        dut.load.value = 0
        draws, spikes = g.read("encoder/draw", row), g.read("encoder/spikes", row)
        for t in range(g.T):
            dut.prob_code.value = pack(p, k)
            dut.start.value = 1
            await FallingEdge(dut.clk)
            dut.start.value = 0
            sb.cycles["draw"] = 1 + await wait_high(dut, dut.done, steps + 8)
            sb.check("encoder/draw", row, t, draws[t], unpack(bus(dut.draw), rows * cols, k), g.dims("encoder/draw"))
            sb.check("encoder/spikes", row, t, spikes[t], unpack(bus(dut.spikes), rows * cols, 1),
                     g.dims("encoder/spikes"))


@cocotb.test()
async def encoder(dut):
    await run_bench(dut, "encoder", _encoder)
