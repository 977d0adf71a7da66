"""Regenerate the pinned regression golden file in ``tests/data/`` on purpose.

``tests/golden/test_pinned.py`` re-exports the configuration written here and compares every dataset and
attribute with the pinned file, so any change to the numbers the emulator produces fails it.  When a change is
intended (a new noise generator, a renamed signal, new defaults), run::

    python tools/regen_pinned_golden.py

and commit the three files it writes:

* ``tests/data/pinned_model.h5``: a tiny random float model of the digits shape (D = 16, 2 blocks, 2 heads,
  MLP 32), deterministic bytes from a fixed seed; pinned as a file so a change of the random-model helper does
  not move the golden file;
* ``tests/data/pinned_golden.h5.gz``: ``python -m bittrue golden`` of 1 digits test sample, T = 2, every signal,
  ``--replayable``, root seed 7, programming seed 3, PCM at 1 day, SSA counters K_S = K_O = 2, gzipped byte
  for byte (the HDF5 file is 850 kB, mostly per-dataset metadata; gzip makes it about 120 kB);
* ``tests/data/pinned_golden.json``: the manifest: the ``golden`` arguments and hardware TOML the test replays,
  and the sha256 digests of the model and of the (uncompressed) golden file, the digest ``golden`` prints
  (the test checks them first, so the files cannot be edited by hand unnoticed).

Usage: ``python tools/regen_pinned_golden.py [--dir DIR]`` (default ``tests/data`` of this checkout).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
MODEL = "pinned_model.h5"
GOLDEN = "pinned_golden.h5.gz"
MANIFEST = "pinned_golden.json"
MODEL_SEED = 18
#: the ``golden`` arguments, less ``--model``, ``--hardware``, ``-o`` (the test supplies those)
GOLDEN_ARGS = ["--dataset", "digits", "--split", "test", "--start", "0", "--samples", "1", "--timesteps", "2",
               "--device", "pcm", "--drift-time", "1d", "--program-seed", "3", "--seed", "7", "--replayable",
               "-q"]
#: a small calibration set keeps the export fast; K_S = K_O = 2 so that the SSA counters saturate in the sample
#: (with the defaults no count reached the limit, and a wrong saturation passed); everything else is the default
HARDWARE_TOML = "[tile]\ncalibration_samples = 32\n[ssa]\nk_s = 2\nk_o = 2\n"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tiny_digits_model():
    """The pinned model: the digits token shape (16 patches of 2x2 pixels + CLS), everything else small."""
    from bittrue.model import ARCHITECTURES, Architecture, random_float_model
    from dataclasses import asdict

    fields = asdict(ARCHITECTURES["digits"])
    fields.update(name="digits-pinned", dim=16, depth=2, heads=2, d_k=8, mlp=32, timesteps=2)
    # threshold 0.25: every block's SSA outputs and the head's LIF fire in the 2 steps (0.5 leaves block 1 silent)
    return random_float_model(Architecture(**fields), MODEL_SEED, threshold=0.25)


def export(model: Path, out: Path, args: list[str], hardware_toml: str) -> int:
    """Run ``python -m bittrue golden`` (as a user would) with the manifest's arguments; returns its exit code."""
    with tempfile.TemporaryDirectory() as d:
        hw = Path(d) / "hw.toml"
        hw.write_text(hardware_toml)
        cmd = [sys.executable, "-m", "bittrue", "golden", *args, "--model", str(model), "--hardware", str(hw),
               "-o", str(out), "--force"]
        return subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode


def gunzip(src: Path, dst: Path) -> None:
    with gzip.open(src, "rb") as fi, open(dst, "wb") as fo:
        shutil.copyfileobj(fi, fo)


def regenerate(data: Path) -> dict:
    from bittrue.model import save_float_model

    data.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data) as d:
        model, raw, golden = Path(d) / MODEL, Path(d) / "golden.h5", Path(d) / GOLDEN
        save_float_model(tiny_digits_model(), model)
        rc = export(model, raw, GOLDEN_ARGS, HARDWARE_TOML)
        if rc != 0:
            raise SystemExit(f"regen_pinned_golden: bittrue golden exited {rc}")
        # mtime 0 and no file name in the header: the same golden file gives the same .gz bytes
        with open(raw, "rb") as fi, open(golden, "wb") as fo, \
                gzip.GzipFile(filename="", mode="wb", fileobj=fo, compresslevel=9, mtime=0) as gz:
            shutil.copyfileobj(fi, gz)
        manifest = {"golden_args": GOLDEN_ARGS, "hardware_toml": HARDWARE_TOML,
                    "model_sha256": _sha(model), "golden_sha256": _sha(raw),
                    "golden_bytes": raw.stat().st_size, "regenerate": "python tools/regen_pinned_golden.py"}
        os.replace(model, data / MODEL)
        os.replace(golden, data / GOLDEN)
        tmp = data / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=1) + "\n")
        os.replace(tmp, data / MANIFEST)
    return manifest


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", type=Path, default=DATA, help="where to write the three files (default tests/data)")
    a = p.parse_args(argv)
    m = regenerate(a.dir)
    size = (a.dir / GOLDEN).stat().st_size
    print(f"{a.dir / GOLDEN}: {size} bytes ({m['golden_bytes']} uncompressed, sha256 {m['golden_sha256']});"
          f" model sha256 {m['model_sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
