"""bittrue: a bit-true, Numba-accelerated emulator of the XPK-1 spiking-transformer accelerator."""
from __future__ import annotations

__version__ = "0.1.0"

from ._numbacache import ensure_cache_dir as _ensure_cache_dir  # noqa: E402
from ._numbacache import refresh_stale_kernels as _refresh_stale_kernels  # noqa: E402

#: set when Numba's cache directory was not writable and another was chosen (the CLI prints it)
NUMBA_CACHE_NOTE = _ensure_cache_dir()
_refresh_stale_kernels()  # before any kernel is imported: a changed callee recompiles its callers

from .config import HardwareConfig, ConfigError  # noqa: E402
from .lfsr import lfsr_states, lfsr_draws  # noqa: E402

__all__ = ["__version__", "HardwareConfig", "ConfigError", "lfsr_states", "lfsr_draws"]
