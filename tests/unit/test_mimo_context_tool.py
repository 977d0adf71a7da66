"""``tools/mimo_context.py``: the L-pilot prompts fed to the 20-position mimo-icl model (docs/mimo.md 8)."""
from __future__ import annotations

import numpy as np

from bittrue.datasets import mimo
from toolload import needs_tool, tool_fixture  # tests/ is on sys.path (conftest.py)

pytestmark = needs_tool("mimo_context.py")
tool = tool_fixture("mimo_context.py")


def test_prompt_repeats_the_l_pilots_and_keeps_the_queries(tool):
    c16 = mimo.MimoConfig()
    c4 = mimo.MimoConfig(pilots=4)
    t4 = mimo.eval_tasks(c4, 10)
    p = tool._icl_prompt(t4, c4, c16)
    assert p["y"].shape == (10, 20, 2) and p["x_idx"].shape == (10, 20, 2)
    for j in range(16):
        np.testing.assert_array_equal(p["y"][:, j], t4["y"][:, j % 4])
        np.testing.assert_array_equal(p["x_idx"][:, j], t4["x_idx"][:, j % 4])
    np.testing.assert_array_equal(p["y"][:, 16:], t4["y"][:, 4:])
    np.testing.assert_array_equal(p["query_idx"], t4["query_idx"])
    tok = mimo.prompt_tokens(p, c16)
    assert tok.shape == (10, 20, 73) and np.all(tok[:, 16:, -1] == 255) and np.all(tok[:, :16, -1] == 0)
    t16 = mimo.eval_tasks(c16, 10)  # L = 16 is the unchanged prompt
    np.testing.assert_array_equal(mimo.prompt_tokens(tool._icl_prompt(t16, c16, c16), c16),
                                  mimo.prompt_tokens(t16, c16))
