#!/usr/bin/env python
"""Train the XPK-1 ``mimo-icl`` decoder (spec 6, 8; docs/mimo.md) and write the float model.

Usage::

    python tools/train_mimo.py --out bittrue/models/mimo-icl.h5 --force --steps 20000 --seed 0 [--device cuda]

The network is exactly the one of :mod:`bittrue.floatmodel` (expectation form of the XPK-1 datapath), in
PyTorch: ``tools/_torch_net.SpikingTransformer`` built from the netlist of the ``mimo-icl`` architecture (causal
SSA, no CLS token, logits read from the last Q tokens, all taken from the ``Architecture``):

* Bernoulli input encoder (P = code / 256), not differentiated;
* ``r[n] = BN_embed(e @ W_embed)[n] + pos[n]`` (no CLS token);
* LIF ``v <- v - v / 2 + y``, spike at ``v >= theta`` (one learnable threshold per LIF population,
  ``--fixed-threshold`` to freeze them at 1.0), hard reset (detached), atan surrogate gradient;
* stochastic spiking attention with the causal mask ``m = tril`` (S[i, j] = 0 for j > i; the diagonal is
  kept): ``S ~ Bern(m * min(C, K_S) / K_S)``, ``O ~ Bern(min(S v, K_O) / K_O)`` with straight-through
  gradients; K_S and K_O of the hardware configuration (spec default 16, 16).  For the first ``--ssa-warmup`` fraction of the steps S and O are replaced by
  their expectations (curriculum), then sampled;
* every linear layer is ``BatchNorm1d(x @ W)`` (bias-free; the stored bias is 0), statistics over batch x tokens;
* loss: cross entropy of every query token on its joint 16-class label (logits summed over T, divided by T);
  with ``--soft-labels ml-ls`` a weight ``--soft-weight`` of it goes to the cross entropy against the plug-in
  ML-LS posterior of each query (:func:`bittrue.mimo_baselines.ml_log_posterior` with ``H_ls`` from the pilots
  and noise variance ``N0 (1 + n_t / L)``): a soft target that carries how sure an optimal-ish detector can be,
  so a low-SNR batch no longer pushes the network towards labels the noise has made unpredictable;
* ``--timesteps`` trains for another T than the row's 8 (the model file records its T, and ``infer`` runs it);
* ``--kd ANN.npz`` distils from the same-size ANN detector (``tools/train_mimo_ann.py``): a weight ``--kd-weight``
  of the loss goes to ``T^2 KL(teacher || student)`` at temperature ``--kd-temp`` (the recipe of
  ``tools/train.py --kd``), the teacher reading the same token codes (one copy of
  each block where the model has copies, docs/mimo.md 11.7);
* ``--embed-clip K`` keeps the embedding's one-hot and query-flag weights of every column within K times the
  column's largest |weight| on the y features (clipped after every optimiser step; K falls linearly from
  ``EMBED_CLIP_START`` over ``--embed-clip-warmup`` of the run): per-column mapping (spec 4.3) gives a column's
  largest weight g_max, so the y weights then sit higher in conductance against the same PCM noise
  (docs/mimo.md 11.6).

Data: fresh tasks every step from :func:`bittrue.datasets.mimo.generate_tasks` (SNR uniform 0..20 dB), step
``s`` drawn with seed ``TRAIN_SEED_BASE + seed * 10^7 + s``; model selection on a validation set (seed
``VAL_SEED``, the evaluation grid's 0..20 dB part).  Neither touches the test set's seed (``TEST_SEED``).
By default the best step is the one with the lowest noise-free validation SER; ``--select-noise 1`` selects on
the mean over ``--select-chips`` noisy chips instead (:func:`chip_logits`: the configuration's full PCM and ADC
noise, fixed torch seeds ``SELECT_SEED + k``), which is what the bit-true chip sees.

Hardware-aware training (train mode only, ramped in over ``--noise-warmup`` of the steps): PCM weight noise of
spec 4.4 read at ``--pcm-time`` (stochastic terms scaled by ``--pcm-noise``) and an ADC model (``--adc-bits``,
full scale the batch's max |I| per column tile, ``--out-noise`` LSB output noise), both straight-through, from the
``--hardware`` configuration (default the spec's) -- the same models as ``tools/train.py`` (``tools/_torch_hw.py``).  The stored model is noise-free.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

#: Training tasks of step s: seed TRAIN_SEED_BASE + args.seed * 10^7 + s (the test set uses TEST_SEED).
TRAIN_SEED_BASE = 100_000_000
#: Validation set (model selection): seed and size.
VAL_SEED = 77
VAL_TASKS = 1100
#: Torch seed of the first PCM draw of the noisy model selection (``--select-noise``).
SELECT_SEED = 424242
#: ``--embed-clip``: the factor starts here (above a trained model's ratio, a median 4.8) and falls to its value.
EMBED_CLIP_START = 6.0


def _parse(argv):
    ap = argparse.ArgumentParser(description="Train the XPK-1 mimo-icl spiking decoder (in-context MIMO detection).",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "bittrue/models/mimo-icl.h5", help="float model (.h5)")
    ap.add_argument("--force", action="store_true", help="overwrite --out (the default is the shipped model)")
    ap.add_argument("--steps", type=int, default=20000, help="training steps (one fresh batch each)")
    ap.add_argument("--time-budget", type=float, default=0.0,
                    help="stop after this many seconds (0: no limit); the LR schedule then follows "
                         "max(step / steps, elapsed / budget)")
    ap.add_argument("--batch", type=int, default=256, help="tasks per step")
    ap.add_argument("--lr", type=float, default=2e-3, help="AdamW peak learning rate (warm-up 3 %%, cosine to 0)")
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0, help="seed of torch and of the training tasks")
    ap.add_argument("--ssa-warmup", type=float, default=0.3,
                    help="fraction of the steps with S and O in expectation form, then sampled")
    ap.add_argument("--rate-warmup", type=float, default=0.0,
                    help="fraction of the steps that train the rate twin (one pass: encoder and SSA in expectation, "
                         "each LIF its mean count over T steps of constant input; about 3 times faster per step at "
                         "T = 8), then spikes")
    ap.add_argument("--qkv-beta-init", type=float, default=1.5, help="initial BN beta of the qkv layers")
    ap.add_argument("--threshold", type=float, default=1.0, help="initial LIF threshold (residual units)")
    ap.add_argument("--fixed-threshold", action="store_true", help="do not learn the LIF thresholds")
    ap.add_argument("--pcm-noise", type=float, default=0.5, help="scale of the PCM stochastic terms (0: off)")
    ap.add_argument("--hardware", type=Path, default=None, metavar="FILE.toml",
                    help="hardware configuration (TOML, as infer's): PCM device model, tile mapping and width, ADC "
                         "bits and output noise of the training-time hardware model, K_S / K_O; default: the spec's")
    ap.add_argument("--pcm-time", type=float, default=None,
                    help="PCM inference time for drift, s (default: pcm.t_inference_s of the hardware, 1 day)")
    ap.add_argument("--adc-bits", type=int, default=None,
                    help="ADC bits in training (0: no ADC model; default: tile.adc_bits of the hardware, 8)")
    ap.add_argument("--out-noise", type=float, default=None,
                    help="ADC output noise sigma, LSB (default: tile.output_noise_lsb of the hardware, 0.5)")
    ap.add_argument("--noise-start", type=float, default=0.2, help="fraction of the steps where the noise ramp starts")
    ap.add_argument("--noise-warmup", type=float, default=0.2, help="fraction of the steps the noise ramps over")
    ap.add_argument("--soft-labels", choices=("none", "ml-ls"), default="none",
                    help="soft training targets: ml-ls = the plug-in joint posterior of the ML-LS detector "
                         "(bittrue.mimo_baselines.ml_log_posterior with H_ls and N0 (1 + n_t / L))")
    ap.add_argument("--soft-weight", type=float, default=1.0,
                    help="weight of the soft-target cross entropy (the hard-label one gets 1 - weight)")
    ap.add_argument("--timesteps", type=int, default=None,
                    help="time steps T of the trained model (default: the mimo-icl row's; the model file records it)")
    ap.add_argument("--kd", type=Path, default=None, metavar="ANN.npz",
                    help="distil from this ANN teacher (tools/ann.py format, e.g. bittrue/models/mimo-icl-ann.npz)")
    ap.add_argument("--kd-weight", type=float, default=0.5, help="weight of the distillation loss (0..1)")
    ap.add_argument("--kd-temp", type=float, default=2.0, help="distillation temperature")
    ap.add_argument("--select-noise", type=float, default=0.0,
                    help="select the best step on chips with this scale of the hardware noise (1: the configuration's "
                         "PCM and ADC noise, whatever --pcm-noise; 0: noise-free)")
    ap.add_argument("--select-chips", type=int, default=2,
                    help="PCM draws (fixed seeds) the noisy selection averages over")
    ap.add_argument("--embed-clip", type=float, default=0.0,
                    help="after every optimiser step, clip the embedding's one-hot and query-flag weights of each "
                         "column to this many times the column's largest |weight| on the y features (0: off; "
                         "docs/mimo.md 11.6: the y weights then sit higher in conductance, against the same PCM "
                         "noise)")
    ap.add_argument("--embed-clip-warmup", type=float, default=0.3,
                    help="fraction of the run over which the --embed-clip factor falls linearly from "
                         f"{EMBED_CLIP_START:g} to its value")
    ap.add_argument("--eval-every", type=int, default=500, help="validate every N steps (best model is kept)")
    ap.add_argument("--init", type=Path, default=None, help="start from this float model (.h5)")
    ap.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--eval-seed", type=int, default=0, help="seed of the numpy float validation")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.timesteps is not None and not 1 <= args.timesteps <= 256:
        ap.error(f"--timesteps {args.timesteps}: must be in 1..256")
    for name in ("soft_weight", "kd_weight", "rate_warmup"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            ap.error(f"--{name.replace('_', '-')} {getattr(args, name)}: must be in [0, 1]")
    if not args.kd_temp > 0:
        ap.error(f"--kd-temp {args.kd_temp}: must be > 0")
    if not args.select_noise >= 0:
        ap.error(f"--select-noise {args.select_noise}: must be >= 0")
    if args.select_chips < 1:
        ap.error(f"--select-chips {args.select_chips}: must be >= 1")
    if args.embed_clip != 0 and not args.embed_clip >= 1:
        ap.error(f"--embed-clip {args.embed_clip}: must be 0 (off) or >= 1")
    if not 0.0 <= args.embed_clip_warmup <= 1.0:
        ap.error(f"--embed-clip-warmup {args.embed_clip_warmup}: must be in [0, 1]")
    return args


def log(args, msg):
    if not args.quiet:
        print(msg, file=sys.stderr, flush=True)


def soft_targets(tasks, cfg) -> np.ndarray:
    """Plug-in ML-LS posterior (n, Q, M^n_t) of every query: ``H_ls`` from the pilots, ``N0 (1 + n_t / L)``."""
    from bittrue.datasets.mimo import constellation
    from bittrue.mimo_baselines import ls_estimate, ml_log_posterior

    L = cfg.pilots
    y = tasks["y"]
    h = ls_estimate(y[:, :L], tasks["x"][:, :L])
    n0 = tasks["noise_var"] * (1.0 + cfg.n_t / L)
    return np.exp(ml_log_posterior(y[:, L:], h, n0, constellation(cfg.modulation)))


def ser_table(pred_joint, tasks, cfg) -> dict[float, float]:
    """Per-SNR SER (per antenna-symbol) of joint predictions (n, Q)."""
    from bittrue.datasets.mimo import query_labels, split_joint

    err = split_joint(pred_joint, cfg.order, cfg.n_t) != query_labels(tasks, cfg, joint=False)
    per_task = err.reshape(len(err), -1).mean(1)
    snr = tasks["snr_db"]
    return {float(s): float(per_task[snr == s].mean()) for s in np.unique(snr)}


def embed_clip_factor(progress: float, clip: float, warmup: float) -> float:
    """``--embed-clip`` factor at ``progress`` (0..1): linear from :data:`EMBED_CLIP_START` to ``clip`` over the
    first ``warmup`` of the run, then ``clip``."""
    if warmup <= 0 or progress >= warmup:
        return clip
    return clip + (EMBED_CLIP_START - clip) * (1.0 - progress / warmup)


def clip_embed(weight, y_rows: slice, factor: float) -> None:
    """In place: clip the rows of the embedding ``weight`` (features, D) after ``y_rows`` (the one-hot symbol and
    query-flag features) to +-``factor`` times each column's largest |weight| on ``y_rows``."""
    import torch

    with torch.no_grad():
        bound = factor * weight[y_rows].abs().amax(0, keepdim=True)
        rest = weight[y_rows.stop:]
        rest.copy_(torch.maximum(torch.minimum(rest, bound), -bound))


def teacher_probs(teacher, x, temp: float):
    """Soft targets (B, Q, classes) of the ANN teacher at temperature ``temp`` for SNN inputs ``x = code / 256``
    (the ANN reads the same codes as ``code / 255``); no gradient."""
    import torch

    with torch.no_grad():
        return torch.softmax(teacher(x * (256.0 / 255.0)) / temp, -1)


def chip_logits(net, opts, x, noise: float, seed: int, chunk: int = 512):
    """Logits of ``net`` (evaluation mode, running BatchNorm statistics) on **one** noisy chip.

    The PCM device model and the ADC model of ``opts.hw`` act as in training, with the configuration's own PCM
    noise (scale ``noise``, whatever ``opts.pcm_noise``): one PCM draw for all of ``x``, however many chunks.
    Every random draw (PCM, encoder, SSA) comes from torch seed ``seed`` inside a forked RNG, so the result is
    a function of the weights and ``seed`` and the caller's random stream is untouched.  The network's noise
    state is restored afterwards.
    """
    import torch
    from _torch_hw import HWLinear

    state = net.state
    saved = (state.noise, state.eval_noise, state.forward_id, opts.pcm_noise, net.training)
    state.noise, state.eval_noise, opts.pcm_noise = noise, True, 1.0
    for m in net.modules():
        if isinstance(m, HWLinear):
            m._noise_id = None  # no PCM draw cached from an earlier call
    try:
        with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
            torch.manual_seed(seed)
            net.eval()
            outs = []
            with torch.no_grad():
                for i in range(0, len(x), chunk):
                    state.forward_id = -2  # forward() adds 1: every chunk reads the draw of the first
                    outs.append(net(x[i:i + chunk]))
    finally:
        state.noise, state.eval_noise, state.forward_id, opts.pcm_noise, training = saved
        net.train(training)
    return torch.cat(outs)


# ----------------------------------------------------------------------------------------------- main
def main(argv=None) -> int:  # noqa: C901
    args = _parse(argv)
    import torch

    if str(ROOT / "tools") not in sys.path:
        sys.path.insert(0, str(ROOT / "tools"))
    from _torch_hw import HWOptions
    from _torch_net import SpikingTransformer, load_snn, snn_to_float_model
    from bittrue.config import ConfigError, HardwareConfig
    from bittrue.datasets.mimo import (EVAL_SNR_DB, TEST_SEED, eval_tasks, generate_tasks, prompt_tokens,
                                       query_labels)
    from bittrue.fileio import OutputError, atomic_output, check_output
    from bittrue.floatmodel import float_forward
    from bittrue.mimo_baselines import detect, mean_ser, ser_by_snr
    from bittrue.model import ARCHITECTURES, ModelError, load_float_model, save_float_model, training_stages
    from bittrue.modes import EncoderMode
    from bittrue.workloads import mimo_config

    try:
        check_output(args.out, args.force)  # before the hour of training, not after it
    except OutputError as exc:
        print(f"train_mimo.py: error: {exc}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    arch = ARCHITECTURES["mimo-icl"]
    init_fm = None
    if args.init is not None:
        try:
            init_fm = load_float_model(args.init)
        except ModelError as exc:
            print(f"train_mimo.py: error: --init {exc}", file=sys.stderr)
            return 2
        # a model with copies of the ramp / one-hot blocks (tools/mimo_centre.py) trains in its own token format
        arch = dataclasses.replace(arch, token_features=init_fm.arch.token_features,
                                   ramp_copies=init_fm.arch.ramp_copies, onehot_copies=init_fm.arch.onehot_copies)
    if args.timesteps is not None:
        arch = dataclasses.replace(arch, timesteps=args.timesteps)
    cfg = mimo_config(arch)
    if arch.token_features != cfg.token_features:
        print(f"train_mimo.py: error: --init {args.init}: {arch.token_features} token features, not a mimo-icl "
              f"model ({cfg.token_features} with its copies)", file=sys.stderr)
        return 2
    one_copy_cols = torch.from_numpy(cfg.one_copy_features())  # --kd: the ANN teacher reads the one-copy tokens
    try:
        hw = HardwareConfig.load(args.hardware) if args.hardware else HardwareConfig()
    except ConfigError as exc:
        print(f"train_mimo.py: error: {exc}", file=sys.stderr)
        return 2
    k_s, k_o = hw.resolved_k_s(arch.d_k), hw.resolved_k_o(arch.n_tokens)
    opts = HWOptions(hw, args.pcm_noise, args.pcm_time, args.adc_bits, args.out_noise)
    seed0 = TRAIN_SEED_BASE + args.seed * 10_000_000
    assert not seed0 <= TEST_SEED < seed0 + args.steps + 1 and VAL_SEED != TEST_SEED

    net = SpikingTransformer(arch, k_s, k_o, opts, threshold=args.threshold,
                             learn_threshold=not args.fixed_threshold, leak_shift=hw.lif.leak_shift,
                             hard_reset=hw.lif.reset.name == "HARD", qkv_beta_init=args.qkv_beta_init).to(dev)
    state = net.state
    state.encoder_sample = hw.encoder.mode != EncoderMode.BITSERIAL  # spec 5.3: the bit-serial input is exact
    init_stages = []
    if init_fm is not None:  # fine-tuning: keep the chain of commands that produced the starting model
        load_snn(net, init_fm)
        init_stages = training_stages(init_fm, args.init)
        log(args, f"initialised from {args.init}")

    val = eval_tasks(cfg, VAL_TASKS, seed=VAL_SEED, snr_grid_db=EVAL_SNR_DB[:11])  # 0, 2, ..., 20 dB
    val_x = torch.from_numpy(prompt_tokens(val, cfg).astype(np.float32) / 256.0).to(dev)
    val_lmmse = mean_ser(ser_by_snr(detect(val, cfg, "lmmse-ls"), val["query_idx"], val["snr_db"]))
    log(args, f"validation: {VAL_TASKS} tasks (seed {VAL_SEED}), LMMSE-LS mean SER {val_lmmse:.4f}")

    def predict(x):
        net.eval()
        with torch.no_grad():
            out = torch.cat([net(x[i:i + 512]) for i in range(0, len(x), 512)])
        net.train()
        return out.argmax(-1).cpu().numpy()

    def val_ser(noise=0.0):
        """Validation mean SER and table; with ``noise`` > 0 the mean over ``--select-chips`` noisy chips (PCM
        draw k under torch seed SELECT_SEED + k, one chip for all 1,100 tasks), the training RNG untouched."""
        if noise <= 0:
            saved = state.noise
            state.noise = 0.0
            tab = ser_table(predict(val_x), val, cfg)
            state.noise = saved
            return mean_ser(tab), tab
        tabs = [ser_table(chip_logits(net, opts, val_x, noise, SELECT_SEED + k).argmax(-1).cpu().numpy(), val, cfg)
                for k in range(args.select_chips)]
        tab = {s: float(np.mean([t[s] for t in tabs])) for s in tabs[0]}
        return mean_ser(tab), tab

    teacher = None
    if args.kd is not None:
        from ann import READ_ERRORS, load_ann
        from _torch_net import ann_from_arrays

        try:
            teacher = ann_from_arrays(ARCHITECTURES["mimo-icl"], load_ann(args.kd))
        except READ_ERRORS as exc:
            print(f"train_mimo.py: error: --kd {args.kd}: {exc}", file=sys.stderr)
            return 2
        teacher = teacher.to(dev).eval()
        for prm in teacher.parameters():
            prm.requires_grad_(False)

    y_rows = cfg.token_layout()["y"]  # --embed-clip: the one-hot and query-flag rows follow the y rows
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    lossf = torch.nn.CrossEntropyLoss()
    t_start = time.perf_counter()
    best = (float("inf"), None, -1)
    step = 0
    progress = 0.0
    run_loss, run_n = 0.0, 0
    net.train()
    while step < args.steps:
        elapsed = time.perf_counter() - t_start
        progress = step / args.steps
        if args.time_budget > 0:
            progress = max(progress, elapsed / args.time_budget)
        if progress >= 1.0:
            break
        lr = args.lr * (min(1.0, progress / 0.03) if progress < 0.03 else
                        0.5 * (1 + math.cos(math.pi * (progress - 0.03) / 0.97)))
        for g in opt.param_groups:
            g["lr"] = lr
        state.ssa_sample = progress >= args.ssa_warmup
        state.rate = progress < args.rate_warmup
        state.noise = min(1.0, max(0.0, progress - args.noise_start) / max(1e-9, args.noise_warmup))
        tasks = generate_tasks(cfg, args.batch, seed0 + step)
        x = torch.from_numpy(prompt_tokens(tasks, cfg).astype(np.float32) / 256.0).to(dev)
        yb = torch.from_numpy(query_labels(tasks, cfg)).to(dev)
        out = net(x)
        z = out.reshape(-1, arch.n_classes) / arch.timesteps
        loss = lossf(z, yb.reshape(-1))
        if args.soft_labels != "none":
            pt = torch.from_numpy(soft_targets(tasks, cfg).reshape(-1, arch.n_classes).astype(np.float32)).to(dev)
            soft = -(pt * torch.log_softmax(z, -1)).sum(-1).mean()
            loss = (1.0 - args.soft_weight) * loss + args.soft_weight * soft
        if teacher is not None:
            soft = teacher_probs(teacher, x[..., one_copy_cols.to(dev)], args.kd_temp).reshape(-1, arch.n_classes)
            kd = torch.nn.functional.kl_div(torch.log_softmax(z / args.kd_temp, -1), soft,
                                            reduction="batchmean") * args.kd_temp ** 2
            loss = (1.0 - args.kd_weight) * loss + args.kd_weight * kd
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if args.embed_clip > 0:
            clip_embed(net.lin["embed"].weight, y_rows,
                       embed_clip_factor(progress, args.embed_clip, args.embed_clip_warmup))
        run_loss += float(loss.detach())
        run_n += 1
        step += 1
        if step % args.eval_every == 0:
            rate, state.rate = state.rate, False  # validate the spiking network, the one the chip runs
            m, _ = val_ser()
            sel = m if args.select_noise <= 0 else val_ser(args.select_noise)[0]
            state.rate = rate
            # expectation-form SSA and rate-twin phases are not the deployed network: select only after them
            if state.ssa_sample and not rate and sel < best[0]:
                best = (sel, copy.deepcopy(net.state_dict()), step)
            noisy = "" if args.select_noise <= 0 else f", noisy {sel:.4f}"
            phase = ("rate twin, " if rate else "") + ("ssa sampled" if state.ssa_sample else "ssa expect")
            log(args, f"step {step} ({100 * progress:.0f} %): loss {run_loss / run_n:.4f} val SER {m:.4f}{noisy} "
                      f"({phase}, noise {state.noise:.2f}, lr {lr:.2e})  [{time.perf_counter() - t_start:.0f} s]")
            run_loss, run_n = 0.0, 0
    state.ssa_sample, state.rate = True, False
    m, _ = val_ser(args.select_noise)
    if m < best[0]:
        best = (m, copy.deepcopy(net.state_dict()), step)
    net.load_state_dict(best[1])
    train_s = time.perf_counter() - t_start
    state.max_abs_r = 0.0
    val_torch, val_tab = val_ser()
    max_r = state.max_abs_r
    state.rate = True  # the rate twin of the selected model (deterministic): what a perfect conversion would give
    val_twin = val_ser()[0]
    state.rate = False
    log(args, f"best step {best[2]} of {step}: torch val SER {val_torch:.4f}, its rate twin {val_twin:.4f} "
              f"({train_s:.0f} s)")

    cmd = "python tools/train_mimo.py " + " ".join(sys.argv[1:] if argv is None else argv)
    stages = init_stages + [cmd]
    training = {
        "command": cmd, "stages": stages, "seed": args.seed, "steps_run": step, "steps_planned": args.steps, "best_step": best[2],
        "batch": args.batch, "time_budget_s": args.time_budget, "train_seconds": round(train_s),
        "device": str(dev.type), "init": None if args.init is None else str(args.init),
        "optimizer": f"AdamW lr={args.lr} wd={args.weight_decay}, 3 % warm-up then cosine to 0",
        "loss": "cross entropy per query token, joint 16-class label, logits / T" + (
            "" if args.soft_labels == "none" else
            f"; weight {args.soft_weight} on the cross entropy against soft targets {args.soft_labels} "
            "(plug-in ML-LS posterior, N0 (1 + n_t / L))"),
        "distillation": None if args.kd is None else {"teacher": str(args.kd), "weight": args.kd_weight,
                                                      "temperature": args.kd_temp},
        "selection": "noise-free validation" if args.select_noise <= 0 else
                     f"validation on {args.select_chips} chips with hardware noise scale {args.select_noise} "
                     f"(torch seeds {SELECT_SEED}..{SELECT_SEED + args.select_chips - 1})",
        "selection_val_mean_ser": round(best[0], 6),
        "data": f"fresh tasks per step: generate_tasks(MimoConfig(), {args.batch}, {seed0} + step), "
                f"SNR uniform 0..20 dB; validation eval_tasks(cfg, {VAL_TASKS}, seed={VAL_SEED}, 0..20 dB)",
        "ssa_warmup_fraction": args.ssa_warmup, "rate_warmup_fraction": args.rate_warmup,
        "embed_clip": None if args.embed_clip <= 0 else {
            "factor": args.embed_clip, "start": EMBED_CLIP_START, "warmup_fraction": args.embed_clip_warmup,
            "rule": "one-hot and query-flag rows of embed clipped to +-factor x the column's max |w| on the y rows"},
        "qkv_beta_init": args.qkv_beta_init,
        "threshold_learned": not args.fixed_threshold, "surrogate": "atan alpha=2, reset detached",
        "leak_shift": hw.lif.leak_shift, "reset": hw.lif.reset.name.lower(), "k_s": k_s, "k_o": k_o,
        "encoder_mode": hw.encoder.mode.name.lower(),
        "hw_aware": {**opts.as_dict(), "noise_start_fraction": args.noise_start,
                     "noise_warmup_fraction": args.noise_warmup,
                     "hardware": None if args.hardware is None else str(args.hardware)},
        "torch_version": torch.__version__, "numpy_version": np.__version__,
        "torch_val_mean_ser": round(val_torch, 6), "torch_val_rate_twin_mean_ser": round(val_twin, 6),
        "torch_val_ser_by_snr": {f"{k:g}": round(v, 6) for k, v in val_tab.items()},
        "val_lmmse_ls_mean_ser": round(val_lmmse, 6),
        "max_abs_residual_val": round(max_r, 3),
    }
    fm = snn_to_float_model(net.cpu(), arch, training)
    try:
        with atomic_output(args.out, args.force) as tmp:  # the numpy check reads the file as written
            save_float_model(fm, tmp)
            fm = load_float_model(tmp)
            rng = np.random.default_rng(args.eval_seed)
            codes = prompt_tokens(val, cfg)
            lg = np.concatenate([float_forward(fm, codes[i:i + 256], timesteps=arch.timesteps, rng=rng, k_s=k_s,
                                               k_o=k_o, leak_shift=hw.lif.leak_shift, reset=hw.lif.reset,
                                               encoder_mode=hw.encoder.mode, encoder_bits=hw.encoder.bits)
                                 for i in range(0, len(codes), 256)])
            np_ser = mean_ser(ser_table(np.argmax(lg, -1), val, cfg))
            fm.training["numpy_float_val_mean_ser"] = round(np_ser, 6)
            fm.training["numpy_float_eval_seed"] = args.eval_seed
            save_float_model(fm, tmp)
    except OutputError as exc:
        print(f"train_mimo.py: error: {exc}", file=sys.stderr)
        return 2
    log(args, f"numpy float val SER {np_ser:.4f}; torch {val_torch:.4f}; max|r| {max_r:.2f}; {train_s:.0f} s")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
