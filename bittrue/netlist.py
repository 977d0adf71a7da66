"""The network's dataflow (spec 6), stated once: an ordered list of hardware operations of one time step.

Every consumer iterates :func:`netlist` instead of restating the block sequence: the Numba runner
(:mod:`bittrue.run`), the numpy float model (:mod:`bittrue.floatmodel`), ADC calibration
(:mod:`bittrue.compile`), the energy counters' closed forms (:mod:`bittrue.energy`), the golden files' unit
order (:mod:`bittrue.golden`), and the torch models of the training tools and of the bench (``tools/``).
A changed :class:`~bittrue.model.Architecture` (depth, readout tokens, widths) therefore reaches all of them.
The two float interpreters (the numpy float model and the bench's torch simulation) share one step loop,
:func:`interpret_step`, and differ only in their arithmetic.

One time step, for ``depth`` blocks (value names are the signal paths the runner emits)::

    input/prob_code --ENCODER encoder--> encoder/spikes --XBAR embed--> embed/y_code
    embed/y_code --EMBED embed--> residual            (r = y + pos, and the CLS row: cls + pos[0])
    per block b (pre = blocks.b):
      residual --LIF pre.in--> s --XBAR pre.qkv--> u ; u[:, :, 0:D] --LIF pre.q--> q ; ...k (D:2D), v (2D:3D)
      q, k, v --SSA pre.ssa--> o --XBAR pre.proj--> y --ADD pre.attn--> residual   (r += y)
      residual --LIF pre.mlp_in--> s2 --XBAR pre.mlp1--> h' --LIF pre.h--> h --XBAR pre.mlp2--> y
      y --ADD pre--> residual                          (r += y; emits pre/residual_code)
    residual[readout tokens] --LIF head.in--> z --XBAR head--> head/y_code --LOGITS head--> logits (+= over T)

Ops are plain data (:class:`Op`); consumers dispatch on :attr:`Op.kind`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

#: Op kinds.
ENCODER = "encoder"  #: input codes -> spikes (spec 5.3)
XBAR = "xbar"  #: crossbar layer: spikes -> requantised outputs (spec 4)
EMBED = "embed"  #: residual stream initialised from the embedding, position and CLS (spec 6)
LIF = "lif"  #: LIF population (spec 5.1)
SSA = "ssa"  #: stochastic spiking attention, all heads (spec 3)
ADD = "add"  #: residual add r <- sat(r + y) (spec 5.2)
LOGITS = "logits"  #: readout outputs summed over T (spec 5.4)

KINDS = (ENCODER, XBAR, EMBED, LIF, SSA, ADD, LOGITS)

#: The residual stream's value name (state carried through the step, updated in place by ADD).
RESIDUAL = "residual"
INPUT = "input/prob_code"


@dataclass(frozen=True)
class Op:
    """One hardware operation of a time step.

    Attributes
    ----------
    kind : one of :data:`KINDS`.
    name : the unit's name: crossbar layer (``embed``, ``blocks.0.qkv``, ``head``), LIF population
        (``blocks.0.q``, ``head.in``), SSA unit (``blocks.0.ssa``), residual add (``blocks.0.attn``,
        ``blocks.0``), ``encoder``, ``embed`` (EMBED) or ``head`` (LOGITS).
    src : value names read, in order (SSA: q, k, v).
    dst : the value name written.
    tokens : tokens per sample that the op processes each step.
    n_in, n_out : input and output widths per token (crossbar rows / columns; LIF width in both).
    block : block index, or -1 outside the blocks.
    col0 : LIF only: first column of ``src`` read (q, k and v read slices of the qkv output).
    readout : LIF only: reads the readout tokens of the residual (``Architecture.readout_slice``).
    emit : ADD / EMBED only: the residual after this op is a logged signal ``<name>/residual_code``.
    """

    kind: str
    name: str
    src: tuple[str, ...]
    dst: str
    tokens: int
    n_in: int
    n_out: int
    block: int = -1
    col0: int = 0
    readout: bool = False
    emit: bool = False

    @property
    def unit(self) -> str:
        """The unit name used in logs and golden files (``lif.`` prefix for LIF populations)."""
        return f"lif.{self.name}" if self.kind == LIF else self.name


def lif_out(name: str) -> str:
    return f"lif.{name}/spikes"


def xbar_out(name: str) -> str:
    return f"{name}/y_code"


@lru_cache(maxsize=64)
def netlist(arch) -> tuple[Op, ...]:
    """The ops of one time step of ``arch`` (an :class:`~bittrue.model.Architecture`), in execution order."""
    N, D, NP = arch.n_tokens, arch.dim, arch.n_patches
    ops = [Op(ENCODER, "encoder", (INPUT,), "encoder/spikes", NP, arch.token_features, arch.token_features),
           Op(XBAR, "embed", ("encoder/spikes",), xbar_out("embed"), NP, arch.token_features, D),
           Op(EMBED, "embed", (xbar_out("embed"),), RESIDUAL, N, D, D, emit=True)]
    for b in range(arch.depth):
        p = f"blocks.{b}"

        def lif(nm, src, width, col0=0):
            return Op(LIF, f"{p}.{nm}", (src,), lif_out(f"{p}.{nm}"), N, width, width, b, col0)

        def xbar(nm, src, n_in, n_out):
            return Op(XBAR, f"{p}.{nm}", (src,), xbar_out(f"{p}.{nm}"), N, n_in, n_out, b)

        ops += [lif("in", RESIDUAL, D),
                xbar("qkv", lif_out(f"{p}.in"), D, 3 * D),
                lif("q", xbar_out(f"{p}.qkv"), D, 0),
                lif("k", xbar_out(f"{p}.qkv"), D, D),
                lif("v", xbar_out(f"{p}.qkv"), D, 2 * D),
                Op(SSA, f"{p}.ssa", (lif_out(f"{p}.q"), lif_out(f"{p}.k"), lif_out(f"{p}.v")), f"{p}.ssa/o_spikes",
                   N, D, D, b),
                xbar("proj", f"{p}.ssa/o_spikes", D, D),
                Op(ADD, f"{p}.attn", (RESIDUAL, xbar_out(f"{p}.proj")), RESIDUAL, N, D, D, b),
                lif("mlp_in", RESIDUAL, D),
                xbar("mlp1", lif_out(f"{p}.mlp_in"), D, arch.mlp),
                lif("h", xbar_out(f"{p}.mlp1"), arch.mlp),
                xbar("mlp2", lif_out(f"{p}.h"), arch.mlp, D),
                Op(ADD, p, (RESIDUAL, xbar_out(f"{p}.mlp2")), RESIDUAL, N, D, D, b, emit=True)]
    R = arch.n_readout
    ops += [Op(LIF, "head.in", (RESIDUAL,), lif_out("head.in"), R, D, D, readout=True),
            Op(XBAR, "head", (lif_out("head.in"),), xbar_out("head"), R, D, arch.n_classes),
            Op(LOGITS, "head", (xbar_out("head"),), "logits", R, arch.n_classes, arch.n_classes)]
    return tuple(ops)


def interpret_step(ops, p_in, readout: slice, *, encoder, xbar, embed, lif, ssa):
    """One time step of a float interpretation of the netlist; returns the readout's input to the logits.

    The shared part of :func:`bittrue.floatmodel.float_forward` and the bench's torch simulation: the values by
    name, the LIF column slices (``q``/``k``/``v`` of the fused qkv output) and readout tokens, the residual adds
    and the readout.  The arithmetic is the caller's (numpy or torch arrays alike): ``encoder(p)``,
    ``xbar(name, x)``, ``embed(x)``, ``lif(name, x)``, ``ssa(q, k, v)``.
    """
    val = {INPUT: p_in}
    for op in ops:
        x = val[op.src[0]]
        if op.kind == ENCODER:
            y = encoder(x)
        elif op.kind == XBAR:
            y = xbar(op.name, x)
        elif op.kind == EMBED:
            y = embed(x)
        elif op.kind == LIF:
            y = lif(op.name, x[:, readout] if op.readout else x[..., op.col0:op.col0 + op.n_out])
        elif op.kind == SSA:
            y = ssa(x, val[op.src[1]], val[op.src[2]])
        elif op.kind == ADD:
            y = x + val[op.src[1]]
        else:  # LOGITS
            return x
        val[op.dst] = y
    raise ValueError("interpret_step: the netlist has no LOGITS op")


def ops_of(arch, kind: str) -> tuple[Op, ...]:
    """The ops of one kind, in execution order."""
    return tuple(op for op in netlist(arch) if op.kind == kind)


def crossbars(arch) -> dict[str, Op]:
    """Crossbar layer name -> its XBAR op, in data-flow order."""
    return {op.name: op for op in ops_of(arch, XBAR)}


def lifs(arch) -> dict[str, Op]:
    """LIF population name -> its LIF op, in data-flow order."""
    return {op.name: op for op in ops_of(arch, LIF)}


def block_name(op: Op) -> str:
    """``blocks.b`` for ops inside block b; ``input`` before the blocks, ``head`` after them."""
    if op.block >= 0:
        return f"blocks.{op.block}"
    return "head" if op.name.startswith("head") else "input"


def block_names(arch) -> list[str]:
    """``input``, ``blocks.0`` .. ``blocks.{depth-1}``, ``head``: the groups of reports, in order."""
    out: list[str] = []
    for op in netlist(arch):
        b = block_name(op)
        if b not in out:
            out.append(b)
    return out


def producer(arch, value: str) -> Op | None:
    """The op that writes ``value`` (the last one, for the residual), or None for the input codes."""
    found = None
    for op in netlist(arch):
        if op.dst == value:
            found = op
    return found


def crossbar_input(arch, name: str) -> str:
    """The value (signal path) that drives the word lines of crossbar layer ``name``."""
    return crossbars(arch)[name].src[0]


def unit_order(arch) -> list[str]:
    """Hardware units in data-flow order (golden files' ``/layers/NN_<unit>``): ``input``, then each op's unit
    once (the residual adds as ``blocks.b`` only, where the block's residual is logged)."""
    out = ["input"]
    for op in netlist(arch):
        u = op.unit
        if op.kind == ADD and not op.emit or op.kind == LOGITS or u in out:
            continue
        out.append(u)
    return out
