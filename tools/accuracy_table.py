#!/usr/bin/env python
"""Digits accuracy table: ANN, float SNN, bit-true ideal and PCM at several drift times, and accuracy vs T.

Measures (nothing is copied from elsewhere):

* ANN (float transformer baseline, ``tools/ann.py``, numpy);
* the SNN float expectation model (``--device float``), mean +- std over 20 sampling seeds (``--sampling-seeds``);
* bit-true XPK-1 with ideal devices, mean +- std over 20 root seeds (LFSR streams);
* bit-true XPK-1 with PCM at 1 s, 1 h, 1 day and 1 year, drift compensation on and off, mean +- std over
  5 programming seeds (root seed fixed);
* accuracy versus T = 1..24 for ideal devices and PCM at 1 day (programming seed 0), and the smallest T at which
  PCM at 1 day comes within 2.5 points of the ANN;
* the noise-source ablation: the float SNN with each stochastic source (encoder, score spikes S, output spikes O)
  and all three replaced by their expectation, mean +- std over the sampling seeds.

Usage::

    python tools/accuracy_table.py [--model bittrue/models/digits.h5] [--seeds 5] [--json out.json] [--quick]

Prints markdown tables on stdout (the README's table comes from here).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from bittrue.compile import compile_model, file_sha256  # noqa: E402
from bittrue.config import HardwareConfig  # noqa: E402
from bittrue.floatmodel import SOURCES, float_forward  # noqa: E402
from bittrue.model import default_model_path, load_float_model  # noqa: E402
from bittrue.program import program  # noqa: E402
from bittrue.run import Runner, predict  # noqa: E402
from bittrue.workloads import load_tokens  # noqa: E402

TIMES = (("1 s", 1.0), ("1 h", 3600.0), ("1 day", 86400.0), ("1 year", 365.25 * 86400.0))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--ann", default=str(ROOT / "bittrue" / "models" / "digits-ann.npz"))
    ap.add_argument("--seeds", type=int, default=5, help="programming seeds per PCM point")
    ap.add_argument("--sampling-seeds", type=int, default=20,
                    help="sampling seeds of the float SNN (and its ablation) and root seeds of the ideal chip: "
                         "their difference is a few points at most, so it needs more seeds than 5 to resolve")
    ap.add_argument("--tmax", type=int, default=24)
    ap.add_argument("--quick", action="store_true", help="2 seeds, T sweep 1,2,4,8,16,24")
    ap.add_argument("--json", default=None, help="also write the figures as JSON here")
    args = ap.parse_args(argv)
    seeds = 2 if args.quick else args.seeds
    sseeds = 2 if args.quick else args.sampling_seeds
    t0 = time.time()
    path = args.model or default_model_path("digits")
    model = load_float_model(path)
    arch = model.arch
    cfg = HardwareConfig()
    x, y = load_tokens("digits", "test", arch)
    xtr, _ = load_tokens("digits", "train", arch)
    image = compile_model(model, cfg, xtr[: cfg.tile.calibration_samples], model_sha256=file_sha256(path))
    out: dict = {"model": str(path), "samples": len(y), "timesteps": arch.timesteps, "seeds": seeds,
                 "sampling_seeds": sseeds}

    def acc_bittrue(chip, T=None, root_seed=0) -> float:
        r = Runner(chip, timesteps=T, root_seed=root_seed)
        logits = np.concatenate([r.run_batch(x[i:i + 128], np.arange(i, min(len(x), i + 128)))
                                 for i in range(0, len(x), 128)])
        return float((predict(logits) == y).mean())

    # ANN
    try:
        from ann import ann_forward, load_ann

        im, _ = _images()
        out["ann"] = float((np.argmax(ann_forward(load_ann(args.ann), im), 1) == y).mean())
    except (OSError, ImportError) as exc:
        out["ann"] = None
        print(f"ANN not measured: {exc}", file=sys.stderr)
    # float SNN, and the noise-source ablation (sources in expectation)
    def acc_float(expectation=()) -> list[float]:
        accs = []
        for s in range(sseeds):
            lg = float_forward(model, x, timesteps=arch.timesteps, rng=np.random.default_rng(s),
                               k_s=cfg.resolved_k_s(arch.d_k), k_o=cfg.resolved_k_o(arch.n_tokens),
                               leak_shift=cfg.lif.leak_shift, reset=cfg.lif.reset, expectation=expectation)
            accs.append(float((np.argmax(lg, 1) == y).mean()))
        return accs

    out["float_snn"] = acc_float()
    out["ablation"] = {src: acc_float((src,)) for src in SOURCES}
    out["ablation"]["all"] = acc_float(SOURCES)
    # ideal
    ideal = program(image, "ideal")
    out["ideal"] = [acc_bittrue(ideal, root_seed=s) for s in range(sseeds)]
    # PCM grid
    out["pcm"] = {}
    for label, t_s in TIMES:
        for comp in (True, False):
            vals = [acc_bittrue(program(image, "pcm", t_inference_s=t_s, drift_compensation=comp, program_seed=s))
                    for s in range(seeds)]
            out["pcm"][f"{label}|{'on' if comp else 'off'}"] = vals
            print(f"  pcm {label:7s} comp {'on ' if comp else 'off'}: {_ms(vals)}", file=sys.stderr)
    # accuracy vs T
    ts = [1, 2, 4, 8, 16, 24] if args.quick else list(range(1, args.tmax + 1))
    pcm1d = program(image, "pcm", t_inference_s=86400.0, program_seed=0)
    out["vs_T"] = {str(T): {"ideal": acc_bittrue(ideal, T), "pcm_1day": acc_bittrue(pcm1d, T)} for T in ts}
    near = [T for T in ts if out["ann"] is not None and out["vs_T"][str(T)]["pcm_1day"] >= out["ann"] - 0.025]
    out["T_within_2.5_points_of_ann"] = near[0] if near else None
    out["wall_s"] = time.time() - t0

    print(f"Digits test split ({len(y)} images), T = {arch.timesteps}; mean +- std over {seeds} programming seeds "
          f"for PCM (root seed 0), over {sseeds} sampling seeds for the float SNN and {sseeds} root seeds for ideal "
          f"devices.\n")
    print("| model | accuracy |")
    print("|---|---|")
    print(f"| ANN (float transformer, softmax attention) | {out['ann']:.4f} |" if out["ann"] is not None else
          "| ANN | not measured |")
    print(f"| SNN float expectation model (`--device float`) | {_ms(out['float_snn'])} |")
    print(f"| bit-true XPK-1, ideal devices | {_ms(out['ideal'])} |")
    for label, _ in TIMES:
        print(f"| bit-true XPK-1, PCM at {label}, drift compensation on | {_ms(out['pcm'][label + '|on'])} |")
    for label, _ in TIMES:
        print(f"| bit-true XPK-1, PCM at {label}, drift compensation off | {_ms(out['pcm'][label + '|off'])} |")
    print("\nAccuracy versus time steps T (root seed 0; PCM programming seed 0):\n")
    print("| T | " + " | ".join(str(T) for T in ts) + " |")
    print("|---|" + "---|" * len(ts))
    print("| ideal | " + " | ".join(f"{out['vs_T'][str(T)]['ideal']:.3f}" for T in ts) + " |")
    print("| PCM 1 day | " + " | ".join(f"{out['vs_T'][str(T)]['pcm_1day']:.3f}" for T in ts) + " |")
    tn = out["T_within_2.5_points_of_ann"]
    print(f"\nSmallest T at which PCM at 1 day (programming seed 0) is within 2.5 points of the ANN: "
          + (f"T = {tn} ({out['vs_T'][str(tn)]['pcm_1day']:.3f})" if tn else f"none for T <= {ts[-1]}"))
    print("\nNoise-source ablation (float SNN, each stochastic source replaced by its expectation, "
          f"mean +- std over {sseeds} sampling seeds):\n")
    print("| in expectation | accuracy |")
    print("|---|---|")
    print(f"| nothing (all sampled) | {_ms(out['float_snn'])} |")
    names = {"encoder": "input encoder", "score": "score spikes S", "output": "attention outputs O",
             "all": "all three"}
    for src, vals in out["ablation"].items():
        print(f"| {names[src]} | {_ms(vals)} |")
    print(f"\n(measured in {out['wall_s']:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


def _images():
    from bittrue.datasets.digits import load_digits

    return load_digits("test")


def _ms(v) -> str:
    v = np.asarray(v, float)
    return f"{v.mean():.4f} +- {v.std(ddof=1) if len(v) > 1 else 0.0:.4f}"


if __name__ == "__main__":
    raise SystemExit(main())
