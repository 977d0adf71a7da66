"""bittrue: a bit-true, Numba-accelerated emulator of the XPK-1 spiking-transformer accelerator."""
from __future__ import annotations

__version__ = "0.1.0"

from .config import HardwareConfig, ConfigError  # noqa: E402
from .lfsr import lfsr_states, lfsr_draws  # noqa: E402

__all__ = ["__version__", "HardwareConfig", "ConfigError", "lfsr_states", "lfsr_draws"]
