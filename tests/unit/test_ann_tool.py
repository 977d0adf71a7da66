"""``tools/ann.py`` (numpy only) iterates the netlist and still reads the shipped ANN baseline.

``bittrue/models/digits-ann.npz`` predates ``meta.arch_json``: its architecture is rebuilt from its ``meta.*``
scalars and shapes.  README: the ANN's digits test accuracy is 0.9889 (356 of 360 images).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from toolload import load_tool  # tests/ is on sys.path (conftest.py)

_PATH = Path(__file__).resolve().parents[2] / "tools" / "ann.py"
_NPZ = Path(__file__).resolve().parents[2] / "bittrue" / "models" / "digits-ann.npz"
pytestmark = pytest.mark.skipif(not _PATH.exists() or not _NPZ.exists(),
                                reason="source tree not available (installed-wheel run)")


@pytest.fixture(scope="module")
def ann():
    with load_tool("ann.py") as mod:
        yield mod


def test_shipped_ann_accuracy(ann):
    from bittrue.datasets.digits import load_digits

    images, labels = load_digits("test")
    logits = ann.ann_forward(ann.load_ann(_NPZ), images)
    assert logits.shape == (360, 10)
    assert int(np.sum(logits.argmax(1) == labels)) >= 356  # 0.9889, README


def test_plan_maps_every_op(ann):
    import dataclasses

    from bittrue.model import ARCHITECTURES

    arch = dataclasses.replace(ARCHITECTURES["digits"], depth=3, readout_tokens=2)
    plan = ann.ann_plan(arch)
    roles = [r for _, r, _ in plan]
    assert roles.count("attention") == 3 and roles.count("gelu") == 3 and roles.count("slice") == 9
    assert [n for _, r, n in plan if r == "norm"] == ["blocks.0.ln1", "blocks.0.ln2", "blocks.1.ln1", "blocks.1.ln2",
                                                       "blocks.2.ln1", "blocks.2.ln2", "ln_f"]
    assert roles[-1] == "logits"
