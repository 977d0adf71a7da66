"""The bit-serial input encoder of spec 5.3 (``encoder.mode = "bitserial"``): the embedding reads the codes'
bit-planes, one read pass each, and the digital periphery shift-adds the passes' ADC codes before one
requantisation.

Kernels against their naive twins (``tests/reference.py``), the whole embedding of a programmed chip against the
naive bit-serial layer, the scale of the requantisation against the float expectation, the float model's form
(exactly the encoder in expectation), thread / batch invariance, the energy counts and the CLI's refusals.
"""
from __future__ import annotations

import dataclasses

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference import ref_bitserial_layer, ref_encoder_bitplanes, ref_requant
from threadprobe import threads_used

from bittrue import cli
from bittrue.compile import compile_model
from bittrue.config import ConfigError, HardwareConfig
from bittrue.energy.counts import closed_form_counts
from bittrue.floatmodel import float_forward
from bittrue.kernels.batch import encoder_bitplane_layer
from bittrue.kernels.crossbar import bitserial_accumulate, requant_layer
from bittrue.kernels.encoder import encoder_bitplanes
from bittrue.model import ARCHITECTURES, random_float_model, save_float_model
from bittrue.modes import EncoderMode
from bittrue.program import program
from bittrue.run import Runner

ARCH = ARCHITECTURES["digits"]
BS = {"encoder": {"mode": "bitserial"}}


def _cfg(**sections) -> HardwareConfig:
    d = {"tile": {"calibration_samples": 16}, **{k: dict(v) for k, v in BS.items()}}  # BS itself stays unchanged
    for k, v in sections.items():
        d.setdefault(k, {}).update(v)
    return HardwareConfig.from_dict(d).validate()


def _x(n: int, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, ARCH.n_patches, ARCH.token_features),
                                                dtype=np.uint8)


def _chip(cfg: HardwareConfig, device: str = "pcm", seed: int = 5):
    model = random_float_model(ARCH, seed=seed, threshold=0.25)
    return program(compile_model(model, cfg, _x(16, 0)), device, program_seed=1)


class Keep:
    def __init__(self, signals):
        self.signals = frozenset(signals)
        self.log: dict[tuple[str, int], np.ndarray] = {}

    def __call__(self, path, t, data):
        self.log[(path, int(t))] = np.array(data, copy=True)


# ---------------------------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("kernel", [encoder_bitplanes, encoder_bitplanes.py_func], ids=["jit", "py"])
@given(codes=st.lists(st.integers(0, 255), min_size=1, max_size=40), bits=st.integers(1, 8))
def test_bitplanes_match_reference(kernel, codes, bits):
    p = np.array([c >> (8 - bits) for c in codes], dtype=np.int32)
    out = np.full((bits, p.size), 7, dtype=np.uint8)
    kernel(p, bits, out)
    assert out.tolist() == ref_encoder_bitplanes(p.tolist(), bits)


def test_bitplanes_rebuild_the_codes():
    p = np.arange(256, dtype=np.int32).reshape(2, 8, 16)
    out = np.zeros((8,) + p.shape, np.uint8)
    encoder_bitplanes(p, 8, out)
    assert np.array_equal(sum(out[j].astype(np.int64) << j for j in range(8)), p)
    planes = np.zeros((2, 8, 8, 16), np.uint8)
    encoder_bitplane_layer(p, 8, planes)
    assert np.array_equal(planes.transpose(1, 0, 2, 3), out)


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "py"])
@given(seed=st.integers(0, 2 ** 32 - 1), shift=st.integers(0, 15), s=st.integers(0, 40),
       width=st.sampled_from([8, 16, 32]))
def test_shift_add_and_requant_match_reference(jit, seed, shift, s, width):
    rng = np.random.default_rng(seed)
    acc = rng.integers(-2 ** 40, 2 ** 40, size=(2, 3, 5), dtype=np.int64)
    codes = rng.integers(-2 ** 15, 2 ** 15, size=(2, 3, 5), dtype=np.int32)
    want = acc + (codes.astype(np.int64) << shift)
    f = bitserial_accumulate if jit else bitserial_accumulate.py_func
    f(acc, codes, shift)
    assert np.array_equal(acc, want)
    acc //= 2 ** 18  # |acc| < 2^23 with |M| < 2^20: acc * M + B fits int64
    m = rng.integers(-2 ** 20, 2 ** 20, size=5, dtype=np.int64)
    b = rng.integers(-2 ** 40, 2 ** 40, size=5, dtype=np.int64)
    y = np.zeros((2, 3, 5), np.int32)
    (requant_layer if jit else requant_layer.py_func)(acc, m, b, s, width, y)
    ref = [[[ref_requant(int(acc[i, j, c]), int(m[c]), int(b[c]), s, width) for c in range(5)] for j in range(3)]
           for i in range(2)]
    assert y.tolist() == ref


# ---------------------------------------------------------------------------------------------- the chip
@pytest.fixture(scope="module")
def chip():
    return _chip(_cfg())


def test_embedding_matches_naive_bitserial_layer(chip):
    """Every pass's currents, output noise, ADC codes, the shift-add and the requantisation, bit for bit."""
    x = _x(3, 7)
    ids = np.array([11, 4, 29], np.int64)
    sink = Keep({"requant", "encoder"})
    Runner(chip, timesteps=2, root_seed=13).run_batch(x, ids, sink)
    lay = chip.layer("embed")
    cfg = chip.config
    for t in (0, 1):
        planes = sink.log[("encoder/spikes", t)]
        assert planes.shape == (3, 8, ARCH.n_patches, ARCH.token_features)
        want_planes = [[[ref_encoder_bitplanes(row.tolist(), 8)] for row in tok] for tok in x]
        for b in range(3):
            for n in range(ARCH.n_patches):
                assert planes[b, :, n, :].tolist() == want_planes[b][n][0]
        ref = ref_bitserial_layer(planes.tolist(), lay.g_diff_code.tolist(), cfg.tile.rows, cfg.tile.cols,
                                  lay.i_fs_code, lay.sigma_code, cfg.tile.adc_bits, 1, 13, ids, lay.layer_id, t,
                                  lay.m_code, lay.b_code, lay.s_shift, cfg.lif.width)
        assert sink.log[("embed/y_code", t)].tolist() == ref


@pytest.mark.parametrize("bits", [8, 3, 1])
def test_embedding_scale_matches_the_float_expectation(bits):
    """Ideal devices, no output noise, a 16-bit ADC: the bit-serial embedding computes BN(p/2^k @ W) of the float
    model (p the k-bit codes) to within the conductance and ADC rounding (a missing 2^-k in M would be 2^k times
    too large); k = 1 is one read pass, still bit-serial."""
    cfg = _cfg(tile={"adc_bits": 16}, pcm={"output_noise": False}, encoder={"bits": bits})
    model = random_float_model(ARCH, seed=5, threshold=0.25)
    ch = program(compile_model(model, cfg, _x(16, 0)), "ideal")
    x = _x(4, 8)
    sink = Keep({"requant"})
    Runner(ch, timesteps=1).run_batch(x, np.arange(4), sink)
    got = sink.log[("embed/y_code", 0)] / 2.0 ** cfg.lif.frac_bits
    a, b = model.linear["embed"].affine()
    codes = (x.astype(np.int64) << bits) >> 8
    want = (codes / 2.0 ** bits) @ model.linear["embed"].weight.astype(np.float64) * a + b
    err = np.abs(got - want)
    # conductance image: each weight within w_max / 2^(g_bits + 1), summed over the active inputs
    w_max = np.abs(model.linear["embed"].weight).max(axis=0)
    tol = ARCH.token_features * w_max * np.abs(a) / 2.0 ** (cfg.tile.g_bits + 1) + 4.0 / 2 ** cfg.lif.frac_bits
    assert np.all(err <= tol), float((err - tol).max())
    assert np.std(want) > 0.1  # not a trivial comparison


def test_float_bitserial_is_the_encoder_in_expectation():
    model = random_float_model(ARCH, seed=2, threshold=0.25)
    x = _x(5, 1)
    kw = dict(timesteps=3, k_s=16, k_o=32)
    a = float_forward(model, x, rng=np.random.default_rng(4), encoder_mode=EncoderMode.BITSERIAL, **kw)
    b = float_forward(model, x, rng=np.random.default_rng(4), expectation=("encoder",), **kw)
    c = float_forward(model, x, rng=np.random.default_rng(4), **kw)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    seen = []
    float_forward(model, x, rng=np.random.default_rng(4), encoder_mode=EncoderMode.BITSERIAL, encoder_bits=8,
                  record=lambda name, t, s: seen.append(s.copy()) if name == "embed" and t == 0 else None, **kw)
    assert len(seen) == 8 and np.array_equal(sum(p * 2 ** j for j, p in enumerate(seen)), x)


def test_identical_for_threads_batches_and_order(chip):
    x = _x(6, 9)
    ids = np.arange(40, 46, dtype=np.int64)
    n0 = numba.get_num_threads()
    assert numba.config.NUMBA_NUM_THREADS >= 2
    runs = []
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            assert threads_used() == threads
            runs.append(Runner(chip, timesteps=2, root_seed=3).run_batch(x, ids))
    finally:
        numba.set_num_threads(n0)
    assert np.array_equal(runs[0], runs[1])
    r = Runner(chip, timesteps=2, root_seed=3)
    perm = np.array([4, 1, 5, 0, 3, 2])
    parts = np.concatenate([r.run_batch(x[perm][i:i + 2], ids[perm][i:i + 2]) for i in (0, 2, 4)])
    assert np.array_equal(parts[np.argsort(perm)], runs[0])


def test_differs_from_rate_and_has_no_encoder_lfsr(chip):
    x = _x(2, 2)
    rate = dataclasses.replace(chip.config, encoder=dataclasses.replace(chip.config.encoder, mode=EncoderMode.RATE))
    rate_chip = _chip(rate)
    sink = Keep({"seeds"})
    lg = Runner(chip, timesteps=2).run_batch(x, np.arange(2), sink)
    assert not any(p.startswith("encoder/") for p, _ in sink.log)
    assert not np.array_equal(lg, Runner(rate_chip, timesteps=2).run_batch(x, np.arange(2)))


def test_per_pass_logs_add_up_to_the_output(chip):
    """current / noise / adc groups come with a pass axis; their ADC codes, shift-added, give the embedding."""
    x = _x(2, 5)
    sink = Keep({"current", "noise", "adc", "requant"})
    Runner(chip, timesteps=1).run_batch(x, np.arange(2), sink)
    lay = chip.layer("embed")
    a = sink.log[("embed/adc_code", 0)]
    i, n = sink.log[("embed/i_code", 0)], sink.log[("embed/noise_code", 0)]
    assert a.shape == i.shape == n.shape == (2, 8, ARCH.n_patches, 1, ARCH.dim)
    assert np.any(n != 0) and np.any(a[:, 7] != a[:, 0])
    acc = sum(a[:, j].astype(np.int64).sum(axis=2) << j for j in range(8))
    want = [[[ref_requant(int(acc[b, t, c]), int(lay.m_code[c]), int(lay.b_code[c]), lay.s_shift, 16)
              for c in range(ARCH.dim)] for t in range(ARCH.n_patches)] for b in range(2)]
    assert sink.log[("embed/y_code", 0)].tolist() == want


def test_golden_writer_refuses_bitserial(chip, tmp_path):
    import h5py

    from bittrue.golden import GoldenWriter

    with h5py.File(tmp_path / "g.h5", "w") as fh, pytest.raises(ValueError, match="bitserial"):
        GoldenWriter(fh, Runner(chip, timesteps=1), ["spikes"])


# ---------------------------------------------------------------------------------------------- config, energy
def test_config_field_round_trip_and_errors(tmp_path):
    cfg = _cfg()
    assert cfg.encoder.mode == EncoderMode.BITSERIAL and HardwareConfig().encoder.mode == EncoderMode.RATE
    p = tmp_path / "hw.toml"
    cfg.save(p)
    assert 'mode = "bitserial"' in p.read_text()
    assert HardwareConfig.load(p) == cfg
    with pytest.raises(ConfigError, match="encoder.mode.*rate, bitserial"):
        HardwareConfig.from_dict({"encoder": {"mode": "serial"}})


def test_energy_counts_one_conversion_per_plane():
    rate = closed_form_counts(ARCH, HardwareConfig(), 8, 3)
    bs = closed_form_counts(ARCH, _cfg(), 8, 3)
    assert bs["embed"]["adc_conversions"] == 8 * rate["embed"]["adc_conversions"]
    assert bs["embed"]["buffer_bits_read"] == 8 * rate["embed"]["buffer_bits_read"]
    assert bs["embed"]["psum_adds"] == ARCH.n_patches * (8 - 1) * ARCH.dim * 8 * 3
    assert bs["encoder"] == {"lfsr_steps": 0, "comparator_ops": 0, "buffer_bits_written": 0, "buffer_bits_read": 0}
    assert rate["encoder"]["lfsr_steps"] > 0
    for name in ("blocks.0.qkv", "head"):
        assert bs[name] == rate[name]


# ---------------------------------------------------------------------------------------------- CLI
@pytest.mark.parametrize("cmd", [["golden", "--samples", "1", "-o", "{d}/g.h5"],
                                 ["infer", "--limit", "2", "--log", "{d}/l.h5"]], ids=["golden", "infer-log"])
def test_cli_refuses_logs_in_bitserial_mode(cmd, tmp_path, capsys):
    hw = tmp_path / "bs.toml"
    hw.write_text('[encoder]\nmode = "bitserial"\n')
    rc = cli.main([c.format(d=tmp_path) for c in cmd] + ["--hardware", str(hw), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "not written for encoder.mode = bitserial" in err[0], err
    assert not list(tmp_path.glob("*.h5*"))


def test_cli_warns_when_the_model_was_trained_for_the_other_mode(tmp_path, capsys):
    model = random_float_model(ARCH, seed=1)
    model.training = {"encoder_mode": "rate"}
    save_float_model(model, tmp_path / "m.h5")
    hw = tmp_path / "bs.toml"
    hw.write_text('[encoder]\nmode = "bitserial"\n')
    rc = cli.main(["infer", "--limit", "4", "--model", str(tmp_path / "m.h5"), "--hardware", str(hw)])
    err = capsys.readouterr().err
    assert rc == 0 and 'trained with encoder.mode = "rate"' in err


def test_activity_counter_counts_the_planes(chip):
    """Live energy counts: the embedding's active rows are the 1 bits of every plane, read once per pass."""
    from bittrue.energy import ActivityCounter, MultiSink

    x = _x(3, 6)
    r = Runner(chip, timesteps=2)
    counter, keep = ActivityCounter(chip.arch, chip.config, r.T), Keep({"encoder"})
    r.run_batch(x, np.arange(3), MultiSink(counter, keep))
    c = counter.counts().sites
    ones = int(sum(np.unpackbits(x[..., None], axis=-1).sum() for _ in range(2)))
    assert c["embed"]["active_rows"] == ones == sum(int(v.sum()) for v in keep.log.values())
    assert c["embed"]["cell_reads"] == ones * ARCH.dim
    assert c["encoder"]["spikes"] == ones and c["encoder"]["lfsr_steps"] == 0
