"""``infer --json`` logits are bit-identical across thread counts, batch sizes and sample order (spec 1.5)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bittrue.cli import main
from bittrue.model import ARCHITECTURES, random_float_model, save_float_model

pytestmark = pytest.mark.integration  # whole CLI commands (tests/conftest.py)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    p = tmp_path_factory.mktemp("m") / "digits-random.h5"
    # threshold 0.25: the logits depend on the sample (with 0.5 every sample gave the same logits)
    save_float_model(random_float_model(ARCHITECTURES["digits"], seed=3, threshold=0.25), p)
    return str(p)


def _infer(capsys, model_path, *extra):
    rc = main(["infer", "--model", model_path, "--limit", "24", "--json", "--quiet", "--timesteps", "3", *extra])
    assert rc == 0
    return json.loads(capsys.readouterr().out)


def test_threads_and_batch_size_identical(capsys, model_path):
    a = _infer(capsys, model_path, "--threads", "1", "--batch-size", "64")
    b = _infer(capsys, model_path, "--threads", "2", "--batch-size", "64")
    c = _infer(capsys, model_path, "--threads", "2", "--batch-size", "1")
    d = _infer(capsys, model_path, "--threads", "1", "--batch-size", "7")
    assert a["logits"] == b["logits"] == c["logits"] == d["logits"]
    assert a["predictions"] == c["predictions"]
    # the logits are not trivially constant
    assert len({tuple(x) for x in a["logits"]}) > 1


def test_start_offset_gives_same_per_sample_logits(capsys, model_path):
    """A sample's logits depend on its index only, not on which other samples ran."""
    full = _infer(capsys, model_path)
    tail = json.loads((main(["infer", "--model", model_path, "--start", "10", "--limit", "14", "--json", "--quiet",
                             "--timesteps", "3"]) == 0 and capsys.readouterr().out))
    assert tail["logits"] == full["logits"][10:24]


def test_seed_changes_results(capsys, model_path):
    a = _infer(capsys, model_path, "--seed", "1")
    b = _infer(capsys, model_path, "--seed", "2")
    assert a["logits"] != b["logits"]


def test_each_device_runs_what_it_names(capsys, model_path):
    """``--device ideal|pcm|float`` give the logits of the library pipeline for that device with the same seeds
    (compile with calibration, program, Runner; or the float SNN with one rng seeded by the root seed), the
    accuracy of those logits, and three different results (each device is really applied)."""
    from types import SimpleNamespace

    from bittrue.floatmodel import float_forward
    from bittrue.model import load_float_model
    from bittrue.pipeline import build_chip, load_config, load_selection
    from bittrue.run import Runner, predict

    cfg = load_config(SimpleNamespace(hardware=None, seed=None, timesteps=3))
    model = load_float_model(model_path)
    x, labels, ids, _ = load_selection("digits", "test", model.arch, 0, 24)
    want = {dev: Runner(build_chip(model, cfg, dev, None, False, 0, model_path, quiet=True), timesteps=3,
                        root_seed=0).run_batch(x, ids) for dev in ("ideal", "pcm")}
    want["float"] = float_forward(model, x, timesteps=3, rng=np.random.default_rng(0), k_s=cfg.resolved_k_s(model.arch.d_k),
                                  k_o=cfg.resolved_k_o(model.arch.n_tokens), leak_shift=cfg.lif.leak_shift,
                                  reset=cfg.lif.reset)
    for dev, w in want.items():
        r = _infer(capsys, model_path, "--device", dev)
        got = np.asarray(r["logits"])
        assert r["samples"] == 24 and got.shape == w.shape and np.array_equal(got, w), dev
        assert r["accuracy"] == pytest.approx(float(np.mean(predict(w) == labels))), dev
    assert len({tuple(row) for row in want["pcm"].tolist()}) > 12  # logits depend on the sample
    assert not np.array_equal(want["ideal"], want["pcm"])
    assert not np.array_equal(want["ideal"], want["float"])


def test_runner_reuses_buffers_safely(model_path):
    """One Runner over batches of changing size (reused work arrays) equals a fresh Runner per batch,
    and a run with a sink (fresh arrays) equals one without."""
    from bittrue.compile import compile_model
    from bittrue.config import HardwareConfig
    from bittrue.datasets import digits
    from bittrue.model import load_float_model
    from bittrue.program import program
    from bittrue.run import Runner

    chip = program(compile_model(load_float_model(model_path), HardwareConfig(), None), "pcm", program_seed=0)
    x = digits.load_digits_tokens("test")[0][:20]
    ids = np.arange(20, dtype=np.int64)
    shared = Runner(chip, timesteps=3)
    for lo, hi in ((0, 8), (8, 11), (11, 20), (0, 8)):
        got = shared.run_batch(x[lo:hi], ids[lo:hi])
        want = Runner(chip, timesteps=3).run_batch(x[lo:hi], ids[lo:hi])
        assert np.array_equal(got, want)

    class Keep:
        signals = {"requant", "spikes"}
        def __init__(self):
            self.n = 0
        def __call__(self, name, t, arr):
            self.n += 1

    sink = Keep()
    assert np.array_equal(shared.run_batch(x[:5], ids[:5], sink), Runner(chip, timesteps=3).run_batch(x[:5], ids[:5]))
    assert sink.n > 0


def test_logits_saturate_as_an_int32_accumulator():
    """Spec 5.4: logits are summed over T in int32 (saturating, spec 1.1).  With 32-bit head outputs forced to
    their maximum every step, the sum stops at 2^31 - 1 instead of growing to T (2^31 - 1)."""
    from bittrue.compile import compile_model
    from bittrue.config import HardwareConfig
    from bittrue.program import program
    from bittrue.run import Runner

    arch = ARCHITECTURES["digits"]
    cfg = HardwareConfig.from_dict({"lif": {"width": 32, "frac_bits": 8}}).validate()
    chip = program(compile_model(random_float_model(arch, seed=3, threshold=0.5), cfg, None), "ideal")
    head = next(lay for lay in chip.layers if lay.name == "head")
    head.b_code[:] = (1 << 61)  # (acc M + B) >> S saturates at 2^31 - 1 in every step
    head.b_code[0] = -(1 << 61)  # ... and class 0 at -2^31
    x = np.zeros((2, arch.n_patches, arch.token_features), np.uint8)
    logits = Runner(chip, timesteps=3).run_batch(x, np.arange(2, dtype=np.int64))
    assert logits[:, 1:].tolist() == [[(1 << 31) - 1] * (arch.n_classes - 1)] * 2
    assert logits[:, 0].tolist() == [-(1 << 31)] * 2


def test_seed_syntax():
    """Seeds are unsigned 64-bit: decimal with leading zeros, 0x hex, up to 2^64 - 1."""
    import argparse

    from bittrue.cli import _seed

    assert _seed("010") == 10 and _seed("0x10") == 16 and _seed(str(2**64 - 1)) == 2**64 - 1
    for bad in ("-1", str(2**64), "1.5", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            _seed(bad)
