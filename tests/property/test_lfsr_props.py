"""Property tests of the LFSR kernels against tests/reference.py (JIT and .py_func)."""
from __future__ import annotations

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

import reference as ref
import strategies as sts
from bittrue import lfsr_draws, lfsr_states
from bittrue.kernels.lfsr import (
    LFSR_TAPS, lfsr_draw_bank, lfsr_draw_bank_parallel, lfsr_index, lfsr_seed, lfsr_seed_bank,
    lfsr_step, splitmix64, taps_to_mask)


@given(sts.width_seed(), st.integers(1, 30))
@example((16, 0xACE1), 5)
@example((32, (1 << 32) - 1), 3)
@example((8, 1), 3)
def test_step_matches_reference_and_never_zero(ws, n):
    w, seed = ws
    taps = LFSR_TAPS[w]
    tm = taps_to_mask(taps)
    s_jit = s_py = seed
    r = seed
    for _ in range(n):
        s_jit = int(lfsr_step(np.uint64(s_jit), w, tm))
        s_py = int(lfsr_step.py_func(np.uint64(s_py), w, tm))
        r = ref.ref_lfsr_step(r, w, taps)
        assert s_jit == s_py == r
        assert 0 < r < (1 << w)


@given(sts.lfsr_bank(), st.integers(1, 3))
def test_draw_bank_matches_reference(bank, rounds):
    w, taps, states, k, steps = bank
    tm = taps_to_mask(taps)
    results = []
    for kernel in (lfsr_draw_bank, lfsr_draw_bank.py_func, lfsr_draw_bank_parallel):
        st_, out = states.copy(), np.zeros(states.size, np.int64)
        for _ in range(rounds):
            kernel(st_, w, tm, k, steps, out)
        results.append((st_.tolist(), out.tolist()))
    assert results[0] == results[1] == results[2]
    for i, s0 in enumerate(states.tolist()):
        d = ref.ref_lfsr_draws(int(s0), rounds, k, w, taps, steps)
        assert results[0][1][i] == d[-1]
        assert results[0][0][i] == ref.ref_lfsr_states(int(s0), rounds * steps + 1, w, taps)[-1]


@given(sts.width_seed(st.integers(8, 16)), st.integers(0, 40), st.data())
def test_public_draws_match_reference(ws, n, data):
    w, seed = ws
    k = data.draw(st.integers(1, w))
    steps = data.draw(st.one_of(st.none(), st.integers(1, 2 * w)))
    got = lfsr_draws(seed, n, k, width=w, steps_per_draw=steps).tolist()
    assert got == ref.ref_lfsr_draws(seed, n, k, w, LFSR_TAPS[w], steps)
    assert lfsr_states(seed, n, width=w).tolist() == ref.ref_lfsr_states(seed, n, w, LFSR_TAPS[w])


@given(sts.root_seeds, st.lists(sts.site_words, min_size=7, max_size=7), sts.widths)
@example(0, [0] * 7, 16)
@example((1 << 64) - 1, [1 << 20] * 7, 32)
def test_seed_hash_matches_reference(root, site, width):
    expect = ref.ref_seed(root, *site, width)
    assert 1 <= expect < (1 << width)
    assert int(lfsr_seed(np.uint64(root), *site, width)) == expect
    with np.errstate(over="ignore"):  # numpy scalars warn on the (intended) mod-2^64 wrap
        assert int(lfsr_seed.py_func(np.uint64(root), *site, width)) == expect
        assert int(splitmix64.py_func(np.uint64(root))) == ref.ref_splitmix64(root)


@given(sts.root_seeds, st.integers(1, 3), st.integers(1, 5), st.integers(1, 5), sts.widths)
def test_seed_bank_matches_reference(root, n_head, n_row, n_col, width):
    out = np.zeros(n_head * n_row * n_col, np.uint64)
    lfsr_seed_bank(np.uint64(root), 2, 3, 1, 9, n_head, n_row, n_col, width, out)
    expect = [ref.ref_seed(root, 2, 3, h, r, c, 1, 9, width)
              for h in range(n_head) for r in range(n_row) for c in range(n_col)]
    assert out.tolist() == expect


@given(sts.sharings, st.integers(1, 20), st.integers(1, 20), st.data())
def test_index_matches_reference(sharing, n_rows, n_cols, data):
    r = data.draw(st.integers(0, n_rows - 1))
    c = data.draw(st.integers(0, n_cols - 1))
    assert lfsr_index(sharing, r, c, n_cols) == lfsr_index.py_func(sharing, r, c, n_cols) \
        == ref.ref_lfsr_index(sharing, r, c, n_cols)


@given(sts.lfsr_bank(), st.integers(1, 3))
def test_jump_table_draws_equal_stepped_draws(bank, rounds):
    """The byte jump-table advance (linearity over GF(2)) equals clocking the register ``steps`` times."""
    from bittrue.kernels.lfsr import lfsr_draw_bank_jump, lfsr_jump_table

    w, taps, states, k, steps = bank
    table = lfsr_jump_table(w, taps_to_mask(taps), steps)
    _assert_advance_equals_stepping(lambda b, ob: lfsr_draw_bank_jump(b, table, k, ob), w, taps, states, k, steps,
                                    rounds)


def _assert_advance_equals_stepping(advance, w, taps, states, k, steps, rounds):
    """``advance(states, out)`` (one draw per register, in place) equals clocking ``steps`` times, draw by draw,
    and the pure-Python reference."""
    from bittrue.kernels.lfsr import lfsr_draw_bank

    tm = taps_to_mask(taps)
    a, b = states.copy(), states.copy()
    for _ in range(rounds):
        oa = np.zeros(a.size, np.int64)
        ob = np.zeros(b.size, np.int64)
        lfsr_draw_bank(a, w, tm, k, steps, oa)
        advance(b, ob)
        assert np.array_equal(a, b) and np.array_equal(oa, ob)
    want = [ref.ref_lfsr_draws(int(s), rounds, k, w, taps, steps)[-1] for s in states]
    assert ob.tolist() == want


@given(sts.lfsr_bank(), st.integers(1, 3), st.data())
def test_shift_form_draws_equal_stepped_draws(bank, rounds, data):
    """The closed-form advance (``steps <= min(taps)``) equals clocking the register ``steps`` times.

    Also with random tap sets of one to four taps (the top tap is always the width), and the form
    is refused (empty) exactly where it cannot apply."""
    from bittrue.kernels.lfsr import lfsr_draw_bank_shift, lfsr_shift_form

    w, taps, states, k, steps = bank
    if data.draw(st.booleans()):
        taps = tuple(sorted({w} | set(data.draw(st.lists(st.integers(1, w), max_size=5)))))
    tm = taps_to_mask(taps)
    form = lfsr_shift_form(w, tm, steps)
    applies = len(taps) <= 4 and 1 <= steps <= min(taps)
    assert (form.size == 6) == applies
    assert lfsr_shift_form(w, tm | (1 << w), steps).size == 0  # a tap above the width: refused
    if applies:
        _assert_advance_equals_stepping(lambda b, ob: lfsr_draw_bank_shift(b, form, k, ob), w, taps, states, k,
                                        steps, rounds)
