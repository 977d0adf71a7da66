#!/usr/bin/env python
"""Centre the embedding of a mimo-icl model and give its tokens copies: the same function, less PCM noise on y.

    python tools/mimo_centre.py IN.h5 OUT.h5 [--ramp-copies R] [--onehot-copies K] [--no-centre] [--force]

Spec 4.3 maps each crossbar column to conductances by its largest |weight| (``w_max -> g_max``).  In the
embedding crossbar of a trained mimo-icl model that weight sits on a one-hot pilot-symbol feature in almost
every column, and the weights on the 64 ramp features of y, which carry the received signal, are a small
fraction of it.  They are programmed at small conductances, where the PCM programming noise is large against
them (docs/mimo.md 11.6).  This tool rewrites the model so that the column maxima shrink while the network
computes the same function:

* **one-hot rows, per transmit antenna and column:** exactly one of an antenna's M one-hot features is on in a
  pilot token (code 255) and none in a query token, so subtracting a constant ``c`` from the antenna's M weights
  of a column lowers that column's embedding sum by ``c * 255/256`` on every pilot token, on average, and
  leaves the queries alone.  The position embedding of the pilot positions gets the same amount back, through
  the inference BatchNorm scale ``gamma / sqrt(var + eps)``.  ``c`` is the midpoint of the M weights, which
  minimises their largest |weight|;
* **query-flag row:** the flag is 255 on the query tokens, which sit at fixed positions (L .. L + Q - 1), so its
  weight moves entirely into the position embedding of those positions, and the row becomes 0.

The residual stream after the embedding is unchanged in expectation. A one-hot feature at code 255 spikes with
probability 255/256, so at about one step in 256 a pilot token gets ``c`` back without having lost it.

``--ramp-copies R --onehot-copies K`` then give the model tokens with R copies of the ramp block and K copies of
the one-hot block (``MimoConfig.ramp_copies`` / ``onehot_copies``; every copy has its own encoder draws): each
copy's rows carry ``1/R`` (``1/K``) of the weights, so the function is again unchanged in expectation.  With
``K / R`` above a column's ratio (below), no one-hot weight sets a column's ``g_max`` any more, and R copies of a
y weight average the programming noise of R devices (docs/mimo.md 11.7).  The input must be a one-copy model;
``--no-centre`` skips the centring (for a model centred before).

The output model's ``training`` metadata is the input's, with this command appended to ``stages`` and the two
medians of (column max |w|) / (column max |w| on the y rows) under ``centre_embed`` (with copies, the copies and
that median over one copy's y rows under ``embed_copies``).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

import numpy as np

P_ON = 255.0 / 256.0  #: spike probability of a feature at code 255 (spec 5.3: P = code / 256)


def column_ratio(weight: np.ndarray, y_rows: slice) -> float:
    """Median over columns of max |w| / max |w on the y rows|: how far below g_max the y weights sit."""
    a = np.abs(np.asarray(weight, np.float64))
    return float(np.median(a.max(0) / np.maximum(a[y_rows].max(0), 1e-30)))


def copy_embed(fm, cfg, ramp_copies: int, onehot_copies: int):
    """The one-copy mimo-icl model ``fm`` (token format ``cfg``) rewritten for tokens with ``ramp_copies`` copies of
    the ramp block and ``onehot_copies`` of the one-hot block: each copy's rows get ``1/copies`` of the weights
    (the query-flag row stays); the architecture records the copies.  Returns ``(model, token config)``."""
    if (fm.arch.ramp_copies, fm.arch.onehot_copies) != (1, 1) or (cfg.ramp_copies, cfg.onehot_copies) != (1, 1):
        raise ValueError(f"has {fm.arch.ramp_copies} ramp and {fm.arch.onehot_copies} one-hot copies: "
                         "copies are added to a one-copy model")
    new = dataclasses.replace(cfg, ramp_copies=ramp_copies, onehot_copies=onehot_copies)
    lay = cfg.token_layout()
    lin = fm.linear["embed"]
    w = lin.weight.astype(np.float64)
    if w.shape != (cfg.token_features, fm.arch.dim):
        raise ValueError(f"embedding of shape {w.shape}: not the {cfg.token_features}-feature mimo token format")
    w2 = np.concatenate([w[lay["y"]] / ramp_copies] * ramp_copies + [w[lay["x"]] / onehot_copies] * onehot_copies
                        + [w[lay["query"]]], axis=0)
    return _with_embedding(fm, w2, ramp_copies, onehot_copies), new


def _with_embedding(fm, weight: np.ndarray, ramp_copies: int, onehot_copies: int):
    """``fm`` with the embedding weight ``weight`` for tokens with the given copies (the architecture records them)."""
    arch = dataclasses.replace(fm.arch, token_features=weight.shape[0], ramp_copies=ramp_copies,
                               onehot_copies=onehot_copies)
    linear = dict(fm.linear)
    linear["embed"] = dataclasses.replace(fm.linear["embed"], weight=weight.astype(np.float32))
    return dataclasses.replace(fm, arch=arch, linear=linear).validate()


def centre_embed(fm, cfg):
    """The float model ``fm`` with its embedding's one-hot rows centred per antenna and column and its query-flag
    row moved into the position embedding (see the module docstring); returns ``(model, (ratio before, after))``.
    """
    lay = cfg.token_layout()
    lin = fm.linear["embed"]
    w = lin.weight.astype(np.float64)
    if w.shape != (cfg.token_features, fm.arch.dim) or lay["x"].stop - lay["x"].start != cfg.n_t * cfg.order:
        raise ValueError(f"embedding of shape {w.shape}: not the {cfg.token_features}-feature mimo token format")
    scale = lin.bn_gamma.astype(np.float64) / np.sqrt(lin.bn_var.astype(np.float64) + lin.bn_eps)
    pos = fm.pos.astype(np.float64).copy()
    L, M = cfg.pilots, cfg.order
    before = column_ratio(w, lay["y"])
    w = w.copy()
    for a in range(cfg.n_t):
        rows = slice(lay["x"].start + a * M, lay["x"].start + (a + 1) * M)
        c = (w[rows].max(0) + w[rows].min(0)) / 2
        w[rows] -= c
        pos[:L] += c * P_ON * scale
    q = lay["query"].start
    pos[L:] += w[q] * P_ON * scale
    w[q] = 0.0
    linear = dict(fm.linear)
    linear["embed"] = dataclasses.replace(lin, weight=w.astype(np.float32))
    out = dataclasses.replace(fm, linear=linear, pos=pos.astype(np.float32)).validate()
    return out, (before, column_ratio(out.linear["embed"].weight, lay["y"]))


def one_copy(fm):
    """The inverse of :func:`copy_embed`: the model with its copies of the ramp and one-hot blocks summed back into
    one block each (to float32 rounding), for the one-copy tokens."""
    from bittrue.datasets.mimo import MimoConfig

    r, k = fm.arch.ramp_copies, fm.arch.onehot_copies
    lay = MimoConfig(ramp_copies=r, onehot_copies=k).token_layout()
    w = fm.linear["embed"].weight.astype(np.float64)
    w1 = np.concatenate([w[lay["y"]].reshape(r, -1, w.shape[1]).sum(0), w[lay["x"]].reshape(k, -1, w.shape[1]).sum(0),
                         w[lay["query"]]], axis=0)
    return _with_embedding(fm, w1, 1, 1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="mimo_centre.py", description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="mimo-icl float model .h5")
    p.add_argument("out", help="output .h5 (refused if it exists, unless --force)")
    p.add_argument("--ramp-copies", type=int, default=1, metavar="R",
                   help="copies of the ramp (received-signal) block per token, 1..64 (default 1)")
    p.add_argument("--onehot-copies", type=int, default=1, metavar="K",
                   help="copies of the one-hot (pilot-symbol) block per token, 1..64 (default 1)")
    p.add_argument("--no-centre", action="store_true", help="only add the copies (the input is centred already)")
    p.add_argument("--force", action="store_true", help="overwrite OUT")
    args = p.parse_args(argv)
    from bittrue.datasets.mimo import MAX_COPIES, MimoConfig
    from bittrue.fileio import OutputError, atomic_output, check_output
    from bittrue.model import ModelError, load_float_model, save_float_model, training_stages

    def fail(msg):
        print(f"mimo_centre.py: error: {msg}", file=sys.stderr)
        return 2

    for opt, v in (("--ramp-copies", args.ramp_copies), ("--onehot-copies", args.onehot_copies)):
        if not 1 <= v <= MAX_COPIES:
            return fail(f"{opt} {v}: must be in 1..{MAX_COPIES}")
    try:
        check_output(args.out, args.force)
        fm = load_float_model(args.model)
    except (OutputError, ModelError) as exc:
        return fail(exc)
    cfg = MimoConfig()
    if fm.arch.readout_tokens != cfg.queries or fm.arch.n_tokens != cfg.pilots + cfg.queries:
        return fail(f"{args.model}: not a mimo-icl model ({fm.arch.n_tokens} tokens, readout of "
                    f"{fm.arch.readout_tokens}; the MIMO prompts have {cfg.pilots} pilots and {cfg.queries} queries)")
    try:
        if (fm.arch.ramp_copies, fm.arch.onehot_copies) != (1, 1):
            raise ValueError(f"has {fm.arch.ramp_copies} ramp and {fm.arch.onehot_copies} one-hot copies; "
                             "this tool reads one-copy models")
        if args.no_centre:
            out = fm
            before = centred = column_ratio(fm.linear["embed"].weight, cfg.token_layout()["y"])
        else:
            out, (before, centred) = centre_embed(fm, cfg)
        after = centred
        if (args.ramp_copies, args.onehot_copies) != (1, 1):
            out, new = copy_embed(out, cfg, args.ramp_copies, args.onehot_copies)
            y0 = slice(0, new.token_layout()["y"].stop // args.ramp_copies)  # the first copy
            after = column_ratio(out.linear["embed"].weight, y0)
    except ValueError as exc:
        return fail(f"{args.model}: {exc}")
    training = dict(fm.training or {})
    training["stages"] = training_stages(fm, args.model) + [
        "python tools/mimo_centre.py " + " ".join(sys.argv[1:] if argv is None else argv)]
    if not args.no_centre:
        training["centre_embed"] = {"median_column_max_over_y_max_before": round(before, 4),
                                    "median_column_max_over_y_max_after": round(centred, 4)}
    if (args.ramp_copies, args.onehot_copies) != (1, 1):
        training["embed_copies"] = {"ramp_copies": args.ramp_copies, "onehot_copies": args.onehot_copies,
                                    "median_column_max_over_y_max": round(after, 4)}
    out = dataclasses.replace(out, training=training)
    try:
        with atomic_output(args.out, args.force) as tmp:
            save_float_model(out, tmp)
    except OutputError as exc:
        return fail(exc)
    parts = [] if args.no_centre else ["embedding centred"]
    if (args.ramp_copies, args.onehot_copies) != (1, 1):
        parts.append(f"{args.ramp_copies} ramp and {args.onehot_copies} one-hot copies")
    what = ", ".join(parts) or "unchanged"
    print(f"{args.out}: {what}; median column max / y max {before:.2f} -> {after:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
