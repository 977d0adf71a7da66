"""``bittrue info``: versions, threads, cache directory."""
from __future__ import annotations

import json
import sys

import numpy as np

from .. import __version__
from ..config import HardwareConfig


def cmd_info(args) -> int:
    import h5py
    import numba

    info = {"bittrue": __version__, "python": sys.version.split()[0], "numpy": np.__version__,
            "numba": numba.__version__, "h5py": h5py.__version__, "threads": numba.get_num_threads(),
            "numba_cache_dir": numba.config.CACHE_DIR or "(beside the kernel sources, __pycache__)",
            "default_config_hash": HardwareConfig().config_hash()}
    if args.json:
        print(json.dumps(info))
    else:
        for k, v in info.items():
            print(f"{k:16s} {v}")
    return 0
