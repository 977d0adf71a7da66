#!/usr/bin/env python
"""Where does a spiking mimo-icl network depart from its rate twin?  Hybrid forwards on the validation tasks.

    python tools/mimo_conversion.py                          # the shipped model (docs/mimo.md 11.6)
    python tools/mimo_conversion.py --pcm-layers             # its PCM noise per crossbar, 5 noisy chips
    python tools/mimo_conversion.py --model M.h5 --hardware if.toml --timesteps 16 --json

The **rate twin** of a network (``tools/train_mimo.py --rate-warmup``, docs/mimo.md 5) runs one pass: the encoder
and the SSA in expectation, each LIF population its mean spike count over T steps of a constant input.  The
spiking network runs T steps of binary spikes with Bernoulli encoder and SSA draws.  Between the two, this tool
runs **hybrids** over the T steps (``HWState.twin_lifs`` and ``encoder_sample`` of ``tools/_torch_hw.py``): each
LIF population either spikes or outputs, at every step, its rate-twin value for that step's input; the encoder
and the SSA either sample or pass their expectations.  Rows (``--rows``; default: all of them, in this order):

``twin``
    the rate twin (one pass).
``from:NAME``
    the populations from ``NAME`` on (netlist order; q, k and v of a block form one group ``blocks.b.qkv``)
    spike, the ones before it run as their twin; encoder and SSA in expectation.  Every population upstream of
    the first spiking one runs on inputs that are constant over the steps, so each such row is a clean
    network: its twin head feeds a spiking tail.  Read the rows from the last group to the first: each step adds
    one group to the spiking tail, and the change of SER is what converting that group costs, given the tail
    behind it.  ``from:`` the first group is the whole network spiking, with every draw in expectation.
``spiking+encoder``, ``spiking+ssa``
    every population spiking, and the encoder (resp. the SSA's S and O) sampled, the other in expectation.
``twin+ssa``
    every population as its twin over the T steps, the SSA sampled: what the SSA draws alone cost the twin.
``network``
    the spiking network (everything sampled), the one ``train_mimo.py`` validates (``torch val SER``; another
    random stream).

Every row is noise-free (no PCM or ADC model: the float network) and runs on the validation tasks of
``train_mimo.py`` (``eval_tasks(cfg, --val-tasks, seed=77)``, 0, 2, ..., 20 dB) under the same torch seed
(``--seed``), so the rows are paired.  Reported: the mean SER over 0..20 dB, its ratio to LMMSE-LS on the same
tasks, and the SER at 20 dB.  ``--json``: every number, with the SER per SNR.

``--pcm-layers`` measures the devices instead: the spiking network on ``--chips`` noisy chips (``train_mimo.py``'s
``chip_logits``: the configuration's full PCM device model and ADC model, torch seeds ``424242 + k``, the
chips of ``--select-noise``), with the PCM weight noise applied to some crossbars only (``HWState.pcm_layers``;
every chip draws the noise of every crossbar, so the rows read the same chips and are paired).  Rows: ``adc``
(no PCM noise, the ADC model only), ``all``, ``only:NAME`` and ``except:NAME`` for each crossbar; reported as the
mean and standard deviation over the chips.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIMPLE_ROWS = ("twin", "spiking+encoder", "spiking+ssa", "twin+ssa", "network")


def lif_groups(arch) -> list[tuple[str, tuple[str, ...]]]:
    """LIF populations of ``arch`` in netlist order, those that read one crossbar (q, k, v) merged into one group
    ``blocks.b.qkv``: ``[(group name, (population, ...)), ...]``."""
    from bittrue import netlist as nl

    groups: list[tuple[str, list[str]]] = []
    last_src = None
    for op in nl.netlist(arch):
        if op.kind != nl.LIF:
            continue
        if groups and op.src[0] == last_src:
            groups[-1][1].append(op.name)
        else:
            groups.append((op.name, [op.name]))
        last_src = op.src[0]
    return [(name.rsplit(".", 1)[0] + ".qkv" if len(members) > 1 else name, tuple(members))
            for name, members in groups]


def row_settings(row: str, groups) -> dict:
    """The hybrid of one row name: ``{"rate", "twin_lifs", "encoder_sample", "ssa_sample"}``; ValueError if the
    name is unknown."""
    every = frozenset(n for _g, members in groups for n in members)
    if row == "twin":
        return {"rate": True, "twin_lifs": every, "encoder_sample": False, "ssa_sample": False}
    if row.startswith("from:"):
        names = [g for g, _m in groups]
        if row[5:] not in names:
            raise ValueError(f"row {row!r}: no LIF group {row[5:]!r} (one of {', '.join(names)})")
        k = names.index(row[5:])
        return {"rate": False, "twin_lifs": frozenset(n for _g, m in groups[:k] for n in m),
                "encoder_sample": False, "ssa_sample": False}
    table = {"spiking+encoder": (frozenset(), True, False), "spiking+ssa": (frozenset(), False, True),
             "twin+ssa": (every, False, True), "network": (frozenset(), True, True)}
    if row not in table:
        raise ValueError(f"unknown row {row!r} (twin, from:GROUP, {', '.join(SIMPLE_ROWS[1:])})")
    twin, enc, ssa = table[row]
    return {"rate": False, "twin_lifs": twin, "encoder_sample": enc, "ssa_sample": ssa}


def pcm_row_layers(row: str, names) -> frozenset:
    """The crossbars whose PCM noise a ``--pcm-layers`` row applies; ValueError if the row is unknown."""
    if row == "adc":
        return frozenset()
    if row == "all":
        return frozenset(names)
    kind, _, name = row.partition(":")
    if kind in ("only", "except") and name in names:
        return frozenset([name]) if kind == "only" else frozenset(names) - {name}
    raise ValueError(f"unknown --pcm-layers row {row!r} (adc, all, only:NAME, except:NAME; "
                     f"crossbars {', '.join(names)})")


def default_pcm_rows(names) -> list[str]:
    return ["adc", "all"] + [f"only:{n}" for n in names] + [f"except:{n}" for n in names]


def default_rows(groups) -> list[str]:
    return ["twin"] + [f"from:{g}" for g, _m in reversed(groups)] + list(SIMPLE_ROWS[1:])


def hybrid_logits(net, x, settings: dict, seed: int, chunk: int = 512):
    """Logits of ``net`` (evaluation mode, noise-free) on inputs ``x`` as the hybrid ``settings``, torch seed
    ``seed``; the network's state switches are restored afterwards."""
    import torch

    st = net.state
    saved = (st.rate, st.twin_lifs, st.encoder_sample, st.ssa_sample, st.noise)
    st.rate, st.twin_lifs = settings["rate"], settings["twin_lifs"]
    st.encoder_sample, st.ssa_sample, st.noise = settings["encoder_sample"], settings["ssa_sample"], 0.0
    was_training = net.training
    net.eval()
    try:
        torch.manual_seed(seed)
        with torch.no_grad():
            return torch.cat([net(x[i:i + chunk]) for i in range(0, len(x), chunk)])
    finally:
        st.rate, st.twin_lifs, st.encoder_sample, st.ssa_sample, st.noise = saved
        net.train(was_training)


def pcm_chip_logits(net, opts, x, layers: frozenset, seed: int):
    """Logits of one noisy chip (``train_mimo.chip_logits``, seed ``seed``) with the PCM noise applied to the
    crossbars ``layers`` only; the network's ``pcm_layers`` switch is restored afterwards."""
    from train_mimo import chip_logits

    saved = net.state.pcm_layers
    net.state.pcm_layers = layers
    try:
        return chip_logits(net, opts, x, 1.0, seed)
    finally:
        net.state.pcm_layers = saved


def _parse(argv):
    p = argparse.ArgumentParser(prog="mimo_conversion.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="float model .h5 (default: the shipped mimo-icl)")
    p.add_argument("--hardware", default=None, metavar="FILE.toml",
                   help="hardware configuration (K_S, K_O and the LIF's leak shift and reset; default the spec's)")
    p.add_argument("--timesteps", type=int, default=None, help="T (default: the model's)")
    p.add_argument("--rows", nargs="+", default=None, help="rows (default: all, see above)")
    p.add_argument("--val-tasks", type=int, default=1100,
                   help="validation tasks, a multiple of 11 (0, 2, ..., 20 dB; default 1100, train_mimo.py's)")
    p.add_argument("--seed", type=int, default=0, help="torch seed of every row (default 0)")
    p.add_argument("--pcm-layers", action="store_true",
                   help="rows of PCM noise on some crossbars, on --chips noisy chips (see above)")
    p.add_argument("--chips", type=int, default=5, help="--pcm-layers: noisy chips per row (default 5)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", action="store_true", help="every number as JSON on stdout")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.val_tasks < 11 or args.val_tasks % 11:
        p.error(f"--val-tasks {args.val_tasks}: must be a positive multiple of 11")
    if args.timesteps is not None and args.timesteps < 1:
        p.error("--timesteps must be >= 1")
    if args.threads < 1:
        p.error("--threads must be >= 1")
    if args.chips < 1:
        p.error("--chips must be >= 1")
    return args


def main(argv=None) -> int:
    args = _parse(argv)
    import torch

    if str(ROOT / "tools") not in sys.path:
        sys.path.insert(0, str(ROOT / "tools"))
    from _torch_hw import HWOptions
    from _torch_net import SpikingTransformer, load_snn
    from train_mimo import SELECT_SEED, VAL_SEED, ser_table
    from bittrue.config import ConfigError, HardwareConfig
    from bittrue.datasets.mimo import EVAL_SNR_DB, eval_tasks, prompt_tokens
    from bittrue.mimo_baselines import detect, mean_ser, ser_by_snr
    from bittrue.workloads import mimo_config
    from bittrue.model import ModelError, default_model_path, load_float_model, trained_config_mismatches

    def fail(msg):
        print(f"mimo_conversion.py: error: {msg}", file=sys.stderr)
        return 2

    try:
        hw = HardwareConfig.load(args.hardware) if args.hardware else HardwareConfig()
    except ConfigError as exc:
        return fail(exc)
    model_path = args.model or default_model_path("mimo-icl")
    try:
        fm = load_float_model(model_path)
    except ModelError as exc:
        return fail(exc)
    arch = fm.arch
    cfg = mimo_config(arch)  # the model's token format (its copies of the ramp and one-hot blocks)
    if arch.readout_tokens != cfg.queries or arch.token_features != cfg.token_features:
        return fail(f"{model_path}: not a mimo-icl model (readout of {arch.readout_tokens} tokens of "
                    f"{arch.token_features} features; the MIMO tasks have {cfg.queries} of {cfg.token_features})")
    if args.timesteps is not None:
        arch = dataclasses.replace(arch, timesteps=args.timesteps)
    groups = lif_groups(arch)
    xbars = list(arch.linear_shapes())
    try:
        if args.pcm_layers:
            rows = args.rows or default_pcm_rows(xbars)
            settings = [pcm_row_layers(r, xbars) for r in rows]
        else:
            rows = args.rows or default_rows(groups)
            settings = [row_settings(r, groups) for r in rows]
    except ValueError as exc:
        return fail(exc)
    for msg in trained_config_mismatches(fm, hw):
        print(f"mimo_conversion.py: warning: {msg}", file=sys.stderr)

    torch.set_num_threads(args.threads)
    opts = HWOptions(hw)
    net = SpikingTransformer(arch, hw.resolved_k_s(arch.d_k), hw.resolved_k_o(arch.n_tokens), opts,
                             leak_shift=hw.lif.leak_shift, hard_reset=hw.lif.reset.name == "HARD")
    load_snn(net, fm)
    val = eval_tasks(cfg, args.val_tasks, seed=VAL_SEED, snr_grid_db=EVAL_SNR_DB[:11])
    x = torch.from_numpy(prompt_tokens(val, cfg).astype(np.float32) / 256.0)
    lmmse = mean_ser(ser_by_snr(detect(val, cfg, "lmmse-ls"), val["query_idx"], val["snr_db"]))

    out = []
    for row, s in zip(rows, settings):
        t0 = time.perf_counter()
        if args.pcm_layers:
            tabs = [ser_table(pcm_chip_logits(net, opts, x, s, SELECT_SEED + k).argmax(-1).numpy(),
                              val, cfg) for k in range(args.chips)]
            per_chip = [mean_ser(t) for t in tabs]
            tab = {snr: float(np.mean([t[snr] for t in tabs])) for snr in tabs[0]}
            m = float(np.mean(per_chip))
            entry = {"row": row, "pcm_layers": sorted(s), "chips": args.chips, "mean_ser_by_chip": per_chip,
                     "sd_chips": float(np.std(per_chip, ddof=1)) if args.chips > 1 else 0.0}
        else:
            tab = ser_table(hybrid_logits(net, x, s, args.seed).argmax(-1).numpy(), val, cfg)
            m = mean_ser(tab)
            entry = {"row": row, "rate": s["rate"], "spiking": sorted(n for _g, mem in groups for n in mem
                                                                      if n not in s["twin_lifs"]),
                     "encoder_sample": s["encoder_sample"], "ssa_sample": s["ssa_sample"]}
        out.append(dict(entry, mean_ser=m, ratio_lmmse_ls=m / lmmse, ser_20db=tab[20.0], ser_by_snr=tab))
        if not args.quiet:
            print(f"{row}: {m:.4f} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)

    if args.json:
        json.dump({"model": str(model_path), "hardware": args.hardware, "timesteps": arch.timesteps,
                   "mode": "pcm-layers" if args.pcm_layers else "hybrids",
                   "val_tasks": args.val_tasks, "val_seed": VAL_SEED, "seed": args.seed,
                   "lif_groups": {g: list(m) for g, m in groups}, "lmmse_ls_mean_ser": lmmse, "rows": out},
                  sys.stdout, indent=1)
        print()
        return 0
    draws = (f"{args.chips} chips (torch seeds {SELECT_SEED}..{SELECT_SEED + args.chips - 1})" if args.pcm_layers
             else f"torch seed {args.seed}")
    print(f"model {model_path}, T = {arch.timesteps}, {args.val_tasks} validation tasks (seed {VAL_SEED}), "
          f"{draws}; LMMSE-LS mean SER {lmmse:.4f}")
    sd = f" {'sd (chips)':>10s}" if args.pcm_layers else ""
    print(f"{'row':28s} {'mean SER':>9s} {'/ LMMSE-LS':>10s} {'SER 20 dB':>10s}{sd}")
    for r in out:
        sd = f" {r['sd_chips']:10.4f}" if args.pcm_layers else ""
        print(f"{r['row']:28s} {r['mean_ser']:9.4f} {r['ratio_lmmse_ls']:10.2f} {r['ser_20db']:10.4f}{sd}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
