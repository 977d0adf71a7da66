#!/usr/bin/env python
"""Train the XPK-1 spiking transformer (and its ANN baseline) and write the float model.

Usage::

    python tools/train.py digits --out bittrue/models/digits.h5 --force --epochs 60 --seed 0
    python tools/train.py cifar10 --data-dir DIR --out cifar10.h5 --device cuda ...   # docs/cifar10.md

Both networks are built from the netlist (``bittrue.netlist``) by ``tools/_torch_net.py``: one torch spiking
transformer class for every architecture (digits, cifar10-vit-small, mimo-icl), readout tokens, attention mask and
CLS token from the ``Architecture``.

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
    # 5-7: retrained for the spec's SSA defaults K_S = K_O = 16 (the stages above ran with K_O = 32);
    #      7 with the full PCM noise
    python tools/train.py digits --out /tmp/ko16/A.h5 --k-o 16 --ann-epochs 0 --epochs 60 --ssa-warmup 0 \
        --init /tmp/ft/F.h5 --kd bittrue/models/digits-ann.npz --kd-weight 0.5 --lr 4e-3 --batch 256 \
        --pcm-noise 0.5 --noise-warmup 1 --shift-prob 0 --threads 1 --seed 3
    python tools/train.py digits --out /tmp/ko16/B.h5 --k-o 16 --ann-epochs 0 --epochs 80 --ssa-warmup 0 \
        --init /tmp/ko16/A.h5 --kd bittrue/models/digits-ann.npz --kd-weight 0.5 --lr 2e-3 --batch 256 \
        --pcm-noise 0.5 --noise-warmup 1 --shift-prob 0 --threads 1 --seed 4
    python tools/train.py digits --out /tmp/ko16/C2.h5 --k-o 16 --ann-epochs 0 --epochs 80 --ssa-warmup 0 \
        --init /tmp/ko16/B.h5 --kd bittrue/models/digits-ann.npz --kd-weight 0.5 --lr 2e-3 --batch 256 \
        --pcm-noise 1.0 --noise-warmup 1 --shift-prob 0 --threads 1 --seed 6
    cp /tmp/ko16/C2.h5 bittrue/models/digits.h5

(Stage 5 ran with ``--init bittrue/models/digits.h5``, the stage-4 model as it was shipped then.)  Each of stages
5-7 took 13 to 22 minutes on one CPU thread of a busy 2-core machine.

Stage N+1 reads stage N's output; ``training["stages"]`` of the result lists every command, with paths as
above.  Expect small numeric differences with other thread counts / torch builds (sampled training).

The SNN is trained in the *expectation form* of the XPK-1 datapath (spec 3, 5, 6), exactly the network of
:mod:`bittrue.floatmodel`:

* Bernoulli input encoder (P = code / 256), not differentiated;
* LIF neurons ``v <- v - v * 2^-1 + y``, spike at ``v >= theta`` (theta fixed at 1.0 unless
  ``--learn-threshold``), hard reset (``--reset soft`` for v - theta), atan surrogate gradient, reset detached;
* stochastic spiking attention: ``S ~ Bern(m * min(C, K_S) / K_S)``, ``O ~ Bern(min(S v, K_O) / K_O)`` with
  straight-through gradients ``spike = bern(p) + p - p.detach()``; K_S and K_O from ``--k-s`` / ``--k-o`` or
  the hardware configuration (spec default 16, 16);
* every linear layer is ``BatchNorm1d(x @ W)`` (bias-free; the stored bias is 0), BN statistics over
  batch x tokens.

Hardware-aware training (train mode only; the stored model and the float evaluation are noise-free):

* PCM weight noise, resampled every forward, from the ``--hardware`` configuration (default the spec's;
  ``tools/_torch_hw.pcm_weight_noise``, the twin of ``bittrue.program``): each weight is mapped to a
  differential pair (G+, G-) / g_max = max(+-w, 0) / w_max (w_max per column or per tile, ``tile.mapping``) and
  passed through the spec 4.4 device model at ``--pcm-time`` (default ``pcm.t_inference_s``, 1 day): programming
  noise, drift with per-device nu, 1/f read noise, the ``tile.g_bits`` conductance image, then global drift
  compensation (one gain per column tile of ``tile.cols``); the stochastic terms are scaled by ``--pcm-noise``
  (default 1.0).  Gradients flow straight through (w_eff = w + noise.detach()).
* ADC: the column current x @ (W / w_max) is quantised to ``--adc-bits`` (default ``tile.adc_bits``) signed codes
  with a full scale of the batch's max |I| per column tile (detached), after adding ``--out-noise`` (default
  ``tile.output_noise_lsb``) LSBs of Gaussian output noise; rounding and clamping are straight-through.

The ANN baseline (the same netlist with each op mapped to its ANN counterpart, ``tools/ann.py``'s
``ann_plan``: softmax attention, pre-LayerNorm, tanh-GELU, real-valued inputs code / 255) is written with plain arrays to ``--ann-out``; ``tools/ann.py``
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


#: Data set name -> architecture (bittrue.model.ARCHITECTURES).
ARCH_OF = {"digits": "digits", "cifar10": "cifar10-vit-small"}


def _parse(argv):
    ap = argparse.ArgumentParser(description="Train an XPK-1 spiking transformer (digits or CIFAR-10) and its ANN "
                                             "baseline.", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("arch", choices=list(ARCH_OF),
                    help="data set / architecture (spec 6): digits, or cifar10 (cifar10-vit-small; --data-dir)")
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="cifar10: the extracted cifar-10-batches-bin folder (data_batch_1..5.bin, test_batch.bin)")
    ap.add_argument("--out", type=Path, default=None,
                    help="float model (.h5); default bittrue/models/<architecture>.h5")
    ap.add_argument("--ann-out", type=Path, default=None,
                    help="ANN baseline weights (.npz); default: <out stem>-ann.npz next to --out")
    ap.add_argument("--force", action="store_true",
                    help="overwrite --out / --ann-out (the defaults are the shipped models)")
    ap.add_argument("--epochs", type=int, default=100, help="SNN training epochs")
    ap.add_argument("--ann-epochs", type=int, default=60, help="ANN training epochs (0: skip the ANN)")
    ap.add_argument("--max-steps", type=int, default=0,
                    help="stop each training (ANN, SNN) after this many optimizer steps (0: no cap; smoke runs)")
    ap.add_argument("--limit", type=int, default=0,
                    help="use only the first N training and N test samples (0: all; smoke runs)")
    ap.add_argument("--timesteps", type=int, default=0, help="time steps T (0: the architecture's); stored in "
                                                             "the model")
    ap.add_argument("--depth", type=int, default=0,
                    help="blocks (0: the architecture's); smoke runs of a smaller network, stored in the model")
    ap.add_argument("--dim", type=int, default=0,
                    help="width D (0: the architecture's; d_k = D / heads, MLP 4 D); smoke runs, stored in the model")
    ap.add_argument("--seed", type=int, default=0, help="seed of torch, numpy and data order")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=5e-3, help="Adam learning rate (cosine to 0)")
    ap.add_argument("--ann-lr", type=float, default=2e-3, help="ANN Adam learning rate")
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--label-smoothing", type=float, default=0.05)
    ap.add_argument("--shift-prob", type=float, default=0.5,
                    help="probability of a random +-1 pixel shift (data augmentation)")
    ap.add_argument("--hardware", type=Path, default=None, metavar="FILE.toml",
                    help="hardware configuration (TOML, as infer's): the PCM device model, tile mapping and width, "
                         "ADC bits and output noise of the training-time hardware model, K_S / K_O, LIF leak and "
                         "reset; default: the spec's")
    ap.add_argument("--pcm-noise", type=float, default=1.0, help="scale of the PCM stochastic terms (0: off)")
    ap.add_argument("--pcm-time", type=float, default=None,
                    help="PCM inference time for drift, s (default: pcm.t_inference_s of the hardware, 1 day)")
    ap.add_argument("--noise-warmup", type=int, default=5, help="epochs over which the noise ramps up")
    ap.add_argument("--ssa-warmup", type=int, default=15,
                    help="first epochs with S and O replaced by their expectations (curriculum), then sampled")
    ap.add_argument("--qkv-beta-init", type=float, default=1.5,
                    help="initial BN beta of the qkv layers (high q/k/v rates make the SSA less noisy)")
    ap.add_argument("--adc-bits", type=int, default=None,
                    help="ADC bits in training (0: no ADC model; default: tile.adc_bits of the hardware, 8)")
    ap.add_argument("--out-noise", type=float, default=None,
                    help="ADC output noise sigma, LSB (default: tile.output_noise_lsb of the hardware, 0.5)")
    ap.add_argument("--threshold", type=float, default=1.0, help="LIF threshold (residual units)")
    ap.add_argument("--learn-threshold", action="store_true", help="learn one threshold per LIF population")
    ap.add_argument("--reset", choices=["hard", "soft"], default=None,
                    help="LIF reset (default: lif.reset of the hardware, hard)")
    ap.add_argument("--leak-shift", type=int, default=None,
                    help="LIF leak shift (default: lif.leak_shift of the hardware, 1)")
    ap.add_argument("--eval-seed", type=int, default=0, help="seed of the numpy float evaluation")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
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
                    help="SSA score counter saturation K_S (0: the hardware's, [ssa] k_s resolved for d_k; spec "
                         "default 16); infer must then run with the same value ([ssa] k_s in --hardware FILE.toml)")
    ap.add_argument("--k-o", type=int, default=0,
                    help="SSA output counter saturation K_O (0: the hardware's, [ssa] k_o; spec default 16); "
                         "infer must then run with the same value ([ssa] k_o in --hardware FILE.toml)")
    ap.add_argument("--quiet", action="store_true")
    return ap.parse_args(argv)


class InputError(ValueError):
    """Bad command-line input: one line on stderr, exit 2."""


def load_data(args, arch):
    """(train images, train labels, test images, test labels) of ``args.arch``, capped by ``--limit``."""
    if args.arch == "digits":
        from bittrue.datasets.digits import load_digits

        (xtr, ytr), (xte, yte) = load_digits("train"), load_digits("test")
    else:
        from bittrue.datasets.cifar10 import CifarFormatError, load_cifar10

        if args.data_dir is None:
            raise InputError("cifar10 needs --data-dir DIR (the extracted cifar-10-batches-bin folder; "
                             "nothing is downloaded)")
        try:
            (xtr, ytr), (xte, yte) = load_cifar10(args.data_dir, "train"), load_cifar10(args.data_dir, "test")
        except CifarFormatError as exc:
            raise InputError(str(exc)) from None
    if args.limit:
        xtr, ytr, xte, yte = xtr[:args.limit], ytr[:args.limit], xte[:args.limit], yte[:args.limit]
    if tuple(xtr.shape[1:]) != tuple(arch.image_shape):
        raise InputError(f"{args.arch}: images {xtr.shape[1:]}, architecture {arch.name} expects "
                         f"{tuple(arch.image_shape)}")
    return xtr, ytr, xte, yte


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


def log(args, msg):
    if not args.quiet:
        print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------- main


def main(argv=None) -> int:
    from bittrue.fileio import OutputError

    args = _parse(argv)
    try:
        return _main(args, argv)
    except (InputError, OutputError) as exc:
        print(f"train.py: error: {exc}", file=sys.stderr)
        return 2


def _main(args, argv) -> int:  # noqa: C901
    import dataclasses

    import torch

    if str(ROOT / "tools") not in sys.path:
        sys.path.insert(0, str(ROOT / "tools"))
    from _torch_hw import HWOptions
    from _torch_net import (AnnTransformer, SpikingTransformer, ann_to_arrays, arrays_to_ann, load_snn,
                            snn_to_float_model)
    from ann import ann_forward, load_ann, save_ann
    from bittrue.config import ConfigError, HardwareConfig
    from bittrue.datasets import patchify
    from bittrue.floatmodel import float_predict
    from bittrue.model import ARCHITECTURES, ModelError, load_float_model, save_float_model, training_stages
    from bittrue.fileio import atomic_output, check_output
    from bittrue.modes import EncoderMode, Reset

    arch = ARCHITECTURES[ARCH_OF[args.arch]]
    if args.timesteps:
        arch = dataclasses.replace(arch, timesteps=args.timesteps)
    if args.depth:
        arch = dataclasses.replace(arch, depth=args.depth)
    if args.dim:
        if args.dim % arch.heads:
            raise InputError(f"--dim {args.dim}: must be a multiple of the {arch.heads} heads")
        arch = dataclasses.replace(arch, dim=args.dim, d_k=args.dim // arch.heads, mlp=4 * args.dim)
    try:
        arch.validate()
    except ModelError as exc:
        raise InputError(str(exc)) from None
    try:
        hw = HardwareConfig.load(args.hardware) if args.hardware else HardwareConfig()
    except ConfigError as exc:
        raise InputError(str(exc)) from None
    k_s, k_o = args.k_s or hw.resolved_k_s(arch.d_k), args.k_o or hw.resolved_k_o(arch.n_tokens)
    if k_s < 2 or k_o < 2 or k_s & (k_s - 1) or k_o & (k_o - 1):
        raise InputError(f"--k-s {k_s} and --k-o {k_o} must be powers of two >= 2 (as the hardware's)")
    leak_shift = hw.lif.leak_shift if args.leak_shift is None else args.leak_shift
    reset_name = hw.lif.reset.name.lower() if args.reset is None else args.reset
    opts = HWOptions(hw, args.pcm_noise, args.pcm_time, args.adc_bits, args.out_noise)
    out = args.out or ROOT / "bittrue" / "models" / f"{arch.name}.h5"
    ann_out = args.ann_out or out.with_name(out.stem + "-ann.npz")
    check_output(out, args.force)  # before the training, not after it
    if args.ann_epochs > 0:
        check_output(ann_out, args.force)
    xtr_img, ytr, xte_img, yte = load_data(args, arch)
    try:
        init_fm = load_float_model(args.init) if args.init is not None else None
        kd_arrays = load_ann(args.kd) if args.kd is not None else None
    except (ModelError, OSError, ValueError) as exc:
        raise InputError(f"--init/--kd: {exc}") from None

    dev = torch.device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    xte_code = patchify(xte_img, arch.patch)
    xtr_code = patchify(xtr_img, arch.patch)
    ytr_t = torch.from_numpy(ytr).to(dev)
    t_start = time.perf_counter()

    def tensor(codes, scale):
        return torch.from_numpy(codes.astype(np.float32)).to(dev) * scale

    def batches(n_epochs_done):
        perm = rng.permutation(len(ytr))
        prob = 0.0 if n_epochs_done >= args.epochs - args.clean_last else args.shift_prob
        imgs = shift_images(xtr_img[perm], prob, rng)
        codes = patchify(imgs, arch.patch)
        for i in range(0, len(perm), args.batch):
            yield codes[i:i + args.batch], ytr_t[perm[i:i + args.batch]]

    def predict(net, codes, scale):
        with torch.no_grad():
            return np.concatenate([net(tensor(codes[i:i + 256], scale)).argmax(1).cpu().numpy()
                                   for i in range(0, len(codes), 256)])

    def accuracy(net, codes, labels, scale):
        net.eval()
        acc = float(np.mean(predict(net, codes, scale) == labels))
        net.train()
        return acc

    def fit(net, epochs, scale, lr, name, noise=False, logit_div=1.0, teacher=None):
        state = getattr(net, "state", None)
        opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=args.weight_decay)
        steps = epochs * math.ceil(len(ytr) / args.batch)
        if args.max_steps:
            steps = min(steps, args.max_steps)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1,
                                                    anneal_strategy="cos")
        lossf = torch.nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
        net.train()
        done = 0
        for ep in range(epochs):
            if noise:
                state.noise = min(1.0, max(0, ep + 1 - args.noise_start) / max(1, args.noise_warmup))
                state.ssa_sample = ep >= args.ssa_warmup
            tot, correct, n = 0.0, 0, 0
            for xb, yb in batches(ep):
                if done == steps:
                    break
                out = net(tensor(xb, scale))
                loss = lossf(out / logit_div, yb)
                if teacher is not None:
                    with torch.no_grad():
                        soft = torch.softmax(teacher(tensor(xb, 1.0 / 255.0)) / args.kd_temp, 1)
                    kd = torch.nn.functional.kl_div(torch.log_softmax(out / logit_div / args.kd_temp, 1), soft,
                                                    reduction="batchmean") * args.kd_temp ** 2
                    loss = (1 - args.kd_weight) * loss + args.kd_weight * kd
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                done += 1
                tot += float(loss.detach()) * len(yb)
                correct += int((out.argmax(1) == yb).sum())
                n += len(yb)
            last = ep == epochs - 1 or done == steps
            if n and (ep % 5 == 4 or last):
                saved = state.noise if state is not None else 0.0
                if state is not None:
                    state.noise = 0.0
                te = accuracy(net, xte_code, yte, scale)
                if state is not None:
                    state.noise = saved
                if noise and not state.ssa_sample:
                    log(args, "  (test accuracy above: SSA in expectation form, curriculum phase)")
                log(args, f"{name} epoch {ep + 1}/{epochs}: loss {tot / n:.4f} train(aug,noisy) {correct / n:.4f} "
                          f"test {te:.4f}  [{time.perf_counter() - t_start:.0f} s]")
            if last:
                break
        if state is not None:
            state.noise = 0.0
            state.ssa_sample = True

    # ---- ANN baseline
    ann_acc = None
    if args.ann_epochs > 0:
        ann = AnnTransformer(arch).to(dev)
        fit(ann, args.ann_epochs, 1.0 / 255.0, args.ann_lr, "ann")
        ann_acc = accuracy(ann, xte_code, yte, 1.0 / 255.0)
        arrays = ann_to_arrays(ann, arch)
        with atomic_output(ann_out, args.force) as tmp:
            save_ann(tmp, arrays)
        np_pred = ann_forward(arrays, xte_img).argmax(1)
        ann_acc_np = float(np.mean(np_pred == yte))
        log(args, f"ANN test accuracy: torch {ann_acc:.4f}, numpy {ann_acc_np:.4f} -> {ann_out}")
    t_ann = time.perf_counter() - t_start

    # ---- SNN
    snn = SpikingTransformer(arch, k_s, k_o, opts, threshold=args.threshold, learn_threshold=args.learn_threshold,
                             leak_shift=leak_shift, hard_reset=reset_name == "hard",
                             qkv_beta_init=args.qkv_beta_init).to(dev)
    state = snn.state
    state.encoder_sample = hw.encoder.mode != EncoderMode.BITSERIAL  # spec 5.3: the bit-serial input is exact
    if init_fm is not None:
        if init_fm.arch != arch:
            raise InputError(f"--init {args.init}: architecture {init_fm.arch.name} differs from {arch.name}")
        load_snn(snn, init_fm)
        log(args, f"SNN initialised from {args.init}")
    teacher = None
    if kd_arrays is not None:
        teacher = AnnTransformer(arch).to(dev)
        arrays_to_ann(teacher, kd_arrays)
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
    snn_noisy_acc = float(np.mean(predict(snn, xte_code, 1.0 / 256.0) == yte))
    state.noise = 0.0
    snn.eval()
    train_s = time.perf_counter() - t_start

    reset = Reset.HARD if reset_name == "hard" else Reset.SOFT
    cmd = "python tools/train.py " + " ".join(sys.argv[1:] if argv is None else argv)
    stages = [cmd]
    if init_fm is not None:  # fine-tuning: keep the chain of commands that produced the starting model
        stages = training_stages(init_fm, args.init) + stages
    training = {
        "stages": stages, "init": None if args.init is None else str(args.init),
        "kd": None if args.kd is None else {"teacher": str(args.kd), "weight": args.kd_weight,
                                            "temperature": args.kd_temp},
        "clean_last_epochs": args.clean_last, "noise_start_epoch": args.noise_start,
        "seed": args.seed, "epochs": args.epochs, "ann_epochs": args.ann_epochs, "command": cmd,
        "max_steps": args.max_steps, "limit": args.limit, "device": str(dev.type),
        "torch_version": torch.__version__, "torch_threads": args.threads, "numpy_version": np.__version__,
        "optimizer": f"AdamW lr={args.lr} (ANN {args.ann_lr}) wd={args.weight_decay} one-cycle cosine, batch {args.batch}",
        "label_smoothing": args.label_smoothing, "shift_prob": args.shift_prob,
        "surrogate": "atan alpha=2, reset detached", "threshold_learned": bool(args.learn_threshold),
        "leak_shift": leak_shift, "reset": reset_name, "k_s": k_s, "k_o": k_o,
        "encoder_mode": hw.encoder.mode.name.lower(),
        "pixel_scaling": ("p = round(v * 255 / 16), encoder P = p / 256" if args.arch == "digits"
                          else "p = pixel byte, encoder P = p / 256"),
        "hw_aware": {**opts.as_dict(), "noise_warmup_epochs": args.noise_warmup,
                     "hardware": None if args.hardware is None else str(args.hardware)},
        "torch_snn_train_acc": round(snn_train_acc, 6), "torch_snn_test_acc": round(snn_test_acc, 6),
        "torch_snn_test_acc_pcm_adc_noise": round(snn_noisy_acc, 6),
        "ann_test_acc": None if ann_acc is None else round(ann_acc, 6),
        "max_abs_residual_test": round(max_r, 3),
    }
    fm = snn_to_float_model(snn, arch, training)
    with atomic_output(out, args.force) as tmp:  # the numpy check reads the file as written
        save_float_model(fm, tmp)
        fm = load_float_model(tmp)
        t0 = time.perf_counter()
        pred = float_predict(fm, xte_code, seed=args.eval_seed, leak_shift=leak_shift, reset=reset, k_s=k_s,
                             k_o=k_o, encoder_mode=hw.encoder.mode, encoder_bits=hw.encoder.bits)
        t_np = time.perf_counter() - t0
        float_acc = float(np.mean(pred == yte))
        fm.training["numpy_float_test_acc"] = round(float_acc, 6)
        fm.training["numpy_float_eval_seed"] = args.eval_seed
        save_float_model(fm, tmp)
    log(args, f"SNN: torch train {snn_train_acc:.4f} test {snn_test_acc:.4f} (PCM+ADC noise {snn_noisy_acc:.4f}); "
              f"numpy float test {float_acc:.4f} ({t_np:.1f} s); max|r| {max_r:.2f}; "
              f"ANN {ann_acc}; time: ANN {t_ann:.0f} s, total {train_s:.0f} s")
    print(f"wrote {out}" + (f" and {ann_out}" if args.ann_epochs > 0 else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
