"""Pure Numba kernels of the XPK-1 hardware blocks: integers in, integers out.

Installed as ``bittrue.kernels``.  Kernels never import :mod:`bittrue`, take no configuration
objects, and keep all state (LFSR registers, membranes) in arrays the caller passes in.
"""
