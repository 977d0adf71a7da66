#!/usr/bin/env python
"""Numpy forward of the ANN baseline trained by ``tools/train.py`` (no torch needed).

The ANN has the SNN's size (digits: 2x2 patches -> 16 tokens + CLS, D = 64, depth 2, 4 heads, MLP 256) with
real-valued inputs ``code / 255``, a learned CLS vector and position embedding, pre-LayerNorm blocks with
softmax attention (no mask) and tanh-approximate GELU, a final LayerNorm on the CLS token and a linear head::

    h = [cls; x @ We + be] + pos
    per block:  h += proj(MHA(LN1(h)));  h += W2 gelu(W1 LN2(h) + b1) + b2
    logits = head(LN_f(h[0]))

Weights are plain float32 arrays in an ``.npz`` (linear weights stored (in, out)), keys as PyTorch's
state_dict names (``embed.weight``, ``blocks.0.qkv.weight``, ...) plus ``meta.*`` scalars.

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


def _patchify(images: np.ndarray, p: int) -> np.ndarray:
    n, h, w, c = images.shape
    x = images.reshape(n, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(n, (h // p) * (w // p), p * p * c)


def _ln(x, g, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def _gelu(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def ann_forward(params: dict[str, np.ndarray], images: np.ndarray) -> np.ndarray:
    """Logits float64 (n, n_classes) for uint8 images (n, H, W, C) in 0..255."""
    P = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    patch, heads, depth = (int(P[f"meta.{k}"].reshape(-1)[0]) for k in ("patch", "heads", "depth"))
    eps = float(P["meta.ln_eps"].reshape(-1)[0])
    x = _patchify(np.asarray(images), patch).astype(np.float64) / 255.0
    n = x.shape[0]
    emb = x @ P["embed.weight"] + P["embed.bias"]
    h = np.concatenate([np.broadcast_to(P["cls"], (n, 1, emb.shape[-1])), emb], axis=1) + P["pos"]
    N, D = h.shape[1:]
    dk = D // heads
    for b in range(depth):
        pre = f"blocks.{b}."
        a = _ln(h, P[pre + "ln1.weight"], P[pre + "ln1.bias"], eps) @ P[pre + "qkv.weight"] + P[pre + "qkv.bias"]
        a = a.reshape(n, N, 3, heads, dk).transpose(2, 0, 3, 1, 4)
        s = a[0] @ a[1].transpose(0, 1, 3, 2) / np.sqrt(dk)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        o = (s @ a[2]).transpose(0, 2, 1, 3).reshape(n, N, D)
        h = h + o @ P[pre + "proj.weight"] + P[pre + "proj.bias"]
        m = _ln(h, P[pre + "ln2.weight"], P[pre + "ln2.bias"], eps) @ P[pre + "mlp1.weight"] + P[pre + "mlp1.bias"]
        h = h + _gelu(m) @ P[pre + "mlp2.weight"] + P[pre + "mlp2.bias"]
    z = _ln(h[:, 0], P["ln_f.weight"], P["ln_f.bias"], eps)
    return z @ P["head.weight"] + P["head.bias"]


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
