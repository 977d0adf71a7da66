"""Golden-file access and scoreboard for the XPK-1 cocotb testbenches (h5py + numpy only).

The testbenches replay a ``bittrue-golden`` file (schema >= 1.2, ``docs/golden-schema.md``) through the
RTL: they read every parameter, stimulus and expected value from the file and import nothing of the
emulator.  Environment:

``BITTRUE_GOLDEN``      the golden file
``BITTRUE_RTL_RESULT``  where to write the result (JSON: values compared per signal, first mismatch, cycles)
"""
from __future__ import annotations

import json
import os

import h5py
import numpy as np


class Mismatch(AssertionError):
    """First difference between the RTL and the golden file (one line, cocotb style)."""


class Golden:
    """Signals of a golden file, looked up by their ``signal`` attribute (``unit/name``)."""

    def __init__(self, path: str):
        self.path = path
        self.f = h5py.File(path, "r")
        self.units = {}
        self.sig = {}
        for g in self.f["layers"].values():
            self.units[str(g.attrs["unit"])] = g
            for ds in g.values():
                self.sig[str(ds.attrs["signal"])] = ds
        self.order = sorted(self.units, key=lambda u: int(self.units[u].attrs["index"]))
        self.ids = np.asarray(self.f["inputs/sample_id"][:], np.int64)
        self.n = len(self.ids)
        self.T = int(self.f.attrs["timesteps"])

    def kind(self, kind: str) -> list[str]:
        """Units of one kind (``lif``, ``crossbar``, ``ssa``, ``encoder``) in data-flow order."""
        return [u for u in self.order if str(self.units[u].attrs["kind"]) == kind]

    def attrs(self, unit: str):
        return self.units[unit].attrs

    def read(self, signal: str, row: int) -> np.ndarray:
        """Raw integer codes of one sample (row) of a signal, packed spikes unpacked (int64)."""
        ds = self.f[signal] if signal.startswith(("inputs/", "outputs/", "/")) else self.sig[signal]
        raw = ds[row]
        if str(ds.attrs.get("encoding-type")) == "packed-bits":
            raw = np.unpackbits(raw, axis=-1, count=int(ds.attrs["packed_length"]), bitorder="little")
        return np.asarray(raw, np.int64)

    def where(self, signal: str, row: int) -> str:
        return f"{self.sig[signal].name}, row {row}"

    def dims(self, signal: str) -> list[str]:
        """Axis names after the sample and time axes."""
        d = [str(x) for x in self.sig[signal].attrs["dims"]]
        return d[2:] if len(d) > 1 and d[1] == "t" else d[1:]


def pack(values, width: int) -> int:
    """Lanes -> one bus value: lane i (two's complement, ``width`` bits) at bits [i*width +: width]."""
    v = np.asarray(values, np.int64).reshape(-1)
    if v.size == 0:
        return 0
    u = v.astype(np.uint64) & np.uint64((1 << width) - 1 if width < 64 else 0xFFFFFFFFFFFFFFFF)
    bits = ((u[:, None] >> np.arange(width, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)
    return int.from_bytes(np.packbits(bits.reshape(-1), bitorder="little").tobytes(), "little")


def unpack(value: int, n: int, width: int, signed: bool = False) -> np.ndarray:
    """One bus value -> ``n`` lanes of ``width`` bits (int64; two's complement when ``signed``)."""
    nbytes = (n * width + 7) // 8
    bits = np.unpackbits(np.frombuffer(int(value).to_bytes(nbytes, "little"), np.uint8), bitorder="little",
                         count=n * width).reshape(n, width).astype(np.int64)
    out = (bits << np.arange(width, dtype=np.int64)).sum(axis=1) if width < 64 else None
    if out is None:  # 64-bit lanes: assemble as Python ints
        out = np.array([int("".join(map(str, b[::-1])), 2) for b in bits], dtype=object)
    if signed:
        out = np.where(out >= (1 << (width - 1)), out - (1 << width), out)
    return np.asarray(out, np.int64)


def bus(handle) -> int:
    """Current value of a DUT signal as an unsigned int (X/Z raise)."""
    v = handle.value
    return int(v.to_unsigned()) if hasattr(v, "to_unsigned") else int(v)


class Scoreboard:
    """Counts compared values per signal and raises :class:`Mismatch` on the first difference."""

    def __init__(self, golden: Golden, block: str):
        self.g = golden
        self.block = block
        self.counts: dict[str, int] = {}
        self.cycles: dict[str, int] = {}

    def check(self, signal: str, row: int, t: int, expected, actual, dims: list[str], head: int | None = None,
              prefix: tuple[int, ...] = (), last_offset: int = 0) -> None:
        """Compare ``actual`` (RTL) with ``expected`` (file) element by element.

        The reported index is that of the stored dataset after its sample and time axes: ``prefix`` (e.g. the
        head, or the token of a per-token transaction) followed by the index into ``expected``, whose last
        axis starts at ``last_offset`` (the first column of a column tile).
        """
        exp = np.asarray(expected, np.int64)
        act = np.asarray(actual, np.int64).reshape(exp.shape)
        ne = exp != act
        if ne.any():
            first = tuple(int(i) for i in np.argwhere(ne)[0])
            idx = tuple(prefix) + first[:-1] + (first[-1] + last_offset,) if first else tuple(prefix)
            unit, _, name = signal.partition("/")
            names = dims[-len(idx):] if len(dims) >= len(idx) else [f"dim{i}" for i in range(len(idx))]
            index = "(" + ", ".join(f"{d}={i}" for d, i in zip(names, idx)) + ")"
            parts = unit.split(".")
            blk = f" block {parts[parts.index('blocks') + 1]}" if "blocks" in parts else ""
            hd = f" head {head}" if head is not None else ""
            raise Mismatch(f"MISMATCH sample {int(self.g.ids[row])} layer {unit}{blk}{hd} signal {name} t {t} "
                           f"index {index}: expected {int(exp[first])}, actual {int(act[first])} "
                           f"({self.g.where(signal, row)})")
        key = f"{self.block}/{signal.partition('/')[2]}"
        self.counts[key] = self.counts.get(key, 0) + int(exp.size)

    def write(self, mismatch: str | None = None, error: str | None = None) -> None:
        out = os.environ.get("BITTRUE_RTL_RESULT")
        if out:
            with open(out, "w") as fh:
                json.dump({"block": self.block, "counts": self.counts, "cycles": self.cycles,
                           "mismatch": mismatch, "error": error}, fh)


async def run_bench(dut, block: str, body) -> None:
    """Start a 10 ns clock, reset, run ``body(dut, golden, scoreboard)``, write the result file."""
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import FallingEdge

    g = Golden(os.environ["BITTRUE_GOLDEN"])
    sb = Scoreboard(g, block)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    await FallingEdge(dut.clk)  # inputs written from here on are sampled by the next rising edge
    if hasattr(dut, "rst"):
        dut.rst.value = 1
        await FallingEdge(dut.clk)
        await FallingEdge(dut.clk)
        dut.rst.value = 0
    try:
        await body(dut, g, sb)
    except Mismatch as exc:
        sb.write(str(exc))
        raise
    except Exception as exc:  # a bench error, not a mismatch: reported as such
        sb.write(None, error=f"{type(exc).__name__}: {exc}")
        raise
    sb.write(None)


async def wait_high(dut, handle, limit: int) -> int:
    """Clocks (falling edges) until ``handle`` is 1; raises after ``limit``."""
    from cocotb.triggers import FallingEdge

    for n in range(1, limit + 1):
        await FallingEdge(dut.clk)
        if bus(handle) == 1:
            return n
    raise Mismatch(f"timeout: {handle._name} not high within {limit} clocks")
