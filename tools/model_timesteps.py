#!/usr/bin/env python
"""Set the number of time steps T at which a float model runs; the weights stay as they are.

    python tools/model_timesteps.py IN.h5 OUT.h5 --timesteps T [--force]

A model file records its architecture, T included, and ``infer``, ``golden``, ``energy``, ``sweep`` and the
tools run a model at its own T (a hardware file's ``run.timesteps`` or ``--timesteps`` still override it).
This tool writes a copy of IN whose architecture has ``timesteps = T``: the operating point of the shipped
mimo-icl model, trained at T = 8 and run at T = 16 (docs/mimo.md 11.8), is made this way. More time steps give
each rate-coded value more levels and average more Bernoulli draws, at a proportional cost in time and energy
per inference.

The output's ``training`` metadata is the input's with this command appended to ``stages``; the output is
written atomically and never over an existing file without ``--force``. Exit 0 ok, 2 bad input.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

MAX_TIMESTEPS = 1024  #: the largest T a hardware configuration accepts (``run.timesteps``)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="model_timesteps.py", description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="float model .h5")
    p.add_argument("out", help="output .h5 (refused if it exists, unless --force)")
    p.add_argument("--timesteps", type=int, required=True, metavar="T",
                   help=f"time steps the output runs at, 1..{MAX_TIMESTEPS}")
    p.add_argument("--force", action="store_true", help="overwrite OUT")
    args = p.parse_args(argv)
    from bittrue.fileio import OutputError, atomic_output, check_output
    from bittrue.model import ModelError, load_float_model, save_float_model, training_stages

    def fail(msg):
        print(f"model_timesteps.py: error: {msg}", file=sys.stderr)
        return 2

    if not 1 <= args.timesteps <= MAX_TIMESTEPS:
        return fail(f"--timesteps {args.timesteps}: must be in 1..{MAX_TIMESTEPS}")
    try:
        check_output(args.out, args.force)
        fm = load_float_model(args.model)
    except (OutputError, ModelError) as exc:
        return fail(exc)
    before = fm.arch.timesteps
    training = dict(fm.training or {})
    training["stages"] = training_stages(fm, args.model) + [
        "python tools/model_timesteps.py " + " ".join(sys.argv[1:] if argv is None else argv)]
    out = dataclasses.replace(fm, arch=dataclasses.replace(fm.arch, timesteps=args.timesteps),
                              training=training).validate()
    try:
        with atomic_output(args.out, args.force) as tmp:
            save_float_model(out, tmp)
    except OutputError as exc:
        return fail(exc)
    print(f"{args.out}: {fm.arch.name} runs at T = {args.timesteps} (was {before}); weights unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
