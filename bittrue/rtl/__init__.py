"""RTL reference of XPK-1's digital blocks and its check against golden vectors (``docs/rtl.md``).

``hdl/`` holds synthesizable Verilog-2005 (Icarus Verilog 11): the LFSR, the input encoder, one SSA head,
the ADC-code-to-output column path and the LIF neuron; ``tb/`` holds cocotb testbenches that replay a
golden file through them (h5py + numpy only: they import nothing of bittrue).

:func:`export` copies both folders; :func:`check` reads a golden file's replay attributes (schema >= 1.2),
builds each module with the file's parameters, runs its testbench and returns the values compared per
signal or the first mismatch.  Needs ``iverilog``/``vvp`` on PATH and the ``rtl`` extra (cocotb).
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..model import ModelError

INSTALL = ("needs Icarus Verilog and cocotb: apt-get install -y iverilog (or your OS's iverilog package) "
           "and pip install \"bittrue[rtl]\"")

#: block -> (top module, testbench module, Verilog sources)
BLOCKS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "encoder": ("xpk_encoder", "tb_encoder", ("xpk_lfsr_bank.v", "xpk_draw_ctl.v", "xpk_encoder.v")),
    "ssa": ("xpk_ssa_head", "tb_ssa", ("xpk_lfsr_bank.v", "xpk_ssa_head.v")),
    "colpath": ("xpk_colpath", "tb_colpath", ("xpk_colpath.v",)),
    "lif": ("xpk_lif", "tb_lif", ("xpk_lif.v",)),
}


class RtlError(ModelError):
    """The RTL check cannot run (tools missing, file not replayable): one line, exit 2."""


def source_dir() -> Path:
    """The shipped ``bittrue/rtl`` folder (``hdl/`` and ``tb/``)."""
    return Path(__file__).resolve().parent


def export(dest: str | Path, force: bool = False) -> list[Path]:
    """Copy ``hdl/`` and ``tb/`` to ``dest`` (atomically: a temporary folder renamed into place)."""
    from ..fileio import OutputError

    dest = Path(dest)
    if dest.exists() and not force:
        raise OutputError(f"output {dest} exists: pass --force to overwrite it")
    if dest.exists() and not dest.is_dir():
        raise OutputError(f"output {dest} is not a directory")
    parent = dest.parent if str(dest.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"output {dest}: directory {parent} does not exist")
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".part", dir=parent))
    try:
        files = []
        for sub in ("hdl", "tb"):
            (tmp / sub).mkdir()
            for f in sorted((source_dir() / sub).iterdir()):
                if f.suffix in (".v", ".py"):
                    shutil.copy2(f, tmp / sub / f.name)
                    files.append(dest / sub / f.name)
        os.chmod(tmp, 0o755)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
        return files
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def tools_missing() -> str | None:
    """None when iverilog, vvp and cocotb are available, else what is missing."""
    missing = [t for t in ("iverilog", "vvp") if shutil.which(t) is None]
    if importlib.util.find_spec("cocotb") is None or importlib.util.find_spec("cocotb_tools") is None:
        missing.append("cocotb")
    return ", ".join(missing) or None


@dataclass
class BlockResult:
    block: str
    params: dict
    counts: dict[str, int] = field(default_factory=dict)
    cycles: dict[str, int] = field(default_factory=dict)
    mismatch: str | None = None
    seconds: float = 0.0


@dataclass
class CheckResult:
    ok: bool
    samples: int
    timesteps: int
    blocks: list[BlockResult]
    skipped: list[str]
    seconds: float

    @property
    def mismatch(self) -> str | None:
        return next((b.mismatch for b in self.blocks if b.mismatch), None)

    def counts(self) -> dict[str, int]:
        return {k: v for b in self.blocks for k, v in b.counts.items()}


def _attr(g, name):
    v = g.attrs[name]
    return v.item() if hasattr(v, "item") and getattr(v, "ndim", 1) == 0 else v


def block_params(f, block: str) -> dict:
    """Module parameters of ``block`` from a golden file's replay attributes (``docs/rtl.md``)."""
    units = {str(g.attrs["unit"]): g for g in f["layers"].values()}
    kinds: dict[str, list] = {}
    for g in units.values():
        kinds.setdefault(str(g.attrs["kind"]), []).append(g)
    if block == "encoder":
        g = units["encoder"]
        return dict(WIDTH=int(_attr(g, "lfsr_width")), TAP_MASK=int(_attr(g, "lfsr_tap_mask")),
                    K=int(_attr(g, "draw_bits")), STEPS=int(_attr(g, "steps_per_draw")),
                    SHARING=int(_attr(g, "sharing")), ROWS=int(_attr(g, "n_rows")), COLS=int(_attr(g, "n_cols")))
    if block == "ssa":
        g = kinds["ssa"][0]
        for other in kinds["ssa"][1:]:  # one build serves every block: the parameters must agree
            for k in ("n_tokens", "d_k", "k_s", "k_o", "lfsr_tap_mask", "sharing", "mask"):
                if _attr(other, k) != _attr(g, k):
                    raise RtlError(f"SSA groups disagree on {k}")
        return dict(N=int(_attr(g, "n_tokens")), DK=int(_attr(g, "d_k")), KS_BITS=int(_attr(g, "draw_bits_s")),
                    KO_BITS=int(_attr(g, "draw_bits_o")), WIDTH=int(_attr(g, "lfsr_width")),
                    TAP_MASK=int(_attr(g, "lfsr_tap_mask")), SHARING=int(_attr(g, "sharing")),
                    MASK=int(_attr(g, "mask")), STEPS_S=int(_attr(g, "steps_per_draw_s")),
                    STEPS_O=int(_attr(g, "steps_per_draw_o")))
    if block == "colpath":
        g = kinds["crossbar"][0]
        return dict(LANES=int(_attr(g, "tile_cols")), ADC_BITS=int(_attr(g, "adc_bits")),
                    ACC_WIDTH=int(_attr(g, "acc_width")), M_BITS=int(_attr(g, "requant_m_bits")),
                    OUT_WIDTH=int(_attr(g, "out_width")))
    if block == "lif":
        gs = kinds["lif"]
        lanes = max(int(g["v_code"].shape[-1]) for g in gs if "v_code" in g)
        g = gs[0]
        return dict(LANES=lanes, WIDTH=int(_attr(g, "width")), LEAK_SHIFT=int(_attr(g, "leak_shift")),
                    RESET_SOFT=int(_attr(g, "reset")))
    raise ValueError(block)


def plan(path: str | Path) -> tuple[list[str], list[str], int, int]:
    """(blocks to check, notes on blocks that cannot be, samples, T) of a golden file; RtlError if none."""
    from ..golden import GoldenFile, replay_blocks, version_tuple

    with GoldenFile(path) as gf:
        f = gf.f
        if version_tuple(f.attrs["schema_version"]) < (1, 2, 0):
            raise RtlError(f"{path}: schema {f.attrs['schema_version']} holds no replay attributes (1.2.0 and "
                           f"later do): write the file again with this bittrue")
        signals = json.loads(str(f.attrs.get("signals", "[]")))
        ok, bad = replay_blocks(signals)
        if not ok:
            raise RtlError(f"{path}: nothing to replay ({'; '.join(bad) or 'no encoder, ssa, adc or membrane group'}"
                           f"; docs/golden-schema.md 5.2)")
        return ok, bad, int(f["inputs/sample_id"].shape[0]), int(f.attrs["timesteps"])


def check(path: str | Path, *, rtl_dir: str | Path | None = None, blocks: list[str] | None = None,
          log=None) -> CheckResult:
    """Replay golden file ``path`` through the RTL of every block it stores (or ``blocks``).

    ``rtl_dir``: a folder laid out as :func:`export` writes it (default: the shipped sources), e.g. an
    edited copy.  Raises :class:`RtlError` (exit 2) when the tools are missing or the file cannot be
    replayed; a mismatch is returned in the result (exit 1).
    """
    t0 = time.perf_counter()
    missing = tools_missing()
    if missing:
        raise RtlError(f"rtl check {INSTALL} (missing: {missing})")
    path = Path(path).resolve()
    todo, notes, n, T = plan(path)
    if blocks:
        unknown = [b for b in blocks if b not in BLOCKS]
        if unknown:
            raise RtlError(f"unknown block {unknown[0]!r}; choose from {', '.join(BLOCKS)}")
        absent = [b for b in blocks if b not in todo]
        if absent:
            raise RtlError(f"{path}: block {absent[0]} cannot be replayed from this file")
        todo = [b for b in todo if b in blocks]
    src = Path(rtl_dir).resolve() if rtl_dir else source_dir()
    for b in todo:
        for fname in BLOCKS[b][2]:
            if not (src / "hdl" / fname).is_file():
                raise RtlError(f"--rtl-dir {src}: hdl/{fname} missing")
        if not (src / "tb" / f"{BLOCKS[b][1]}.py").is_file():
            raise RtlError(f"--rtl-dir {src}: tb/{BLOCKS[b][1]}.py missing")
    import h5py

    with h5py.File(path, "r") as f:
        params = {b: block_params(f, b) for b in todo}
    results = []
    with tempfile.TemporaryDirectory(prefix="bittrue-rtl-") as work:
        for b in todo:
            res = _run_block(b, params[b], path, src, Path(work) / b, log)
            results.append(res)
            if res.mismatch:
                break
    return CheckResult(ok=all(r.mismatch is None for r in results), samples=n, timesteps=T, blocks=results,
                       skipped=notes, seconds=time.perf_counter() - t0)


def _run_block(block: str, params: dict, golden: Path, src: Path, work: Path, log) -> BlockResult:
    from cocotb_tools.runner import get_runner

    top, tb, sources = BLOCKS[block]
    work.mkdir(parents=True)
    t0 = time.perf_counter()
    if log is not None:
        log(f"rtl {block}: {top} {' '.join(f'{k}={v}' for k, v in params.items())}")
    runner = get_runner("icarus")
    result = work / "result.json"
    sim_log = work / "sim.log"
    try:
        runner.build(sources=[src / "hdl" / s for s in sources], hdl_toplevel=top, parameters=params,
                     build_dir=work / "build", always=True, log_file=work / "build.log")
    except RuntimeError:
        tail = (work / "build.log").read_text(errors="replace").strip().splitlines()[-3:]
        raise RtlError(f"iverilog could not build {top}: {' | '.join(tail)}") from None
    env = {"BITTRUE_GOLDEN": str(golden), "BITTRUE_RTL_RESULT": str(result)}
    # the runner passes sys.path on as the simulator's PYTHONPATH: the testbench folder goes first, for this call
    sys.path.insert(0, str(src / "tb"))
    try:
        runner.test(test_module=tb, hdl_toplevel=top, build_dir=work / "build", test_dir=work, extra_env=env,
                    log_file=sim_log)
    except (RuntimeError, SystemExit):
        pass  # a failing test ends the runner with SystemExit; the result file (or its absence) says what happened
    finally:
        sys.path.remove(str(src / "tb"))
    if not result.exists():
        tail = sim_log.read_text(errors="replace").strip().splitlines()[-5:] if sim_log.exists() else []
        raise RtlError(f"the {block} testbench ended without a result: {' | '.join(x.strip() for x in tail)}")
    r = json.loads(result.read_text())
    if r.get("error"):
        raise RtlError(f"the {block} testbench failed: {r['error']}")
    return BlockResult(block, params, r["counts"], r["cycles"], r["mismatch"], time.perf_counter() - t0)


#: the order of the per-signal counts in the report: every draw, C, S, P, O, requantised output, membrane
_SIGNAL_ORDER = ("encoder/draw", "encoder/spikes", "ssa/draw_s", "ssa/c_code", "ssa/s_spikes", "ssa/draw_o",
                 "ssa/p_code", "ssa/o_spikes", "colpath/y_code", "lif/v_code", "lif/spikes")


def report(res: CheckResult, path, as_json: bool = False) -> str:
    """The ``rtl check`` output: one line per block and signal, then OK or the first mismatch."""
    counts = res.counts()
    keys = [k for k in _SIGNAL_ORDER if k in counts] + sorted(k for k in counts if k not in _SIGNAL_ORDER)
    if as_json:
        return json.dumps({"file": str(path), "ok": res.ok, "samples": res.samples, "timesteps": res.timesteps,
                           "values": {k: counts[k] for k in keys}, "mismatch": res.mismatch,
                           "skipped": res.skipped, "seconds": round(res.seconds, 3),
                           "blocks": [{"block": b.block, "params": b.params, "cycles": b.cycles,
                                       "seconds": round(b.seconds, 3)} for b in res.blocks]}, indent=2)
    lines = []
    for b in res.blocks:
        cyc = ", ".join(f"{v} clocks per {k}" for k, v in b.cycles.items())
        lines.append(f"rtl {b.block:8s} {BLOCKS[b.block][0]:13s} {cyc or '-'} ({b.seconds:.1f} s)")
    lines += [f"  {k:16s} {counts[k]:>12,} values" for k in keys]
    lines += [f"  not checked: {note}" for note in res.skipped]
    if res.ok:
        lines.append(f"rtl check {path}: OK {res.samples} samples, T = {res.timesteps}, {sum(counts.values()):,} "
                     f"values bit-exact ({res.seconds:.1f} s)")
    else:
        lines.append(f"rtl check {path}: {res.mismatch}")
    return "\n".join(lines)
