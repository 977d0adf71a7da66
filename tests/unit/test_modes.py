"""The enum values the kernels copy (they never import ``bittrue``) equal ``bittrue.modes``, member for member."""
from __future__ import annotations

import enum

import pytest

from bittrue import modes
from bittrue.kernels import lfsr, lif, ssa

#: (kernel module, constant prefix, enum): the kernel's ``PREFIX_NAME`` constants mirror ``enum.NAME``
COPIES = [(ssa, "MASK_", modes.Mask), (lif, "RESET_", modes.Reset), (lfsr, "SHARING_", modes.Sharing)]


@pytest.mark.parametrize("module,prefix,enum_cls", COPIES, ids=[p.rstrip("_") for _, p, _ in COPIES])
def test_kernel_constants_equal_enum_members(module, prefix, enum_cls):
    copied = {k[len(prefix):]: getattr(module, k) for k in dir(module) if k.startswith(prefix)}
    members = {m.name: int(m) for m in enum_cls}
    assert copied == members, f"{module.__name__} {prefix}* {copied} != {enum_cls.__name__} {members}"
    assert all(type(v) is int for v in copied.values())  # plain ints: Numba freezes them as constants


def test_every_mode_enum_is_an_intenum_and_used():
    """Each enum of bittrue.modes is an IntEnum that some other module of bittrue uses (no dead modes)."""
    import re
    from pathlib import Path

    enums = {n: c for n, c in vars(modes).items()
             if isinstance(c, type) and issubclass(c, enum.Enum) and c.__module__ == modes.__name__}
    assert enums and all(issubclass(c, enum.IntEnum) for c in enums.values())
    pkg = Path(modes.__file__).resolve().parent
    text = "\n".join(p.read_text() for p in sorted(pkg.rglob("*.py")) if p.name != "modes.py")
    unused = [n for n in enums if not re.search(rf"\b{n}\b", text)]
    assert not unused, f"enums of bittrue.modes used nowhere: {unused}"
