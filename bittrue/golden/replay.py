"""What an RTL replay needs: hardware units in order, companion signal groups, replay attributes."""
from __future__ import annotations

from typing import Iterable

from .. import netlist


# ============================================================================ units and chip digests
def unit_order(arch) -> list[str]:
    """Hardware units in data-flow order: the ``NN`` of ``/layers/NN_<unit>`` (:func:`bittrue.netlist.unit_order`)."""
    return netlist.unit_order(arch)


def crossbar_input(arch, name: str) -> str | None:
    """Run signal that holds the word-line spikes of crossbar layer ``name`` (None if there is no such layer)."""
    xb = netlist.crossbars(arch).get(name)
    return None if xb is None else xb.src[0]


# ============================================================================ replay attributes (1.2)
#: Signal groups an RTL replay of each digital block needs (``docs/golden-schema.md`` 5.2), and the group
#: whose presence means the file stores that block (``golden --replayable`` then requires the others).
REPLAY_NEEDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "encoder": ("encoder", ("seeds", "encoder")),
    "ssa": ("ssa", ("seeds", "spikes", "ssa")),
    "colpath": ("adc", ("adc", "requant")),
    "lif": ("membrane", ("membrane", "spikes", "requant", "residual")),
}


def replay_blocks(signals: Iterable[str]) -> tuple[list[str], list[str]]:
    """(blocks a file with these signal groups lets an RTL replay check, problems of the others).

    A block counts when its trigger group is stored; a problem names a stored trigger group whose
    companions are missing (such a file is not replayable for that block).
    """
    sig = set(signals)
    ok, bad = [], []
    for block, (trigger, needs) in REPLAY_NEEDS.items():
        if trigger not in sig:
            continue
        missing = [g for g in needs if g not in sig]
        if missing:
            bad.append(f"the {block} replay of group {trigger!r} also needs {', '.join(missing)}")
        else:
            ok.append(block)
    return ok, bad


def check_replayable(signals: Iterable[str]) -> None:
    """Raise ValueError (one line) unless every stored block is replayable and at least one is stored."""
    ok, bad = replay_blocks(signals)
    if bad:
        raise ValueError("not replayable: " + "; ".join(bad))
    if not ok:
        raise ValueError("not replayable: store at least one of the groups "
                         + ", ".join(t for t, _ in REPLAY_NEEDS.values()))


def _lif_inputs(arch, site: str) -> tuple[list[str], int, int]:
    """(signals summed into LIF ``site``'s input, first input column, first token) (spec 6)."""
    def residual_before(b: int) -> str:
        return "embed/residual_code" if b == 0 else f"blocks.{b - 1}/residual_code"

    if site == "head.in":
        return [residual_before(arch.depth)], 0, int(arch.readout_slice.start or 0)
    _, b, nm = site.split(".")
    b = int(b)
    pre = f"blocks.{b}"
    return {"in": ([residual_before(b)], 0), "q": ([f"{pre}.qkv/y_code"], 0),
            "k": ([f"{pre}.qkv/y_code"], arch.dim), "v": ([f"{pre}.qkv/y_code"], 2 * arch.dim),
            "mlp_in": ([residual_before(b), f"{pre}.proj/y_code"], 0),
            "h": ([f"{pre}.mlp1/y_code"], 0)}[nm] + (0,)


def _lfsr_attrs(runner, bits: int, steps: int) -> dict:
    from ..modes import Sharing

    taps = [int(t) for t in runner.cfg.lfsr_taps()]
    return dict(lfsr_width=int(runner.width), lfsr_taps=taps, lfsr_tap_mask=int(runner.tap_mask),
                sharing=int(runner.sharing), sharing_name=Sharing(runner.sharing).name.lower(),
                draw_bits=int(bits), steps_per_draw=int(steps))


def replay_attrs(runner, unit: str) -> dict:
    """Attributes of group ``/layers/NN_<unit>`` that an RTL replay reads (schema 1.2, section 5.1).

    Every parameter is resolved (no 0-means-default): K_S, K_O, draw widths, clocks per draw of each
    phase, LFSR width and taps, sharing, mask, the head-to-column map and the signals feeding the block.
    """
    from ..hwfile import layer_key
    from ..modes import Mask, Reset

    arch, cfg = runner.arch, runner.cfg
    if unit == "encoder":
        a = _lfsr_attrs(runner, runner.cfg.encoder.bits, runner.steps_enc)
        a.update(n_rows=int(arch.n_patches), n_cols=int(arch.token_features),
                 register_grid=list(runner.enc_grid), input_signal="inputs/feature_code",
                 seed_signal="encoder/lfsr_seed")
        return a
    if unit.endswith(".ssa"):
        pre = unit[: -len(".ssa")]
        a = _lfsr_attrs(runner, 0, 0)
        del a["draw_bits"], a["steps_per_draw"]
        a.update(k_s=int(runner.k_s), k_o=int(runner.k_o), draw_bits_s=int(runner.bits_s),
                 draw_bits_o=int(runner.bits_o), steps_per_draw_s=int(runner.steps_s),
                 steps_per_draw_o=int(runner.steps_o), mask=int(arch.mask), mask_name=Mask(arch.mask).name.lower(),
                 n_tokens=int(arch.n_tokens), d_k=int(arch.d_k), heads=int(arch.heads),
                 head_col0=[int(h * arch.d_k) for h in range(arch.heads)],
                 q_signal=f"lif.{pre}.q/spikes", k_signal=f"lif.{pre}.k/spikes", v_signal=f"lif.{pre}.v/spikes",
                 seed_s_signal=f"{unit}/lfsr_seed_s", seed_o_signal=f"{unit}/lfsr_seed_o",
                 register_grid_s=list(runner.s_grid), register_grid_o=list(runner.o_grid))
        return a
    if unit in runner.layers:
        lay = runner.layers[unit]
        return dict(adc_bits=int(cfg.tile.adc_bits), acc_width=32, requant_m_bits=int(cfg.tile.requant_m_bits),
                    out_width=int(cfg.lif.width), s_shift=int(lay.s_shift),
                    chip_layer=f"/chip/layers/{layer_key(lay.layer_id, lay.name)}")
    if unit.startswith("lif."):
        sigs, col0, tok0 = _lif_inputs(arch, unit[4:])
        return dict(leak_shift=int(cfg.lif.leak_shift), reset=int(cfg.lif.reset),
                    reset_name=Reset(cfg.lif.reset).name.lower(), width=int(cfg.lif.width),
                    frac_bits=int(cfg.lif.frac_bits), input_signals=sigs, input_col0=int(col0),
                    input_token0=int(tok0))
    return {}


def seed_shape_attrs(runner, signal: str) -> dict:
    """``register_shape`` / ``register_dims`` of a seed dataset: its flat register axis unflattened."""
    unit, _, name = signal.partition("/")
    if name == "lfsr_seed" and unit == "encoder":
        return dict(register_shape=[1, *runner.enc_grid], register_dims=["head", "row", "col"])
    if name in ("lfsr_seed_s", "lfsr_seed_o"):
        grid = runner.s_grid if name.endswith("_s") else runner.o_grid
        return dict(register_shape=[int(runner.arch.heads), *grid], register_dims=["head", "row", "col"])
    return {}
