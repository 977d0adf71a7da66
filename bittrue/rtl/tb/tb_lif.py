"""cocotb testbench of ``xpk_lif``: every sample, step, LIF population and token of a golden file.

Per population the group names its input (``input_signals``, summed with saturation to ``width`` bits:
the residual adder in front of ``mlp_in``; columns from ``input_col0``, tokens from ``input_token0``).
Membranes start at 0 for every sample and are then the RTL's own outputs (a membrane memory held by the
bench), so an error carries into later steps as it would on the chip; ``v_code`` and ``spikes`` are
compared with the stored datasets.
"""
import cocotb
import numpy as np

from golden_io import bus, pack, run_bench, unpack, wait_high


async def _lif(dut, g, sb):
    lanes = int(dut.LANES.value)
    sites = [u for u in g.kind("lif") if f"{u}/v_code" in g.sig]
    for row in range(g.n):
        data = {}
        for u in sites:
            a = g.attrs(u)
            w, col0, tok0 = int(a["width"]), int(a["input_col0"]), int(a["input_token0"])
            v_exp, s_exp = g.read(f"{u}/v_code", row), g.read(f"{u}/spikes", row)
            nt, nn = v_exp.shape[1:]
            y = sum(g.read(str(s), row)[:, tok0:tok0 + nt, col0:col0 + nn] for s in a["input_signals"])
            y = np.clip(y, -(1 << (w - 1)), (1 << (w - 1)) - 1)
            data[u] = (y, v_exp, s_exp, np.zeros((nt, nn), np.int64), int(a["theta_code"]), w)
        for t in range(g.T):
            for u in sites:
                y, v_exp, s_exp, mem, theta, w = data[u]
                dut.theta.value = theta & ((1 << w) - 1)
                for tok in range(mem.shape[0]):
                    nn = mem.shape[1]
                    dut.v_in.value = pack(np.pad(mem[tok], (0, lanes - nn)), w)
                    dut.y_in.value = pack(np.pad(y[t, tok], (0, lanes - nn)), w)
                    dut.in_valid.value = 1
                    sb.cycles["token"] = await wait_high(dut, dut.out_valid, 4)
                    dut.in_valid.value = 0
                    mem[tok] = unpack(bus(dut.v_out), lanes, w, signed=True)[:nn]
                    spk = unpack(bus(dut.spikes), lanes, 1)[:nn]
                    sb.check(f"{u}/v_code", row, t, v_exp[t, tok], mem[tok], g.dims(f"{u}/v_code"), prefix=(tok,))
                    sb.check(f"{u}/spikes", row, t, s_exp[t, tok], spk, g.dims(f"{u}/spikes"), prefix=(tok,))


@cocotb.test()
async def lif(dut):
    await run_bench(dut, "lif", _lif)
