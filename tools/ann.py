#!/usr/bin/env python
"""Numpy forward of the ANN baseline trained by ``tools/train.py`` (no torch needed).

The ANN is the SNN's network (``bittrue.netlist``) with each XPK-1 op mapped to its ANN counterpart
(:func:`ann_plan`): real-valued inputs ``code / 255``, a learned CLS vector and position embedding, pre-LayerNorm
blocks (a LIF reading the residual -> LayerNorm) with softmax attention (SSA; unmasked, causal for a causal
``arch.mask``) and tanh-approximate GELU (the MLP's hidden LIF), q/k/v LIFs as identity slices, a final LayerNorm
on the readout tokens and a linear head; for digits::

    h = [cls; x @ We + be] + pos
    per block:  h += proj(MHA(LN1(h)));  h += W2 gelu(W1 LN2(h) + b1) + b2
    logits = head(LN_f(h[0]))

Weights are plain float32 arrays in an ``.npz`` (linear weights stored (in, out)), keys as PyTorch's
state_dict names (``embed.weight``, ``blocks.0.qkv.weight``, ...) plus ``meta.*`` scalars (and, since the netlist, ``meta.arch_json``: the ``Architecture``; older files get the
image classifier of their ``meta.*`` and shapes, :func:`ann_arch`).

Usage: ``python tools/ann.py [bittrue/models/digits-ann.npz]`` prints the test accuracy.
"""
from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PATH = ROOT / "bittrue" / "models" / "digits-ann.npz"


#: Attention forms and normalisations of an ANN file (``meta.attention``, ``meta.norm``; absent: the first of
#: each): softmax attention or the SSA's expectation on real rates, LayerNorm or a per-feature affine map.
ATTENTIONS = ("softmax", "ssa")
NORMS = ("layernorm", "affine")
#: What reading a damaged or foreign ``.npz`` can raise (``load_ann``, then loading the arrays into a network).
READ_ERRORS = (OSError, ValueError, KeyError, RuntimeError, EOFError, zipfile.BadZipFile)


def ann_forms(params: dict[str, np.ndarray]) -> tuple[str, int, int, str]:
    """``(attention, k_s, k_o, norm)`` of an ANN file's arrays (defaults: softmax, 16, 16, layernorm)."""
    attention = str(params.get("meta.attention", ATTENTIONS[0]))
    norm = str(params.get("meta.norm", NORMS[0]))
    if attention not in ATTENTIONS or norm not in NORMS:
        raise ValueError(f"meta.attention {attention!r} / meta.norm {norm!r}: not one of {ATTENTIONS} / {NORMS}")
    k_s, k_o = (int(np.asarray(params.get(f"meta.{c}", 16)).reshape(-1)[0]) for c in ("k_s", "k_o"))
    return attention, k_s, k_o, norm


def load_ann(path: str | Path = DEFAULT_PATH) -> dict[str, np.ndarray]:
    """Read the ANN weights (``allow_pickle=False``)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def save_ann(path: str | Path, params: dict[str, np.ndarray]) -> None:
    """Write ``params`` as an npz with fixed member timestamps (reproducible bytes)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in params.items():
            buf = io.BytesIO()
            arr = np.asarray(arr)
            np.lib.format.write_array(buf, np.ascontiguousarray(arr) if arr.ndim else arr, allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())


def ann_plan(arch) -> list[tuple]:
    """The ANN counterpart of each op of ``bittrue.netlist.netlist(arch)``: a list of ``(op, role, name)``.

    Roles: ``input`` (ENCODER: the real features themselves), ``linear`` (XBAR -> affine layer ``name``),
    ``embed`` (EMBED: ``cls`` / ``pos``), ``norm`` (a LIF reading the residual -> LayerNorm ``name``:
    ``blocks.b.ln1``, ``blocks.b.ln2``, ... in block order, ``ln_f`` outside the blocks), ``slice`` (a LIF feeding
    the SSA -> identity on its columns), ``gelu`` (any other LIF: the MLP's hidden layer), ``attention`` (SSA ->
    softmax attention), ``add`` (ADD -> residual add), ``logits`` (LOGITS: the readout's outputs).
    """
    from bittrue import netlist as nl

    ops = nl.netlist(arch)
    ssa_in = {s for op in ops if op.kind == nl.SSA for s in op.src}
    plan, norms = [], {}
    for op in ops:
        name = None
        if op.kind == nl.ENCODER:
            role = "input"
        elif op.kind == nl.XBAR:
            role, name = "linear", op.name
        elif op.kind == nl.EMBED:
            role = "embed"
        elif op.kind == nl.LIF and op.src[0] == nl.RESIDUAL:
            role = "norm"
            if op.block >= 0:
                norms[op.block] = norms.get(op.block, 0) + 1
                name = f"blocks.{op.block}.ln{norms[op.block]}"
            else:
                name = "ln_f"
        elif op.kind == nl.LIF:
            role = "slice" if op.dst in ssa_in else "gelu"
        elif op.kind == nl.SSA:
            role = "attention"
        elif op.kind == nl.ADD:
            role = "add"
        else:
            role = "logits"
        plan.append((op, role, name))
    return plan


def ann_arch(params: dict[str, np.ndarray], image_shape: tuple[int, ...] | None = None):
    """The ``Architecture`` of an ANN file: its ``meta.arch_json``, or (files written before it existed) the
    image-classifier architecture of its ``meta.*`` scalars and weight shapes (CLS readout, no mask)."""
    from bittrue.model import Architecture
    from bittrue.modes import Mask

    if "meta.arch_json" in params:
        return Architecture.from_json(str(params["meta.arch_json"]))
    meta = {k: int(np.asarray(params[f"meta.{k}"]).reshape(-1)[0]) for k in ("dim", "depth", "heads", "patch",
                                                                          "n_classes")}
    n_tok, dim = params["pos"].shape
    h, w, c = image_shape
    return Architecture(name="ann", token_features=params["embed.weight"].shape[0], n_patches=n_tok - 1, dim=dim,
                        depth=meta["depth"], heads=meta["heads"], d_k=dim // meta["heads"],
                        mlp=params["blocks.0.mlp1.weight"].shape[1], timesteps=1, n_classes=meta["n_classes"],
                        mask=Mask.NONE, cls_token=True, image_shape=(h, w, c), patch=meta["patch"])


def _ln(x, g, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def _gelu(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def ann_forward_tokens(params: dict[str, np.ndarray], x: np.ndarray, arch) -> np.ndarray:
    """Logits float64 of real token features ``x`` (n, n_patches, token_features) in 0..1: (n, n_classes) for
    a CLS readout, (n, Q, n_classes) for ``arch.readout_tokens = Q``.  Iterates :func:`ann_plan`."""
    from bittrue.modes import Mask

    P = {k: np.asarray(v, dtype=np.float64) for k, v in params.items() if not k.startswith("meta.")}
    eps = float(np.asarray(params["meta.ln_eps"]).reshape(-1)[0])
    attention, k_s, k_o, norm = ann_forms(params)
    n, heads, dk = x.shape[0], arch.heads, arch.d_k
    N, D = arch.n_tokens, arch.dim
    causal = np.triu(np.full((N, N), -np.inf), 1) if arch.mask == Mask.CAUSAL else np.zeros((N, N))
    val = {"input/prob_code": np.asarray(x, np.float64)}
    for op, role, name in ann_plan(arch):
        a = val[op.src[0]]
        if role == "input":
            y = a
        elif role == "linear":
            y = a @ P[name + ".weight"] + P[name + ".bias"]
        elif role == "embed":
            y = a + (P["pos"][1:] if arch.cls_token else P["pos"])
            if arch.cls_token:
                y = np.concatenate([np.broadcast_to(P["cls"] + P["pos"][0], (n, 1, D)), y], axis=1)
        elif role == "norm":
            a = a[:, arch.readout_slice] if op.readout else a
            if norm == "affine":  # the ablation without data-dependent division (_torch_net.Affine)
                y = a * P[name + ".weight"] + P[name + ".bias"]
            else:
                y = _ln(a, P[name + ".weight"], P[name + ".bias"], eps)
        elif role == "gelu":
            y = _gelu(a)
        elif role == "slice":
            y = a[..., op.col0:op.col0 + op.n_out]
        elif role == "attention":
            q, k, v = (t.reshape(n, N, heads, dk).transpose(0, 2, 1, 3) for t in (a, val[op.src[1]], val[op.src[2]]))
            if attention == "ssa":  # the SSA's expectation on real rates (tools/_torch_net.AnnTransformer)
                q, k, v = (1.0 / (1.0 + np.exp(-t)) for t in (q, k, v))
                s = np.minimum(q @ k.transpose(0, 1, 3, 2) / k_s, 1.0) * (causal == 0)
                y = np.minimum(s @ v / k_o, 1.0).transpose(0, 2, 1, 3).reshape(n, N, D)
            else:
                s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(dk) + causal
                s = np.exp(s - s.max(-1, keepdims=True))
                s /= s.sum(-1, keepdims=True)
                y = (s @ v).transpose(0, 2, 1, 3).reshape(n, N, D)
        elif role == "add":
            y = a + val[op.src[1]]
        else:  # logits
            return a if arch.readout_tokens else a[:, 0]
        val[op.dst] = y
    raise AssertionError("netlist without a LOGITS op")


def ann_forward(params: dict[str, np.ndarray], images: np.ndarray) -> np.ndarray:
    """Logits float64 (n, n_classes) for uint8 images (n, H, W, C) in 0..255."""
    from bittrue.datasets import patchify

    images = np.asarray(images)
    arch = ann_arch(params, images.shape[1:])
    x = patchify(images, arch.patch).astype(np.float64) / 255.0
    return ann_forward_tokens(params, x, arch)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else DEFAULT_PATH
    from bittrue.datasets.digits import load_digits

    images, labels = load_digits("test")
    acc = float(np.mean(ann_forward(load_ann(path), images).argmax(1) == labels))
    print(f"ANN test accuracy ({path.name}, {len(labels)} images): {acc:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
