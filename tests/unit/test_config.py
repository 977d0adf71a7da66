"""Hardware configuration: the spec's defaults, TOML round trip, validation messages."""
from __future__ import annotations

import dataclasses

import pytest

from bittrue.config import ConfigError, HardwareConfig
from bittrue.modes import Mapping, Reset, Sharing

#: (section, field, spec default) -- spec sections 2-5
SPEC_DEFAULTS = [
    ("lfsr", "width", 16), ("lfsr", "sharing", Sharing.COMPARATOR), ("lfsr", "steps_per_draw", 0),
    ("encoder", "bits", 8),
    ("tile", "rows", 256), ("tile", "cols", 256), ("tile", "mapping", Mapping.COLUMN), ("tile", "g_bits", 12),
    ("tile", "adc_bits", 8), ("tile", "adc_percentile", 99.99), ("tile", "output_noise_lsb", 0.5),
    ("pcm", "g_max_uS", 25.0), ("pcm", "prog_noise_c0_uS", 0.26348), ("pcm", "prog_noise_c1_uS", 1.9650),
    ("pcm", "prog_noise_c2_uS", -1.1731), ("pcm", "t0_s", 20.0), ("pcm", "drift_mu_slope", -0.0155),
    ("pcm", "drift_mu_offset", 0.0244), ("pcm", "drift_mu_min", 0.049), ("pcm", "drift_mu_max", 0.1),
    ("pcm", "drift_sigma_slope", -0.0125), ("pcm", "drift_sigma_offset", -0.0059),
    ("pcm", "drift_sigma_min", 0.008), ("pcm", "drift_sigma_max", 0.045), ("pcm", "read_noise_q", 0.0088),
    ("pcm", "read_noise_exp", 0.65), ("pcm", "read_noise_q_max", 0.2), ("pcm", "t_read_s", 250e-9),
    ("pcm", "drift_compensation", True), ("pcm", "t_inference_s", 86400.0),
    ("lif", "width", 16), ("lif", "frac_bits", 8), ("lif", "leak_shift", 1), ("lif", "reset", Reset.HARD),
]


@pytest.mark.parametrize("section,name,value", SPEC_DEFAULTS)
def test_spec_defaults(section, name, value):
    assert getattr(getattr(HardwareConfig(), section), name) == value


def test_derived_defaults():
    cfg = HardwareConfig()
    assert cfg.lfsr_taps() == (16, 14, 13, 11)
    # spec 3.2 / 3.4: K_S = K_O = 16 by default, K_S = d_k rounded up where d_k < 16
    assert cfg.ssa.k_s == 16 and cfg.ssa.k_o == 16
    assert [cfg.resolved_k_s(d) for d in (16, 64, 12, 8, 5)] == [16, 16, 16, 8, 8]
    assert cfg.resolved_k_o(17) == 16 and cfg.resolved_k_o(65) == 16 and cfg.resolved_k_o(4) == 16
    # 0 selects the shape rule (d_k, N rounded up); other powers of two are taken as given
    shape = HardwareConfig.from_dict({"ssa": {"k_s": 0, "k_o": 0}})
    assert shape.resolved_k_s(16) == 16 and shape.resolved_k_s(12) == 16
    assert shape.resolved_k_o(17) == 32 and shape.resolved_k_o(65) == 128
    given = HardwareConfig.from_dict({"ssa": {"k_s": 32, "k_o": 8}})
    assert given.resolved_k_s(8) == 32 and given.resolved_k_o(65) == 8


def test_toml_round_trip(tmp_path):
    cfg = dataclasses.replace(
        HardwareConfig(), tile=dataclasses.replace(HardwareConfig().tile, adc_bits=6, mapping=Mapping.TILE),
        lfsr=dataclasses.replace(HardwareConfig().lfsr, width=12, taps=(12, 6, 4, 1), sharing=Sharing.ROW),
        lif=dataclasses.replace(HardwareConfig().lif, reset=Reset.SOFT)).validate()
    p = tmp_path / "hw.toml"
    cfg.save(p)
    back = HardwareConfig.load(p)
    assert back == cfg and back.config_hash() == cfg.config_hash()
    assert HardwareConfig.from_json(cfg.to_json()) == cfg


def test_partial_toml_keeps_other_defaults(tmp_path):
    p = tmp_path / "hw.toml"
    p.write_text('[tile]\nadc_bits = 6\n[lfsr]\nsharing = "array"\n')
    cfg = HardwareConfig.load(p)
    assert cfg.tile.adc_bits == 6 and cfg.lfsr.sharing == Sharing.ARRAY
    assert cfg.tile.g_bits == 12 and cfg.pcm.t_inference_s == 86400.0


@pytest.mark.parametrize("text,needles", [
    ("[tile]\nadc_bits = 17\n", ["tile.adc_bits", "17", "1..16"]),
    ("[lfsr]\nwidth = 7\n", ["lfsr.width", "7", "8..32"]),
    ("[ssa]\nk_o = 48\n", ["ssa.k_o", "48", "power of two"]),
    ("[pcm]\nt0_s = -1.0\n", ["pcm.t0_s", "-1.0"]),
    ("[pcm]\ndrift = 1\n", ["pcm.drift", "true or false"]),
    ("[run]\nroot_seed = -3\n", ["run.root_seed", "-3"]),
    ("[lfsr]\ntaps = [16, 20]\n", ["lfsr.taps"]),
    ("[lif]\nreset = \"sideways\"\n", ["lif.reset", "sideways", "hard, soft"]),
])
def test_validation_names_field_value_and_range(tmp_path, text, needles):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as info:
        HardwareConfig.load(p)
    msg = str(info.value)
    for n in needles:
        assert n in msg, msg


def test_requant_multiplier_that_cannot_fit_is_a_config_error():
    """A configuration whose requantisation multiplier exceeds ``tile.requant_m_bits`` even at shift 0 is refused
    at programming time (it used to be written unclamped and then refused when the chip was read back)."""
    from bittrue.compile import compile_model
    from bittrue.model import ARCHITECTURES, random_float_model
    from bittrue.program import program
    from bittrue.workloads import calibration_tokens

    cfg = HardwareConfig.from_dict({"lif": {"width": 32, "frac_bits": 30},
                                    "tile": {"adc_bits": 1, "g_bits": 1, "calibration_samples": 8}}).validate()
    arch = ARCHITECTURES["digits"]
    img = compile_model(random_float_model(arch, 1, threshold=0.5), cfg, calibration_tokens(arch, 8))
    with pytest.raises(ConfigError, match="requant_m_bits"):
        program(img, "ideal")
    # the default configuration programs, and every multiplier fits its signed register
    cfg0 = HardwareConfig()
    chip = program(compile_model(random_float_model(arch, 1, threshold=0.5), cfg0, calibration_tokens(arch, 8)),
                   "ideal")
    lim = (1 << (cfg0.tile.requant_m_bits - 1)) - 1
    assert all(int(abs(lay.m_code).max()) <= lim for lay in chip.layers)


def test_uncalibrated_full_scale_is_the_worst_case_of_one_row_tile():
    """Without calibration data each column tile's ADC full scale is the largest column sum |G+ - G-| of any
    *one* row tile (an ADC converts only its own tile's current), not the sum over all rows of the layer."""
    import numpy as np

    from bittrue.compile import compile_model, quantise_conductance
    from bittrue.model import ARCHITECTURES, random_float_model

    cfg = HardwareConfig.from_dict({"tile": {"rows": 64, "cols": 48}}).validate()
    img = compile_model(random_float_model(ARCHITECTURES["digits"], 1), cfg, None)
    lay = next(lay for lay in img.layers if lay.name == "blocks.0.mlp2")  # 256 rows: 4 row tiles
    d = np.abs(quantise_conductance(lay.g_pos_uS, cfg).astype(np.int64) - quantise_conductance(lay.g_neg_uS, cfg))
    want = [max(int(d[r0:r0 + 64, c0:c0 + 48].sum(axis=0).max()) for r0 in range(0, d.shape[0], 64))
            for c0 in range(0, d.shape[1], 48)]
    assert lay.i_fs_code.tolist() == want
    assert max(want) < int(d[:, :48].sum(axis=0).max())  # tighter than the all-rows sum


def test_output_noise_off_needs_no_noise_sigma():
    """With ``pcm.output_noise = false`` no noise is generated, so a configuration whose sigma would exceed the
    generator's limit compiles (sigma_code 0); with the noise on it is refused."""
    from bittrue.compile import compile_model
    from bittrue.model import ARCHITECTURES, random_float_model
    from bittrue.workloads import calibration_tokens

    arch = ARCHITECTURES["digits"]
    model = random_float_model(arch, 1, threshold=0.5)
    big = {"tile": {"adc_bits": 2, "g_bits": 14, "output_noise_lsb": 64.0, "calibration_samples": 4}}
    with pytest.raises(ConfigError, match="output-noise sigma"):
        compile_model(model, HardwareConfig.from_dict(big).validate(), calibration_tokens(arch, 4))
    off = HardwareConfig.from_dict({**big, "pcm": {"output_noise": False}}).validate()
    img = compile_model(model, off, calibration_tokens(arch, 4))
    assert all(int(lay.sigma_code.max()) == 0 for lay in img.layers)


def test_derived_ssa_saturation_must_fit_the_lfsr_draws():
    """K_O derived from the token count (N rounded up to a power of two) needs log2(K_O)-bit draws; with more
    than 2^width tokens the draws would be too narrow (biased comparators), so compile refuses it clearly."""
    from bittrue.compile import compile_model
    from bittrue.model import Architecture, random_float_model
    from bittrue.modes import Mask

    arch = Architecture(name="long", token_features=4, n_patches=300, dim=8, depth=1, heads=1, d_k=8, mlp=8,
                        timesteps=1, n_classes=2, mask=Mask.DIAGONAL, cls_token=True)
    model = random_float_model(arch, 0)
    with pytest.raises(ConfigError, match="ssa.k_o = 512"):
        compile_model(model, HardwareConfig.from_dict({"lfsr": {"width": 8}, "ssa": {"k_o": 0}}).validate(), None)
    # 9-bit draws fit
    compile_model(model, HardwareConfig.from_dict({"lfsr": {"width": 9}, "ssa": {"k_o": 0}}).validate(), None)
