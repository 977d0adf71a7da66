"""``tools/train_mimo.py``: a two-step fine-tuning run of the shipped mimo-icl model with the soft ML-LS targets
and another T writes a loadable float model that records its loss and T, and a bad ``--soft-weight`` or
``--timesteps`` is a usage error (exit 2)."""
from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]


def test_train_mimo_soft_labels_two_steps(tmp_path):
    import train_mimo

    from bittrue.model import load_float_model

    out = tmp_path / "m.h5"
    rc = train_mimo.main(["--steps", "2", "--eval-every", "1", "--batch", "8", "--ssa-warmup", "0",
                          "--noise-start", "0", "--init", str(ROOT / "bittrue/models/mimo-icl.h5"),
                          "--soft-labels", "ml-ls", "--soft-weight", "0.8", "--timesteps", "4", "--threads", "1",
                          "--quiet", "--out", str(out)])
    assert rc == 0
    fm = load_float_model(out)
    assert "soft targets ml-ls" in fm.training["loss"] and fm.training["steps_run"] == 2
    assert fm.arch.timesteps == 4 and fm.arch.name == "mimo-icl"
    assert fm.training["stages"][-1].endswith(f"--out {out}")


@pytest.mark.parametrize("argv", [["--soft-weight", "1.5"], ["--timesteps", "0"]])
def test_train_mimo_bad_option_exit_2(argv, capsys):
    import train_mimo

    with pytest.raises(SystemExit) as exc:
        train_mimo.main(argv)
    assert exc.value.code == 2 and argv[0] in capsys.readouterr().err
