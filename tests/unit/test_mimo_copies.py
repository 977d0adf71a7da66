"""Copies of the ramp and one-hot blocks in the MIMO prompt tokens (docs/mimo.md 11.7).

* the architecture records the copies (``ramp_copies``, ``onehot_copies``): they round-trip through the model
  file's JSON, a one-copy architecture writes the same JSON as before the fields existed (older files and
  golden vectors keep their bytes), and bad values are refused with one line;
* the shipped mimo-icl model reads tokens with its copies: ``load_tokens`` builds them from the model's
  architecture (``workloads.mimo_config``), and they are the one-copy tokens with each block repeated;
  ``infer --json`` reports that token format under ``mimo.config``.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from bittrue.datasets.mimo import MimoConfig, prompt_tokens
from bittrue.model import ARCHITECTURES, Architecture, ModelError, default_model_path, load_float_model
from bittrue.workloads import load_tokens, mimo_config, mimo_tasks


def test_architecture_json_round_trip_and_one_copy_bytes():
    base = ARCHITECTURES["mimo-icl"]
    assert (base.ramp_copies, base.onehot_copies) == (1, 1)
    d = json.loads(base.to_json())
    assert "ramp_copies" not in d and "onehot_copies" not in d  # as written before the fields existed
    a = dataclasses.replace(base, token_features=193, ramp_copies=2, onehot_copies=8)
    d = json.loads(a.to_json())
    assert (d["ramp_copies"], d["onehot_copies"]) == (2, 8)
    assert Architecture.from_json(a.to_json()) == a
    assert Architecture.from_json(base.to_json()) == base


@pytest.mark.parametrize("kw, msg", [
    ({"ramp_copies": 0}, "ramp_copies"), ({"onehot_copies": 65}, "onehot_copies"),
    ({"ramp_copies": True}, "ramp_copies"), ({"onehot_copies": 2.0}, "onehot_copies"),
])
def test_architecture_rejects_bad_copies(kw, msg):
    d = json.loads(ARCHITECTURES["mimo-icl"].to_json())
    d.update(kw)
    with pytest.raises(ModelError, match=msg):
        Architecture.from_json(json.dumps(d))


def test_copies_only_for_prompt_token_models():
    d = json.loads(ARCHITECTURES["digits"].to_json())
    d["ramp_copies"] = 2
    with pytest.raises(ModelError, match="MIMO prompt-token models"):
        Architecture.from_json(json.dumps(d))


def test_shipped_model_reads_tokens_with_its_copies():
    arch = load_float_model(default_model_path("mimo-icl")).arch
    cfg = mimo_config(arch)
    assert (cfg.ramp_copies, cfg.onehot_copies) == (arch.ramp_copies, arch.onehot_copies)
    assert cfg.token_features == arch.token_features
    assert mimo_config(None) == MimoConfig() and mimo_config(ARCHITECTURES["mimo-icl"]) == MimoConfig()
    tokens, labels = load_tokens("mimo", "test", arch, stop=32)
    tasks = {k: v[:len(tokens)] for k, v in mimo_tasks("test").items()}
    one = prompt_tokens(tasks, MimoConfig())
    lay1 = MimoConfig().token_layout()
    want = np.concatenate([one[..., lay1["y"]]] * cfg.ramp_copies + [one[..., lay1["x"]]] * cfg.onehot_copies
                          + [one[..., lay1["query"]]], axis=-1)
    np.testing.assert_array_equal(tokens, want)
    # a one-copy architecture gets the one-copy tokens; a model whose features match no token format is refused
    assert load_tokens("mimo", "test", ARCHITECTURES["mimo-icl"], stop=4)[0].shape[-1] == 73
    bad = dataclasses.replace(arch, token_features=arch.token_features + 1)
    with pytest.raises(ValueError, match="expects"):
        load_tokens("mimo", "test", bad, stop=4)


def test_infer_reports_the_models_token_format(capsys):
    from bittrue.cli import main

    assert main(["infer", "--dataset", "mimo", "--tasks-per-snr", "1", "--device", "float", "--json", "--quiet",
                 "--timesteps", "1"]) == 0
    config = json.loads(capsys.readouterr().out)["mimo"]["config"]
    arch = load_float_model(default_model_path("mimo-icl")).arch
    assert (config["ramp_copies"], config["onehot_copies"]) == (arch.ramp_copies, arch.onehot_copies) == (4, 8)
