"""Network-level stochastic equivalence: the bit-true emulator (ideal devices) versus the float SNN.

For every LIF population the mean spike rate of the emulator, averaged over R root seeds (independent
LFSR streams) and the same samples, is compared with the float expectation model's rate averaged over
R numpy seeds.  The two differ by (a) sampling noise and (b) a deterministic modelling gap: 12-bit
conductances, 8-bit ADCs, the Q8.8 residual and floor-shift leak of the hardware versus float64.

Bound per population: |rate_emu - rate_float| <= 6 * se + 0.04, with se = sqrt(var_emu/R + var_float/R) the
standard error of the difference estimated from the per-seed rates.  The 6 sigma term makes a false failure
from sampling noise alone less than 2e-9 per population (Gaussian tail; 13 populations: < 3e-8); the 0.04
absolute allowance is the modelling gap (measured about 0.01 on the shipped digits model).  Seeds are fixed,
so the test is deterministic.  It also checks that the allowance is not vacuous: rates span a real range.
"""
from __future__ import annotations

import numpy as np
import pytest

from bittrue.compile import compile_model
from bittrue.config import HardwareConfig
from bittrue.floatmodel import float_forward
from bittrue.model import default_model_path, load_float_model
from bittrue.program import program
from bittrue.run import Runner
from bittrue.workloads import load_tokens

from rates import RateSink  # tests/ is on sys.path (conftest.py)

R = 6
N_SAMPLES = 24


@pytest.fixture(scope="module")
def setup():
    path = default_model_path("digits")
    if not path.exists():
        pytest.skip("shipped digits model not present")
    model = load_float_model(path)
    cfg = HardwareConfig()
    x, _ = load_tokens("digits", "test", model.arch)
    xtr, _ = load_tokens("digits", "train", model.arch)
    image = compile_model(model, cfg, xtr[:64])
    return model, cfg, x[:N_SAMPLES], program(image, "ideal")


def test_lif_rates_match_float_model(setup):
    model, cfg, x, chip = setup
    arch = model.arch
    emu, flt = [], []
    for s in range(R):
        sink = RateSink()
        Runner(chip, root_seed=1000 + s).run_batch(x, np.arange(len(x)), sink)
        emu.append(sink.rates())
        fs = RateSink()

        def rec(name, t, data, fs=fs):
            if name.startswith("lif:"):
                fs("lif." + name[4:] + "/spikes", t, data)

        float_forward(model, x, timesteps=arch.timesteps, rng=np.random.default_rng(2000 + s),
                      k_s=cfg.resolved_k_s(arch.d_k), k_o=cfg.resolved_k_o(arch.n_tokens),
                      leak_shift=cfg.lif.leak_shift, reset=cfg.lif.reset, record=rec)
        flt.append(fs.rates())
    names = sorted(emu[0])
    assert set(names) == set(arch.lif_names())
    worst = []
    for n in names:
        e = np.array([d[n] for d in emu])
        f = np.array([d[n] for d in flt])
        se = np.sqrt(e.var(ddof=1) / R + f.var(ddof=1) / R)
        gap = abs(e.mean() - f.mean())
        worst.append((gap - 6 * se, n, e.mean(), f.mean(), se))
        assert gap <= 6 * se + 0.04, f"{n}: emulator {e.mean():.4f} vs float {f.mean():.4f} (se {se:.4f})"
    means = [w[3] for w in worst]
    assert max(means) - min(means) > 0.05, "rates are all alike: the comparison would be vacuous"
