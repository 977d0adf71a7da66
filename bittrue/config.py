"""Hardware configuration of XPK-1: every number of the spec is a field with its default.

The configuration is a tree of frozen dataclasses, one per hardware block.  It loads from
and saves to TOML (``[lfsr]``, ``[encoder]``, ``[ssa]``, ``[tile]``, ``[pcm]``, ``[lif]``,
``[run]`` sections); a TOML file may give any subset of fields, the rest keep their defaults.
:func:`HardwareConfig.validate` checks every field and raises :class:`ConfigError` whose
message names the field, the value and the allowed range.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .modes import EncoderMode, Mapping, Reset, Sharing, parse_enum


class ConfigError(ValueError):
    """An invalid configuration value; the message names field, value and allowed range."""


def _is_pow2(x: int) -> bool:
    return x > 0 and (x & (x - 1)) == 0


#: The spec's default counter saturation K_S = K_O (spec 3.2, 3.4).
SSA_K_DEFAULT = 16


def next_pow2(x: int) -> int:
    """Smallest power of two >= x (x >= 1)."""
    return 1 << max(0, int(x - 1).bit_length())


@dataclass(frozen=True)
class LFSRConfig:
    """Random sources (spec 2).  ``taps=()`` means: the maximal-length table entry for ``width``."""

    width: int = 16
    taps: tuple[int, ...] = ()
    steps_per_draw: int = 0  #: 0 means k (a word-parallel update, spec 2.2)
    sharing: Sharing = Sharing.COMPARATOR


@dataclass(frozen=True)
class EncoderConfig:
    """Input stochastic number generator (spec 5.3)."""

    bits: int = 8  #: feature code width; P(spike) = p / 2^bits
    #: ``rate`` (stochastic spikes, default) or ``bitserial`` (the code's bit-planes, one read pass each)
    mode: EncoderMode = EncoderMode.RATE


@dataclass(frozen=True)
class SSAConfig:
    """Stochastic spiking attention engine (spec 3.2, 3.4): counter saturations K_S and K_O.

    Defaults are the authors' fixed normalisation ``S = Bern(clip(C/16))``, ``O = Bern(clip(P/16))``.  0 selects
    the shape rule (K_S = d_k, K_O = N, each rounded up to a power of two).  The default K_S = 16 resolves to
    d_k rounded up where d_k < 16 (spec 3.2); see :meth:`HardwareConfig.k_s`.
    """

    k_s: int = 16  #: score counter saturation; 0 -> d_k rounded up to a power of two
    k_o: int = 16  #: output counter saturation; 0 -> N rounded up to a power of two


@dataclass(frozen=True)
class TileConfig:
    """AIMC tile, ADC and requantisation (spec 4.1, 4.5-4.7)."""

    rows: int = 256
    cols: int = 256
    mapping: Mapping = Mapping.COLUMN
    g_bits: int = 12  #: conductance image: units of g_max / 2^g_bits, int16 storage
    adc_bits: int = 8
    adc_percentile: float = 99.99  #: calibration percentile of |I| for the ADC full scale
    output_noise_lsb: float = 0.5  #: sigma of per-conversion output noise, ADC LSBs
    requant_m_bits: int = 16  #: signed width of the requantisation multiplier M
    calibration_samples: int = 256  #: training samples used to calibrate ADC full scales


@dataclass(frozen=True)
class PCMConfig:
    """PCM device model (spec 4.3-4.4); defaults follow aihwkit's PCM inference model."""

    g_max_uS: float = 25.0
    programming_noise: bool = True
    prog_noise_c0_uS: float = 0.26348
    prog_noise_c1_uS: float = 1.9650
    prog_noise_c2_uS: float = -1.1731
    drift: bool = True
    t0_s: float = 20.0
    drift_mu_slope: float = -0.0155
    drift_mu_offset: float = 0.0244
    drift_mu_min: float = 0.049
    drift_mu_max: float = 0.1
    drift_sigma_slope: float = -0.0125
    drift_sigma_offset: float = -0.0059
    drift_sigma_min: float = 0.008
    drift_sigma_max: float = 0.045
    read_noise: bool = True
    read_noise_q: float = 0.0088
    read_noise_exp: float = 0.65
    read_noise_q_max: float = 0.2
    t_read_s: float = 250e-9
    output_noise: bool = True
    drift_compensation: bool = True
    t_inference_s: float = 86400.0  #: inference time after programming (1 day)


@dataclass(frozen=True)
class LIFConfig:
    """LIF neurons and the residual stream (spec 5.1, 5.2)."""

    width: int = 16  #: membrane / residual register width (signed)
    frac_bits: int = 8
    leak_shift: int = 1  #: v <- v - (v >> leak_shift) + y ; 1 is tau = 2
    reset: Reset = Reset.HARD


@dataclass(frozen=True)
class RunConfig:
    """Run-time settings that are part of the hardware behaviour."""

    timesteps: int = 0  #: 0 -> the model's own T
    root_seed: int = 0  #: uint64 root of every LFSR seed and the output-noise generator


@dataclass(frozen=True)
class HardwareConfig:
    lfsr: LFSRConfig = field(default_factory=LFSRConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    ssa: SSAConfig = field(default_factory=SSAConfig)
    tile: TileConfig = field(default_factory=TileConfig)
    pcm: PCMConfig = field(default_factory=PCMConfig)
    lif: LIFConfig = field(default_factory=LIFConfig)
    run: RunConfig = field(default_factory=RunConfig)

    # ------------------------------------------------------------------ derived values
    def lfsr_taps(self) -> tuple[int, ...]:
        from .kernels.lfsr import LFSR_TAPS

        return tuple(self.lfsr.taps) if self.lfsr.taps else LFSR_TAPS[self.lfsr.width]

    def resolved_k_s(self, d_k: int) -> int:
        """Resolved K_S for head width ``d_k`` (spec 3.2).

        ``ssa.k_s = 0``: d_k rounded up to a power of two.  The default 16 resolves to d_k rounded up where
        d_k < 16 (a score counter never exceeds d_k).  Any other value is taken as given.
        """
        if self.ssa.k_s == 0:
            return next_pow2(d_k)
        if self.ssa.k_s == SSA_K_DEFAULT:
            return min(SSA_K_DEFAULT, next_pow2(d_k))
        return self.ssa.k_s

    def resolved_k_o(self, n_tokens: int) -> int:
        """Resolved K_O for ``n_tokens`` tokens (spec 3.4): ``ssa.k_o``, or N rounded up where it is 0."""
        return self.ssa.k_o or next_pow2(n_tokens)

    def bitserial_layer(self, layer: str) -> bool:
        """Whether crossbar layer ``layer`` reads the input codes bit-serially: the embedding when
        ``encoder.mode = "bitserial"`` (spec 5.3)."""
        return layer == "embed" and self.encoder.mode == EncoderMode.BITSERIAL

    def read_passes(self, layer: str) -> int:
        """Read passes of crossbar layer ``layer`` per time step: ``encoder.bits`` for a bit-serial layer (one
        pass per bit-plane, spec 5.3; one pass where ``encoder.bits = 1``), else 1."""
        return self.encoder.bits if self.bitserial_layer(layer) else 1

    # ------------------------------------------------------------------ validation
    def validate(self) -> "HardwareConfig":
        """Check every field; raise :class:`ConfigError` naming field, value and range."""

        def check_range(name: str, value: Any, lo: float, hi: float, integer: bool = True) -> None:
            ok_type = isinstance(value, int) and not isinstance(value, bool) if integer else (
                isinstance(value, (int, float)) and not isinstance(value, bool))
            if not ok_type:
                kind = "an integer" if integer else "a number"
                raise ConfigError(f"{name} = {value!r}: must be {kind} in {lo}..{hi}")
            if not integer and not math.isfinite(value):
                raise ConfigError(f"{name} = {value!r}: must be a finite number in {lo}..{hi}")
            if not (lo <= value <= hi):
                raise ConfigError(f"{name} = {value!r}: allowed range is {lo}..{hi}")

        c = self
        check_range("lfsr.width", c.lfsr.width, 8, 32)
        if c.lfsr.taps:
            taps = c.lfsr.taps
            if not all(isinstance(t, int) and not isinstance(t, bool) for t in taps):
                raise ConfigError(f"lfsr.taps = {list(taps)!r}: must be integers in 1..{c.lfsr.width}")
            if max(taps) != c.lfsr.width or min(taps) < 1 or len(set(taps)) != len(taps):
                raise ConfigError(
                    f"lfsr.taps = {list(taps)!r}: distinct taps in 1..{c.lfsr.width}, including {c.lfsr.width}")
            from .gf2 import is_maximal_length

            if not is_maximal_length(taps, c.lfsr.width) and os.environ.get("BITTRUE_ALLOW_NONMAXIMAL_TAPS") != "1":
                raise ConfigError(f"lfsr.taps = {list(taps)!r}: not maximal-length (1 + sum x^t is not primitive, "
                                  f"so some seeds repeat before 2^{c.lfsr.width}-1 steps); use a primitive tap set "
                                  f"or set BITTRUE_ALLOW_NONMAXIMAL_TAPS=1")
        check_range("lfsr.steps_per_draw", c.lfsr.steps_per_draw, 0, 64)
        check_range("encoder.bits", c.encoder.bits, 1, 16)
        if c.encoder.bits > c.lfsr.width:
            raise ConfigError(f"encoder.bits = {c.encoder.bits}: must be <= lfsr.width ({c.lfsr.width})")
        for name in ("k_s", "k_o"):
            v = getattr(c.ssa, name)
            check_range(f"ssa.{name}", v, 0, 1 << 16)
            if v and not _is_pow2(v):
                raise ConfigError(f"ssa.{name} = {v}: must be a power of two in 2..65536 (or 0 for the default)")
            if v == 1:
                raise ConfigError(f"ssa.{name} = 1: must be a power of two in 2..65536 (or 0 for the default)")
            if v and v.bit_length() - 1 > c.lfsr.width:
                raise ConfigError(f"ssa.{name} = {v}: needs log2 <= lfsr.width ({c.lfsr.width})")
        check_range("tile.rows", c.tile.rows, 1, 4096)
        check_range("tile.cols", c.tile.cols, 1, 4096)
        check_range("tile.g_bits", c.tile.g_bits, 1, 14)
        check_range("tile.adc_bits", c.tile.adc_bits, 1, 16)
        check_range("tile.adc_percentile", c.tile.adc_percentile, 50.0, 100.0, integer=False)
        check_range("tile.output_noise_lsb", c.tile.output_noise_lsb, 0.0, 64.0, integer=False)
        check_range("tile.requant_m_bits", c.tile.requant_m_bits, 4, 31)
        check_range("tile.calibration_samples", c.tile.calibration_samples, 1, 1 << 20)
        p = c.pcm
        check_range("pcm.g_max_uS", p.g_max_uS, 1e-3, 1e4, integer=False)
        check_range("pcm.t0_s", p.t0_s, 1e-9, 1e9, integer=False)
        check_range("pcm.t_read_s", p.t_read_s, 1e-12, 1.0, integer=False)
        check_range("pcm.t_inference_s", p.t_inference_s, 0.0, 1e10, integer=False)
        for f in fields(PCMConfig):
            v = getattr(p, f.name)
            if f.type in ("bool", bool):
                if not isinstance(v, bool):
                    raise ConfigError(f"pcm.{f.name} = {v!r}: must be true or false")
            elif f.type in ("float", float):
                check_range(f"pcm.{f.name}", v, -1e10, 1e10, integer=False)
        check_range("lif.width", c.lif.width, 4, 32)
        check_range("lif.frac_bits", c.lif.frac_bits, 0, c.lif.width - 2)
        check_range("lif.leak_shift", c.lif.leak_shift, 0, c.lif.width - 1)
        check_range("run.timesteps", c.run.timesteps, 0, 1024)
        check_range("run.root_seed", c.run.root_seed, 0, (1 << 64) - 1)
        return self

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for sec in fields(self):
            sub = getattr(self, sec.name)
            d = {}
            for f in fields(sub):
                v = getattr(sub, f.name)
                if hasattr(v, "name") and isinstance(v, int):  # IntEnum
                    v = v.name.lower()
                elif isinstance(v, tuple):
                    v = list(v)
                d[f.name] = v
            out[sec.name] = d
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def config_hash(self) -> str:
        """Short sha256 of the canonical JSON form (printed by ``infer``)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: "HardwareConfig | None" = None) -> "HardwareConfig":
        """Build from nested dicts; unknown sections/fields and bad types raise ConfigError."""
        base = base or cls()
        if not isinstance(data, dict):
            raise ConfigError("hardware configuration: top level must be a table of sections")
        kwargs = {}
        sections = {f.name: f for f in fields(cls)}
        for sec_name, sec_val in data.items():
            if sec_name not in sections:
                raise ConfigError(
                    f"unknown section [{sec_name}]: allowed sections are {', '.join(sections)}")
            if not isinstance(sec_val, dict):
                raise ConfigError(f"[{sec_name}] must be a table of fields, got {sec_val!r}")
            sub = getattr(base, sec_name)
            sub_fields = {f.name: f for f in fields(sub)}
            upd = {}
            for k, v in sec_val.items():
                if k not in sub_fields:
                    raise ConfigError(
                        f"unknown field {sec_name}.{k}: allowed fields are {', '.join(sub_fields)}")
                upd[k] = _coerce(f"{sec_name}.{k}", sub_fields[k].type, v)
            kwargs[sec_name] = dataclasses.replace(sub, **upd)
        return dataclasses.replace(base, **kwargs).validate()

    @classmethod
    def from_json(cls, text: str) -> "HardwareConfig":
        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls, path: str | Path) -> "HardwareConfig":
        """Load a TOML file (any subset of fields); raise ConfigError on a bad file or value."""
        return cls.from_dict(read_toml(path, "hardware configuration", ConfigError))

    def to_toml(self) -> str:
        lines = ["# XPK-1 hardware configuration (bittrue)"]
        for sec, d in self.to_dict().items():
            lines.append(f"\n[{sec}]")
            for k, v in d.items():
                lines.append(f"{k} = {_toml_value(v)}")
        return "\n".join(lines) + "\n"

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_toml())


def read_toml(path: str | Path, what: str, error: type[Exception]) -> dict[str, Any]:
    """Parse a TOML file; a missing, unreadable or invalid file raises ``error`` with one line naming it."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise error(f"{what} {path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{what} {path}: not valid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{what} {path}: cannot read ({exc})") from None


_ENUMS = {"Sharing": Sharing, "Mapping": Mapping, "Reset": Reset, "EncoderMode": EncoderMode}


def _coerce(name: str, typ: Any, v: Any) -> Any:
    t = typ if isinstance(typ, str) else getattr(typ, "__name__", str(typ))
    if t in _ENUMS:
        try:
            return parse_enum(_ENUMS[t], v, name)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if t == "bool":
        if not isinstance(v, bool):
            raise ConfigError(f"{name} = {v!r}: must be true or false")
        return v
    if t == "int":
        if not isinstance(v, int) or isinstance(v, bool):
            raise ConfigError(f"{name} = {v!r}: must be an integer")
        return v
    if t == "float":
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise ConfigError(f"{name} = {v!r}: must be a number")
        return float(v)
    if t.startswith("tuple"):
        if not isinstance(v, (list, tuple)):
            raise ConfigError(f"{name} = {v!r}: must be a list of integers")
        return tuple(v)
    return v


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, float):
        return repr(v)
    return str(v)
