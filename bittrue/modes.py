"""Named integer modes passed to kernels as small ints (never booleans).

Every enum here is an :class:`enum.IntEnum`; kernels receive ``int(mode)``.  The kernels (which never import
``bittrue``) compare against their own copies of the values (``MASK_*`` in ``kernels/ssa.py``, ``RESET_*`` in
``kernels/lif.py``, ``SHARING_*`` in ``kernels/lfsr.py``); ``tests/unit/test_modes.py`` ties each copy to its member
here.  Overflow and rounding are not modes: XPK-1 fixes them per signal (saturate; floor shifts, round-half-up
where spec 1.2 says so), see ``docs/architecture.md`` section 1.
"""
from __future__ import annotations

import enum


class Mask(enum.IntEnum):
    """SSA score mask (spec 3.2)."""

    NONE = 0
    DIAGONAL = 1  #: S[i, i] = 0: a token does not attend to itself
    CAUSAL = 2  #: S[i, j] = 0 for j > i


class Reset(enum.IntEnum):
    """LIF reset after a spike (spec 5.1)."""

    HARD = 0  #: v <- 0
    SOFT = 1  #: v <- v - theta


class Sharing(enum.IntEnum):
    """How many comparators one LFSR feeds (spec 2.4)."""

    COMPARATOR = 0  #: one LFSR per comparator (default)
    ROW = 1  #: one LFSR per comparator row
    ARRAY = 2  #: one LFSR per comparator array


class Mapping(enum.IntEnum):
    """Weight-to-conductance scaling granularity (spec 4.3)."""

    COLUMN = 0  #: w_max per output column (default)
    TILE = 1  #: w_max per crossbar tile


class EncoderMode(enum.IntEnum):
    """How the input encoder drives the embedding tiles (spec 5.3)."""

    RATE = 0  #: one stochastic spike per feature and time step, P = p / 2^bits (default)
    BITSERIAL = 1  #: the code's ``bits`` bit-planes, one read pass each, ADC codes shift-added (exact input)


def parse_enum(enum_cls: type[enum.IntEnum], value: object, field: str) -> enum.IntEnum:
    """Turn a name (case-insensitive), int or member into ``enum_cls``; ValueError names the field."""
    if isinstance(value, enum_cls):
        return value
    if isinstance(value, str):
        key = value.strip().upper().replace("-", "_")
        if key in enum_cls.__members__:
            return enum_cls[key]
    elif isinstance(value, int) and not isinstance(value, bool):
        try:
            return enum_cls(value)
        except ValueError:
            pass
    allowed = ", ".join(m.name.lower() for m in enum_cls)
    raise ValueError(f"{field}: {value!r} is not one of {allowed}")
