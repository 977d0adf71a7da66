#!/usr/bin/env python
"""Train the XPK-1 spiking transformer (and its ANN baseline) and write the float model.

Usage::

    python tools/train.py digits --out bittrue/models/digits.h5 --epochs 60 --seed 0

The shipped ``bittrue/models/digits.h5`` is trained in stages, each fine-tuning the previous one with
``--init`` (the model's ``training["stages"]`` lists the exact commands)::

    # 1: ANN baseline (60 epochs, -> /tmp/run2/digits-ann.npz = bittrue/models/digits-ann.npz) and the SNN
    #    from scratch: full PCM noise, +-1 pixel shifts, SSA in expectation form for 8 epochs
    python tools/train.py digits --out /tmp/run2/digits.h5 --epochs 50 --ssa-warmup 8 --threads 1 --seed 0
    # 2: sampled SSA throughout, PCM noise x0.5, distillation from the ANN, no shifts in the last 8 epochs
    python tools/train.py digits --out /tmp/ft/A.h5 --ann-epochs 0 --epochs 50 --ssa-warmup 0 \
        --init /tmp/run2/digits.h5 --kd bittrue/models/digits-ann.npz --kd-weight 0.5 --lr 2e-3 \
        --pcm-noise 0.5 --noise-warmup 1 --clean-last 8 --threads 1 --seed 1
    # 3: no shifts at all (augmentation hurt this capacity-/noise-limited net)
    python tools/train.py digits --out /tmp/ft/C.h5 --ann-epochs 0 --epochs 45 --ssa-warmup 0 \
        --init /tmp/ft/A.h5 --kd bittrue/models/digits-ann.npz --kd-weight 0.5 --lr 2e-3 \
        --pcm-noise 0.5 --noise-warmup 1 --shift-prob 0 --threads 1 --seed 2
    # 4: batch 256, higher lr, 80 epochs
    python tools/train.py digits --out /tmp/ft/F.h5 --ann-epochs 0 --epochs 80 --ssa-warmup 0 \
        --init /tmp/ft/C.h5 --kd bittrue/models/digits-ann.npz --kd-weight 0.5 --lr 4e-3 --batch 256 \
        --pcm-noise 0.5 --noise-warmup 1 --shift-prob 0 --threads 1 --seed 3
    cp /tmp/ft/F.h5 bittrue/models/digits.h5

Stage N+1 reads stage N's output; ``training["stages"]`` of the result lists every command, with paths as
above.  Expect small numeric differences with other thread counts / torch builds (sampled training).

The SNN is trained in the *expectation form* of the XPK-1 datapath (spec 3, 5, 6), exactly the network of
:mod:`bittrue.floatmodel`:

* Bernoulli input encoder (P = code / 256), not differentiated;
* LIF neurons ``v <- v - v * 2^-1 + y``, spike at ``v >= theta`` (theta fixed at 1.0 unless
  ``--learn-threshold``), hard reset (``--reset soft`` for v - theta), atan surrogate gradient, reset detached;
* stochastic spiking attention: ``S ~ Bern(m * min(C, K_S) / K_S)``, ``O ~ Bern(min(S v, K_O) / K_O)`` with
  straight-through gradients ``spike = bern(p) + p - p.detach()``; K_S = 16, K_O = 32 for digits;
* every linear layer is ``BatchNorm1d(x @ W)`` (bias-free; the stored bias is 0), BN statistics over
  batch x tokens.

Hardware-aware training (train mode only; the stored model and the float evaluation are noise-free):

* PCM weight noise, resampled every forward: each weight is mapped per column to a differential pair
  (G+, G-) / g_max = max(+-w, 0) / max|w_col| and passed through the spec 4.4 device model at
  ``--pcm-time`` (default 1 day): programming noise, drift with per-device nu, 1/f read noise, then global
  drift compensation (one gain per layer); the stochastic terms are scaled by ``--pcm-noise`` (default 1.0).
  Gradients flow straight through (w_eff = w + noise.detach()).
* ADC: the column current x @ (W / max|w_col|) is quantised to ``--adc-bits`` signed codes with a full scale
  of the batch's max |I| (detached), after adding ``--out-noise`` LSBs of Gaussian output noise; rounding and
  clamping are straight-through.

The ANN baseline (same patches, CLS token, D, depth, heads and MLP width; softmax attention, pre-LayerNorm,
tanh-GELU, real-valued inputs code / 255) is written with plain arrays to ``--ann-out``; ``tools/ann.py``
re-runs it with numpy only.  After training, the SNN is evaluated by torch (sampled) and by
``bittrue.floatmodel.float_forward`` (numpy, seed ``--eval-seed``); all numbers go to the model's
``training`` metadata (no timestamps).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _parse(argv):
    ap = argparse.ArgumentParser(description="Train the XPK-1 digits spiking transformer and its ANN baseline.",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("arch", choices=["digits"], help="architecture / data set (spec 6)")
    ap.add_argument("--out", type=Path, default=ROOT / "bittrue/models/digits.h5", help="float model (.h5)")
    ap.add_argument("--ann-out", type=Path, default=None,
                    help="ANN baseline weights (.npz); default: <out stem>-ann.npz next to --out")
    ap.add_argument("--epochs", type=int, default=100, help="SNN training epochs")
    ap.add_argument("--ann-epochs", type=int, default=60, help="ANN training epochs (0: skip the ANN)")
    ap.add_argument("--seed", type=int, default=0, help="seed of torch, numpy and data order")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=5e-3, help="Adam learning rate (cosine to 0)")
    ap.add_argument("--ann-lr", type=float, default=2e-3, help="ANN Adam learning rate")
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--label-smoothing", type=float, default=0.05)
    ap.add_argument("--shift-prob", type=float, default=0.5,
                    help="probability of a random +-1 pixel shift (data augmentation)")
    ap.add_argument("--pcm-noise", type=float, default=1.0, help="scale of the PCM stochastic terms (0: off)")
    ap.add_argument("--pcm-time", type=float, default=86400.0, help="PCM inference time for drift, s")
    ap.add_argument("--noise-warmup", type=int, default=5, help="epochs over which the noise ramps up")
    ap.add_argument("--ssa-warmup", type=int, default=15,
                    help="first epochs with S and O replaced by their expectations (curriculum), then sampled")
    ap.add_argument("--qkv-beta-init", type=float, default=1.5,
                    help="initial BN beta of the qkv layers (high q/k/v rates make the SSA less noisy)")
    ap.add_argument("--adc-bits", type=int, default=8, help="ADC bits in training (0: no ADC model)")
    ap.add_argument("--out-noise", type=float, default=0.5, help="ADC output noise sigma, LSB")
    ap.add_argument("--threshold", type=float, default=1.0, help="LIF threshold (residual units)")
    ap.add_argument("--learn-threshold", action="store_true", help="learn one threshold per LIF population")
    ap.add_argument("--reset", choices=["hard", "soft"], default="hard")
    ap.add_argument("--leak-shift", type=int, default=1)
    ap.add_argument("--eval-seed", type=int, default=0, help="seed of the numpy float evaluation")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--init", type=Path, default=None,
                    help="start the SNN from this float model (.h5) instead of a random init (fine-tuning)")
    ap.add_argument("--kd", type=Path, default=None,
                    help="ANN teacher (.npz, tools/ann.py format) for knowledge distillation of the SNN")
    ap.add_argument("--kd-weight", type=float, default=0.5, help="weight of the distillation loss (0..1)")
    ap.add_argument("--kd-temp", type=float, default=2.0, help="distillation temperature")
    ap.add_argument("--noise-start", type=int, default=0, help="epoch at which the noise ramp starts")
    ap.add_argument("--clean-last", type=int, default=0,
                    help="last epochs without data augmentation (shifts off)")
    ap.add_argument("--k-s", type=int, default=0,
                    help="SSA score counter saturation K_S (0: the spec default, d_k rounded up to a power of two); "
                         "infer must then run with the same value ([ssa] k_s in --hardware FILE.toml)")
    ap.add_argument("--k-o", type=int, default=0,
                    help="SSA output counter saturation K_O (0: the spec default, N rounded up to a power of two); "
                         "infer must then run with the same value ([ssa] k_o in --hardware FILE.toml)")
    ap.add_argument("--quiet", action="store_true")
    return ap.parse_args(argv)


# ----------------------------------------------------------------------------------------------- torch


def build_torch(args, arch, k_s, k_o):  # noqa: C901  (one closure-based namespace keeps this file small)
    import torch
    from _torch_hw import LIF, bern_ste, hw_linear_class
    import torch.nn as nn
    import torch.nn.functional as F

    class State:
        noise = 0.0  # current noise scale (ramped)
        forward_id = 0
        ssa_sample = True  # False: S and O are their expectations (curriculum, --ssa-warmup)  # one PCM weight-noise draw per network forward (a chip), shared by all time steps
        max_abs_r = 0.0

    state = State()

    HWLinear = hw_linear_class(state, args)

    class SNN(nn.Module):
        def __init__(self):
            super().__init__()
            D = arch.dim
            self.lin = nn.ModuleDict()
            for name, (fin, fout) in arch.linear_shapes().items():
                self.lin[name.replace(".", "_")] = HWLinear(fin, fout)
            self.lif = nn.ModuleDict({
                n.replace(".", "_"): LIF(args.threshold, args.learn_threshold, args.leak_shift, args.reset == "hard")
                for n in arch.lif_names()})
            self.pos = nn.Parameter(0.1 * torch.randn(arch.n_tokens, D))
            self.cls = nn.Parameter(0.1 * torch.randn(D))
            with torch.no_grad():
                for b in range(arch.depth):
                    self.lin[f"blocks_{b}_qkv"].bn.bias.fill_(args.qkv_beta_init)
            m = torch.ones(arch.n_tokens, arch.n_tokens)
            m.fill_diagonal_(0)
            self.register_buffer("mask", m)

        def L(self, name, x):
            return self.lin[name.replace(".", "_")](x)

        def S(self, name, x):
            return self.lif[name.replace(".", "_")](x)

        def forward(self, p):  # p (B, n_patches, F) probabilities code / 256
            for m in self.lif.values():
                m.v = None
            state.forward_id += 1
            B = p.shape[0]
            D, H, dk, N = arch.dim, arch.heads, arch.d_k, arch.n_tokens
            out = 0
            for t in range(arch.timesteps):
                e = (torch.rand_like(p) < p).to(p.dtype)
                y = self.L("embed", e)
                r = torch.cat([(self.cls + self.pos[0]).expand(B, 1, D), y + self.pos[1:]], 1)
                for b in range(arch.depth):
                    pre = f"blocks.{b}."
                    s = self.S(pre + "in", r)
                    u = self.L(pre + "qkv", s)
                    q = self.S(pre + "q", u[..., :D]).reshape(B, N, H, dk).transpose(1, 2)
                    k = self.S(pre + "k", u[..., D:2 * D]).reshape(B, N, H, dk).transpose(1, 2)
                    v = self.S(pre + "v", u[..., 2 * D:]).reshape(B, N, H, dk).transpose(1, 2)
                    c = q @ k.transpose(-1, -2)
                    sc = self.mask * c.clamp(max=k_s) / k_s
                    sc = bern_ste(sc) if state.ssa_sample else sc
                    pc = sc @ v
                    o = pc.clamp(max=k_o) / k_o
                    o = bern_ste(o) if state.ssa_sample else o
                    o = o.transpose(1, 2).reshape(B, N, D)
                    r = r + self.L(pre + "proj", o)
                    s2 = self.S(pre + "mlp_in", r)
                    h = self.S(pre + "h", self.L(pre + "mlp1", s2))
                    r = r + self.L(pre + "mlp2", h)
                    state.max_abs_r = max(state.max_abs_r, float(r.detach().abs().max()))
                z = self.S("head.in", r[:, :1])
                out = out + self.L("head", z)[:, 0]
            return out

    class ANN(nn.Module):
        def __init__(self):
            super().__init__()
            D = arch.dim
            self.embed = nn.Linear(arch.token_features, D)
            self.cls = nn.Parameter(0.02 * torch.randn(D))
            self.pos = nn.Parameter(0.02 * torch.randn(arch.n_tokens, D))
            self.blocks = nn.ModuleList()
            for _ in range(arch.depth):
                self.blocks.append(nn.ModuleDict(dict(
                    ln1=nn.LayerNorm(D), qkv=nn.Linear(D, 3 * D), proj=nn.Linear(D, D),
                    ln2=nn.LayerNorm(D), mlp1=nn.Linear(D, arch.mlp), mlp2=nn.Linear(arch.mlp, D))))
            self.ln_f = nn.LayerNorm(D)
            self.head = nn.Linear(D, arch.n_classes)
            self.drop = nn.Dropout(0.1)

        def forward(self, x):  # x (B, n_patches, F) real 0..1
            B = x.shape[0]
            D, H, dk, N = arch.dim, arch.heads, arch.d_k, arch.n_tokens
            h = torch.cat([self.cls.expand(B, 1, D), self.embed(x)], 1) + self.pos
            for blk in self.blocks:
                a = blk["qkv"](blk["ln1"](h)).reshape(B, N, 3, H, dk).permute(2, 0, 3, 1, 4)
                att = torch.softmax(a[0] @ a[1].transpose(-1, -2) / math.sqrt(dk), -1)
                o = (att @ a[2]).transpose(1, 2).reshape(B, N, D)
                h = h + self.drop(blk["proj"](o))
                h = h + self.drop(blk["mlp2"](F.gelu(blk["mlp1"](blk["ln2"](h)), approximate="tanh")))
            return self.head(self.ln_f(h[:, 0]))

    return SNN, ANN, state


# ----------------------------------------------------------------------------------------------- helpers


def shift_images(images: np.ndarray, prob: float, rng: np.random.Generator) -> np.ndarray:
    """Shift each (H, W, C) image by a random (dy, dx) in {-1, 0, 1}^2 with probability ``prob``; zero fill."""
    n, h, w, c = images.shape
    pad = np.zeros((n, h + 2, w + 2, c), images.dtype)
    pad[:, 1:-1, 1:-1] = images
    do = rng.random(n) < prob
    dy = np.where(do, rng.integers(-1, 2, n), 0)
    dx = np.where(do, rng.integers(-1, 2, n), 0)
    iy = (1 + dy)[:, None] + np.arange(h)[None, :]
    ix = (1 + dx)[:, None] + np.arange(w)[None, :]
    return pad[np.arange(n)[:, None, None], iy[:, :, None], ix[:, None, :]]


def snn_to_float_model(net, arch, training):
    from bittrue.model import FloatModel, Linear

    linear = {}
    for name in arch.linear_shapes():
        m = net.lin[name.replace(".", "_")]
        bn = m.bn
        f = lambda t: t.detach().cpu().numpy().astype(np.float32)  # noqa: E731
        linear[name] = Linear(weight=f(m.weight), bias=np.zeros(m.weight.shape[1], np.float32),
                              bn_gamma=f(bn.weight), bn_beta=f(bn.bias), bn_mean=f(bn.running_mean),
                              bn_var=f(bn.running_var), bn_eps=float(bn.eps))
    lif = {n: float(net.lif[n.replace(".", "_")].theta().detach()) for n in arch.lif_names()}
    return FloatModel(arch=arch, linear=linear, lif_threshold=lif,
                      pos=net.pos.detach().numpy().astype(np.float32),
                      cls=net.cls.detach().numpy().astype(np.float32), training=training).validate()


def load_snn(net, fm, arch):
    """Copy a FloatModel's parameters (weights, BN affine and running statistics, thresholds, pos, cls) into net."""
    import torch

    with torch.no_grad():
        for name, lin in fm.linear.items():
            m = net.lin[name.replace(".", "_")]
            if np.any(lin.bias != 0):
                raise ValueError(f"--init: {name} has a non-zero bias")
            m.weight.copy_(torch.from_numpy(lin.weight))
            m.bn.weight.copy_(torch.from_numpy(lin.bn_gamma))
            m.bn.bias.copy_(torch.from_numpy(lin.bn_beta))
            m.bn.running_mean.copy_(torch.from_numpy(lin.bn_mean))
            m.bn.running_var.copy_(torch.from_numpy(lin.bn_var))
        for n, th in fm.lif_threshold.items():
            net.lif[n.replace(".", "_")].log_theta.fill_(math.log(th))
        net.pos.copy_(torch.from_numpy(fm.pos))
        net.cls.copy_(torch.from_numpy(fm.cls))


def arrays_to_ann(ann, arrays):
    """Inverse of :func:`ann_to_arrays`."""
    import torch

    sd = {}
    for k, v in ann.state_dict().items():
        a = arrays[k]
        if k.endswith(".weight") and a.ndim == 2:
            a = a.T
        sd[k] = torch.from_numpy(np.ascontiguousarray(a))
    ann.load_state_dict(sd)


def ann_to_arrays(ann, arch) -> dict[str, np.ndarray]:
    """Plain float32 arrays; linear weights stored (in, out)."""
    out = {"meta.dim": np.int64(arch.dim), "meta.depth": np.int64(arch.depth), "meta.heads": np.int64(arch.heads),
           "meta.patch": np.int64(arch.patch), "meta.n_classes": np.int64(arch.n_classes),
           "meta.ln_eps": np.float64(1e-5)}
    for k, v in ann.state_dict().items():
        a = v.detach().numpy().astype(np.float32)
        if k.endswith(".weight") and a.ndim == 2:
            a = np.ascontiguousarray(a.T)
        out[k] = a
    return out


def log(args, msg):
    if not args.quiet:
        print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------- main


def main(argv=None) -> int:
    args = _parse(argv)
    import torch

    from bittrue.config import HardwareConfig
    from bittrue.datasets._common import patchify
    from bittrue.datasets.digits import load_digits
    from bittrue.floatmodel import float_predict
    from bittrue.model import ARCHITECTURES, load_float_model, save_float_model
    from bittrue.modes import Reset

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    arch = ARCHITECTURES[args.arch]
    hw = HardwareConfig()
    k_s, k_o = args.k_s or hw.k_s(arch.d_k), args.k_o or hw.k_o(arch.n_tokens)
    if k_s < 2 or k_o < 2 or k_s & (k_s - 1) or k_o & (k_o - 1):
        raise SystemExit(f"train.py: --k-s {k_s} and --k-o {k_o} must be powers of two >= 2 (as the hardware's)")
    ann_out = args.ann_out or args.out.with_name(args.out.stem + "-ann.npz")

    xtr_img, ytr = load_digits("train")
    xte_img, yte = load_digits("test")
    xte_code = patchify(xte_img, arch.patch)
    xtr_code = patchify(xtr_img, arch.patch)
    ytr_t = torch.from_numpy(ytr)

    SNN, ANN, state = build_torch(args, arch, k_s, k_o)
    t_start = time.perf_counter()

    def batches(n_epochs_done):
        perm = rng.permutation(len(ytr))
        prob = 0.0 if n_epochs_done >= args.epochs - args.clean_last else args.shift_prob
        imgs = shift_images(xtr_img[perm], prob, rng)
        codes = patchify(imgs, arch.patch)
        for i in range(0, len(perm), args.batch):
            yield codes[i:i + args.batch], ytr_t[perm[i:i + args.batch]]

    def accuracy(net, codes, labels, scale):
        net.eval()
        with torch.no_grad():
            pred = []
            for i in range(0, len(codes), 256):
                x = torch.from_numpy(codes[i:i + 256].astype(np.float32)) * scale
                pred.append(net(x).argmax(1).numpy())
        net.train()
        return float(np.mean(np.concatenate(pred) == labels))

    def fit(net, epochs, scale, lr, name, noise=False, logit_div=1.0, teacher=None):
        opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=args.weight_decay)
        steps = epochs * math.ceil(len(ytr) / args.batch)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1,
                                                    anneal_strategy="cos")
        lossf = torch.nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
        net.train()
        for ep in range(epochs):
            if noise:
                state.noise = min(1.0, max(0, ep + 1 - args.noise_start) / max(1, args.noise_warmup))
                state.ssa_sample = ep >= args.ssa_warmup
            tot, correct, n = 0.0, 0, 0
            for xb, yb in batches(ep):
                x = torch.from_numpy(xb.astype(np.float32)) * scale
                out = net(x)
                loss = lossf(out / logit_div, yb)
                if teacher is not None:
                    with torch.no_grad():
                        soft = torch.softmax(teacher(torch.from_numpy(xb.astype(np.float32)) / 255.0)
                                             / args.kd_temp, 1)
                    kd = torch.nn.functional.kl_div(torch.log_softmax(out / logit_div / args.kd_temp, 1), soft,
                                                    reduction="batchmean") * args.kd_temp ** 2
                    loss = (1 - args.kd_weight) * loss + args.kd_weight * kd
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                tot += float(loss.detach()) * len(yb)
                correct += int((out.argmax(1) == yb).sum())
                n += len(yb)
            if ep % 5 == 4 or ep == epochs - 1:
                state.noise, saved = 0.0, state.noise
                te = accuracy(net, xte_code, yte, scale)
                state.noise = saved
                if noise and not state.ssa_sample:
                    log(args, "  (test accuracy above: SSA in expectation form, curriculum phase)")
                log(args, f"{name} epoch {ep + 1}/{epochs}: loss {tot / n:.4f} train(aug,noisy) {correct / n:.4f} "
                          f"test {te:.4f}  [{time.perf_counter() - t_start:.0f} s]")
        state.noise = 0.0
        state.ssa_sample = True

    # ---- ANN baseline
    ann_acc = None
    if args.ann_epochs > 0:
        ann = ANN()
        fit(ann, args.ann_epochs, 1.0 / 255.0, args.ann_lr, "ann")
        ann_acc = accuracy(ann, xte_code, yte, 1.0 / 255.0)
        arrays = ann_to_arrays(ann, arch)
        sys.path.insert(0, str(ROOT / "tools"))
        from ann import ann_forward, save_ann

        save_ann(ann_out, arrays)
        np_pred = ann_forward(arrays, xte_img).argmax(1)
        ann_acc_np = float(np.mean(np_pred == yte))
        log(args, f"ANN test accuracy: torch {ann_acc:.4f}, numpy {ann_acc_np:.4f} -> {ann_out}")
    t_ann = time.perf_counter() - t_start

    # ---- SNN
    snn = SNN()
    if args.init is not None:
        load_snn(snn, load_float_model(args.init), arch)
        log(args, f"SNN initialised from {args.init}")
    teacher = None
    if args.kd is not None:
        sys.path.insert(0, str(ROOT / "tools"))
        from ann import load_ann

        teacher = ANN()
        arrays_to_ann(teacher, load_ann(args.kd))
        teacher.eval()
        log(args, f"ANN teacher {args.kd}: test {accuracy(teacher, xte_code, yte, 1.0 / 255.0):.4f}")
        teacher.eval()
    fit(snn, args.epochs, 1.0 / 256.0, args.lr, "snn", noise=True, logit_div=float(arch.timesteps),
        teacher=teacher)
    state.max_abs_r = 0.0
    snn_train_acc = accuracy(snn, xtr_code, ytr, 1.0 / 256.0)
    snn_test_acc = accuracy(snn, xte_code, yte, 1.0 / 256.0)
    max_r = state.max_abs_r
    state.noise = 1.0
    snn.train()  # noisy weights need train-mode forward; keep BN running stats out of it
    for m in snn.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.eval()
    with torch.no_grad():
        pred = [snn(torch.from_numpy(xte_code[i:i + 256].astype(np.float32)) / 256.0).argmax(1).numpy()
                for i in range(0, len(yte), 256)]
    snn_noisy_acc = float(np.mean(np.concatenate(pred) == yte))
    state.noise = 0.0
    snn.eval()
    train_s = time.perf_counter() - t_start

    reset = Reset.HARD if args.reset == "hard" else Reset.SOFT
    cmd = "python tools/train.py " + " ".join(sys.argv[1:] if argv is None else argv)
    stages = [cmd]
    if args.init is not None:  # fine-tuning: keep the chain of commands that produced the starting model
        init_tr = load_float_model(args.init).training
        stages = list(init_tr.get("stages", [init_tr.get("command", f"unknown ({args.init})")])) + stages
    training = {
        "stages": stages, "init": None if args.init is None else str(args.init),
        "kd": None if args.kd is None else {"teacher": str(args.kd), "weight": args.kd_weight,
                                            "temperature": args.kd_temp},
        "clean_last_epochs": args.clean_last, "noise_start_epoch": args.noise_start,
        "seed": args.seed, "epochs": args.epochs, "ann_epochs": args.ann_epochs, "command": cmd,
        "torch_version": torch.__version__, "torch_threads": args.threads, "numpy_version": np.__version__,
        "optimizer": f"AdamW lr={args.lr} (ANN {args.ann_lr}) wd={args.weight_decay} one-cycle cosine, batch {args.batch}",
        "label_smoothing": args.label_smoothing, "shift_prob": args.shift_prob,
        "surrogate": "atan alpha=2, reset detached", "threshold_learned": bool(args.learn_threshold),
        "leak_shift": args.leak_shift, "reset": args.reset, "k_s": k_s, "k_o": k_o,
        "pixel_scaling": "p = round(v * 255 / 16), encoder P = p / 256",
        "hw_aware": {"pcm_noise_scale": args.pcm_noise, "pcm_time_s": args.pcm_time, "adc_bits": args.adc_bits,
                     "out_noise_lsb": args.out_noise, "noise_warmup_epochs": args.noise_warmup},
        "torch_snn_train_acc": round(snn_train_acc, 6), "torch_snn_test_acc": round(snn_test_acc, 6),
        "torch_snn_test_acc_pcm_adc_noise": round(snn_noisy_acc, 6),
        "ann_test_acc": None if ann_acc is None else round(ann_acc, 6),
        "max_abs_residual_test": round(max_r, 3),
    }
    fm = snn_to_float_model(snn, arch, training)
    save_float_model(fm, args.out)
    fm = load_float_model(args.out)
    t0 = time.perf_counter()
    pred = float_predict(fm, xte_code, seed=args.eval_seed, leak_shift=args.leak_shift, reset=reset, k_s=k_s,
                         k_o=k_o)
    t_np = time.perf_counter() - t0
    float_acc = float(np.mean(pred == yte))
    fm.training["numpy_float_test_acc"] = round(float_acc, 6)
    fm.training["numpy_float_eval_seed"] = args.eval_seed
    save_float_model(fm, args.out)
    log(args, f"SNN: torch train {snn_train_acc:.4f} test {snn_test_acc:.4f} (PCM+ADC noise {snn_noisy_acc:.4f}); "
              f"numpy float test {float_acc:.4f} ({t_np:.1f} s); max|r| {max_r:.2f}; "
              f"ANN {ann_acc}; time: ANN {t_ann:.0f} s, total {train_s:.0f} s")
    print(f"wrote {args.out}" + (f" and {ann_out}" if args.ann_epochs > 0 else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
