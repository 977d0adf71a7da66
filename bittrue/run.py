"""Run: the programmed chip on a batch of samples, time step by time step (spec 6).

The Python loop here only sequences the hardware blocks (time steps, layers); every block is a
Numba kernel over the whole batch (``bittrue.kernels``), ``prange`` over samples.  Per sample,
every LFSR is re-seeded from (root seed, site, sample index) and every membrane starts at 0, so a
sample's logits do not depend on the batch it ran in, the order, or the thread count.

Dataflow per time step (names are the ``signal`` paths a :class:`Sink` receives)::

    p_code --encoder--> spikes --Xbar embed--> y + pos, CLS --> residual r
    per block b:  r --LIF in--> s --Xbar qkv--> LIF q,k,v --> SSA --> o --Xbar proj--> r += y
                  r --LIF mlp_in--> s2 --Xbar mlp1--> LIF h --> h --Xbar mlp2--> r += y
    r[readout] --LIF head.in--> z --Xbar head--> logits_t ;  logits = sum_t logits_t
    (readout: the CLS token, or the last Q tokens of a decoder, ``Architecture.readout_tokens``)
"""
from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from .kernels.batch import encoder_layer, seed_bank_batch, ssa_layer
from .kernels.crossbar import crossbar_layer
from .kernels.lfsr import lfsr_bank_shape, lfsr_jump_table, lfsr_shift_form, taps_to_mask
from .kernels.lif import lif_update_batch, lif_update_rows, residual_add
from .program import Chip

#: LFSR site ``block`` field values (spec 2.3 site = block, layer, head, row, col, phase, sample).
BLOCK_ENCODER = 1
BLOCK_SSA = 2
PHASE_SCORE = 0
PHASE_OUTPUT = 1

#: Signal groups a sink can ask for (``--log-signals``).
SIGNALS = ("input", "seeds", "encoder", "spikes", "membrane", "ssa", "current", "noise", "adc",
           "requant", "residual", "logits")


class Sink(Protocol):
    """Receives signals during a run.

    ``signals`` names the groups wanted (subset of :data:`SIGNALS`).  For each wanted signal the
    runner calls ``sink(path, t, data)`` with ``path`` like ``"blocks.0.qkv/adc_code"``, ``t`` the
    time step (-1 for per-sample constants such as seeds and inputs) and ``data`` batch-first.
    Optional methods ``begin_batch(sample_ids)`` and ``end_batch(logits)`` bracket each batch.
    Arrays passed may be reused by the runner after the call returns: copy what you keep.
    """

    signals: frozenset[str]

    def __call__(self, path: str, t: int, data: np.ndarray) -> None: ...


def log2i(x: int) -> int:
    return int(x).bit_length() - 1


#: LIF populations of at least this many neurons (batch x tokens x width) update in parallel.
PARALLEL_MIN_SITES = 1 << 18


class Runner:
    """Runs a :class:`Chip` on batches; holds the per-batch state layout."""

    def __init__(self, chip: Chip, timesteps: int | None = None, root_seed: int | None = None):
        self.chip = chip
        cfg = chip.config
        arch = chip.arch
        self.arch = arch
        self.cfg = cfg
        self.T = int(timesteps or cfg.run.timesteps or arch.timesteps)
        self.root_seed = np.uint64(cfg.run.root_seed if root_seed is None else root_seed)
        self.width = cfg.lfsr.width
        self.tap_mask = np.uint64(taps_to_mask(cfg.lfsr_taps()))
        self.sharing = int(cfg.lfsr.sharing)
        self.k_s = cfg.k_s(arch.d_k)
        self.k_o = cfg.k_o(arch.n_tokens)
        self.bits_enc = cfg.encoder.bits
        self.bits_s = log2i(self.k_s)
        self.bits_o = log2i(self.k_o)
        spd = cfg.lfsr.steps_per_draw
        self.steps_enc = spd or self.bits_enc
        self.steps_s = spd or self.bits_s
        self.steps_o = spd or self.bits_o
        # one draw = steps clocks, applied at once through byte jump tables (bit-identical)
        tm = int(self.tap_mask)
        self.table_enc = lfsr_jump_table(self.width, tm, self.steps_enc)
        self.table_s = lfsr_jump_table(self.width, tm, self.steps_s)
        self.table_o = lfsr_jump_table(self.width, tm, self.steps_o)
        # ... or in closed form (a few shifts and XORs) where the taps allow it (empty arrays: use the tables)
        self.form_s = lfsr_shift_form(self.width, tm, self.steps_s)
        self.form_o = lfsr_shift_form(self.width, tm, self.steps_o)
        self.lif_width = cfg.lif.width
        self.leak = cfg.lif.leak_shift
        self.reset = int(cfg.lif.reset)
        self.layers = {lay.name: lay for lay in chip.layers}
        self.theta = chip.image.lif_theta_code
        img = chip.image
        self.cls_r = np.asarray(img.cls_code, np.int64) + img.pos_code[0] if arch.cls_token else None
        self.pos = np.asarray(img.pos_code, np.int32)
        self.noise_on = 1 if chip.output_noise else 0
        self.tile_rows = cfg.tile.rows
        self.tile_cols = cfg.tile.cols
        self.adc_bits = cfg.tile.adc_bits
        # register grids
        self.enc_grid = lfsr_bank_shape(self.sharing, arch.n_patches, arch.token_features)
        self.s_grid = lfsr_bank_shape(self.sharing, arch.n_tokens, arch.n_tokens)
        self.o_grid = lfsr_bank_shape(self.sharing, arch.n_tokens, arch.d_k)
        self._scratch: dict = {}  #: reused work arrays (see _buf)

    # ------------------------------------------------------------------ helpers
    def _seeds(self, block: int, layer: int, phase: int, n_head: int, grid: tuple[int, int],
               sample_ids: np.ndarray) -> np.ndarray:
        out = np.empty((len(sample_ids), n_head * grid[0] * grid[1]), dtype=np.uint64)
        seed_bank_batch(self.root_seed, block, layer, phase, sample_ids, n_head, grid[0], grid[1], self.width, out)
        return out

    def _buf(self, key, shape: tuple, dtype, sink: Sink | None, zero: bool = False) -> np.ndarray:
        """A work array, reused from call to call (no fresh pages to fault in) unless a sink may keep it.

        Only outputs that are consumed within the same time step, and membranes (cleared here), go through
        this; a :class:`Runner` is therefore not safe to share between Python threads.
        """
        if sink is not None:
            return np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
        a = self._scratch.get(key)
        if a is None or a.shape != tuple(shape) or a.dtype != dtype:
            a = np.empty(shape, dtype)
            self._scratch[key] = a
        if zero:
            a.fill(0)
        return a

    def _xbar(self, name: str, spikes: np.ndarray, sample_ids: np.ndarray, t: int,
              sink: Sink | None) -> np.ndarray:
        lay = self.layers[name]
        nb, nt, _ = spikes.shape
        y = self._buf(("y", name), (nb, nt, lay.g_diff_code.shape[1]), np.int32, sink)
        want = sink is not None and bool(sink.signals & {"current", "noise", "adc"})
        if want:
            n_rt = -(-lay.g_diff_code.shape[0] // self.tile_rows)
            shp = (nb, nt, n_rt, lay.g_diff_code.shape[1])
            i_log, n_log, a_log = np.empty(shp, np.int32), np.empty(shp, np.int32), np.empty(shp, np.int16)
        else:
            i_log = n_log = np.empty((0, 0, 0, 0), np.int32)
            a_log = np.empty((0, 0, 0, 0), np.int16)
        crossbar_layer(spikes, lay.g_diff_code, self.tile_rows, self.tile_cols, lay.i_fs_code, lay.sigma_code,
                       self.adc_bits, self.noise_on, self.root_seed, sample_ids, lay.layer_id, t,
                       lay.m_code, lay.b_code, lay.s_shift, self.lif_width, y, i_log, n_log, a_log)
        if sink is not None:
            if want:
                if "current" in sink.signals:
                    sink(f"{name}/i_code", t, i_log)
                if "noise" in sink.signals:
                    sink(f"{name}/noise_code", t, n_log)
                if "adc" in sink.signals:
                    sink(f"{name}/adc_code", t, a_log)
            if "requant" in sink.signals:
                sink(f"{name}/y_code", t, y)
        return y

    def _lif(self, name: str, lifs: dict[str, np.ndarray], y: np.ndarray, t: int, sink: Sink | None,
             y_col0: int = 0) -> np.ndarray:
        """LIF population ``name`` on input columns ``y_col0 ..`` of ``y`` (B, N, >= width)."""
        v = lifs[name]
        s = self._buf(("s", name), v.shape, np.uint8, sink)
        args = (v, np.ascontiguousarray(y), y_col0, self.theta[name], self.leak, self.reset, self.lif_width, s)
        if v.size >= PARALLEL_MIN_SITES:  # a parallel launch costs more than a small population's update
            lif_update_batch(*args)
        else:
            lif_update_rows(*args, 0, v.shape[0])
        if sink is not None:
            if "membrane" in sink.signals:
                sink(f"lif.{name}/v_code", t, v.copy())
            if "spikes" in sink.signals:
                sink(f"lif.{name}/spikes", t, s)
        return s

    # ------------------------------------------------------------------ one batch
    def run_batch(self, p_code: np.ndarray, sample_ids: np.ndarray, sink: Sink | None = None) -> np.ndarray:
        """Logits (int64, (B, n_classes)) of a batch of 8-bit feature codes (B, n_patches, token_features)."""
        arch = self.arch
        p = np.asarray(p_code)
        if p.ndim != 3 or p.shape[1:] != (arch.n_patches, arch.token_features):
            raise ValueError(f"inputs have shape {p.shape}, expected (B, {arch.n_patches}, {arch.token_features})")
        sample_ids = np.ascontiguousarray(sample_ids, dtype=np.int64)
        nb = p.shape[0]
        # features are 8-bit; an encoder of other width sees the top bits (or zero-extended)
        p = p.astype(np.int32)
        if self.bits_enc != 8:
            p = (p << self.bits_enc) >> 8
        N, D, H, dk = arch.n_tokens, arch.dim, arch.heads, arch.d_k
        enc_states = self._seeds(BLOCK_ENCODER, 0, 0, 1, self.enc_grid, sample_ids)
        ssa_states = [(self._seeds(BLOCK_SSA, b, PHASE_SCORE, H, self.s_grid, sample_ids),
                       self._seeds(BLOCK_SSA, b, PHASE_OUTPUT, H, self.o_grid, sample_ids))
                      for b in range(arch.depth)]
        if sink is not None:
            if hasattr(sink, "begin_batch"):
                sink.begin_batch(sample_ids)
            if "input" in sink.signals:
                sink("input/p_code", -1, p)
            if "seeds" in sink.signals:
                sink("encoder/lfsr_seed", -1, enc_states.copy())
                for b, (ss, so) in enumerate(ssa_states):
                    sink(f"blocks.{b}.ssa/lfsr_seed_s", -1, ss.copy())
                    sink(f"blocks.{b}.ssa/lfsr_seed_o", -1, so.copy())
        lifs: dict[str, np.ndarray] = {}
        for b in range(arch.depth):
            for nm, w in (("in", D), ("q", D), ("k", D), ("v", D), ("mlp_in", D), ("h", arch.mlp)):
                lifs[f"blocks.{b}.{nm}"] = self._buf(("v", b, nm), (nb, N, w), np.int32, None, zero=True)
        ro = arch.readout_slice
        lifs["head.in"] = self._buf(("v", "head"), (nb, arch.n_readout, D), np.int32, None, zero=True)
        logits = np.zeros((nb, arch.n_readout, arch.n_classes), dtype=np.int64)
        empty8 = np.empty((0, 0, 0), np.int64)
        e4 = {dt: np.empty((0, 0, 0, 0), dt) for dt in (np.int32, np.uint8, np.int64)}
        log_ssa = sink is not None and "ssa" in sink.signals
        pos_add = _pos_delta(self.pos, 1 if arch.cls_token else 0, nb)
        for t in range(self.T):
            spikes = np.empty((nb, arch.n_patches, arch.token_features), dtype=np.uint8)
            dlog = (np.empty(spikes.shape, np.int64) if sink is not None and "encoder" in sink.signals
                    else empty8)
            encoder_layer(p, enc_states, self.table_enc, self.bits_enc, self.sharing, spikes, dlog)
            if sink is not None and "encoder" in sink.signals:
                sink("encoder/draw", t, dlog)
                sink("encoder/spikes", t, spikes)
            y = self._xbar("embed", spikes, sample_ids, t, sink)
            r = np.empty((nb, N, D), dtype=np.int32)
            off = 1 if arch.cls_token else 0
            if arch.cls_token:
                r[:, 0, :] = np.clip(self.cls_r, -(1 << (self.lif_width - 1)), (1 << (self.lif_width - 1)) - 1)
            r[:, off:, :] = y
            residual_add(r, pos_add, self.lif_width)
            if sink is not None and "residual" in sink.signals:
                sink("embed/residual_code", t, r.copy())
            for b in range(arch.depth):
                pre = f"blocks.{b}"
                s = self._lif(f"{pre}.in", lifs, r, t, sink)
                u = self._xbar(f"{pre}.qkv", s, sample_ids, t, sink)
                q = self._lif(f"{pre}.q", lifs, u, t, sink, 0)
                k = self._lif(f"{pre}.k", lifs, u, t, sink, D)
                v = self._lif(f"{pre}.v", lifs, u, t, sink, 2 * D)
                o = np.empty((nb, N, D), dtype=np.uint8)
                ss, so = ssa_states[b]
                if log_ssa:
                    lg = (np.empty((nb, H, N, N), np.int32), np.empty((nb, H, N, N), np.uint8),
                          np.empty((nb, H, N, dk), np.int32), np.empty((nb, H, N, dk), np.uint8),
                          np.empty((nb, H, N, N), np.int64), np.empty((nb, H, N, dk), np.int64))
                else:
                    lg = (e4[np.int32], e4[np.uint8], e4[np.int32], e4[np.uint8], e4[np.int64], e4[np.int64])
                ssa_layer(q, k, v, H, dk, int(arch.mask), self.k_s, self.k_o, ss, so, self.table_s, self.table_o,
                          self.form_s, self.form_o, self.bits_s, self.bits_o, self.sharing, o, *lg)
                if log_ssa:
                    for nm, arr in zip(("c_code", "s_spikes", "p_code", "o_spikes", "draw_s", "draw_o"), lg):
                        sink(f"{pre}.ssa/{nm}", t, arr)
                y = self._xbar(f"{pre}.proj", o, sample_ids, t, sink)
                residual_add(r, y, self.lif_width)
                s2 = self._lif(f"{pre}.mlp_in", lifs, r, t, sink)
                hh = self._lif(f"{pre}.h", lifs, self._xbar(f"{pre}.mlp1", s2, sample_ids, t, sink), t, sink)
                y = self._xbar(f"{pre}.mlp2", hh, sample_ids, t, sink)
                residual_add(r, y, self.lif_width)
                if sink is not None and "residual" in sink.signals:
                    sink(f"{pre}/residual_code", t, r.copy())
            z = self._lif("head.in", lifs, r[:, ro, :], t, sink)
            y = self._xbar("head", z, sample_ids, t, sink)
            residual_add(logits, y, 32)  # spec 5.4: a saturating int32 accumulator over T (held in int64)
            if sink is not None and "logits" in sink.signals:
                sink("head/logits_t", t, y.copy())
        if not arch.readout_tokens:
            logits = logits[:, 0, :]
        if sink is not None and hasattr(sink, "end_batch"):
            sink.end_batch(logits)
        return logits


def _pos_delta(pos: np.ndarray, off: int, nb: int) -> np.ndarray:
    """Position embedding as an addend for the residual (CLS row included only via cls_r)."""
    d = np.zeros((nb,) + pos.shape, dtype=np.int32)
    d[:, off:, :] = pos[off:]
    return d


def run(chip: Chip, p_code: np.ndarray, *, sample_ids: np.ndarray | None = None, batch_size: int = 64,
        timesteps: int | None = None, root_seed: int | None = None, sink: Sink | None = None,
        progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Run every sample of ``p_code`` (n, n_patches, token_features) and return int64 logits.

    Logits are (n, classes) for a CLS readout and (n, Q, classes) for a readout of Q query tokens.

    ``sample_ids`` (default ``arange(n)``) are the global indices that key the per-sample seeds and
    noise; they make results independent of batching and order.
    """
    n = len(p_code)
    if sample_ids is None:
        sample_ids = np.arange(n, dtype=np.int64)
    if batch_size < 1:
        raise ValueError(f"batch size {batch_size}: must be >= 1")
    runner = Runner(chip, timesteps=timesteps, root_seed=root_seed)
    arch = chip.arch
    shape = (n, arch.readout_tokens, arch.n_classes) if arch.readout_tokens else (n, arch.n_classes)
    out = np.zeros(shape, dtype=np.int64)
    for i in range(0, n, batch_size):
        out[i:i + batch_size] = runner.run_batch(p_code[i:i + batch_size], sample_ids[i:i + batch_size], sink)
        if progress is not None:
            progress(min(batch_size, n - i))
    return out


def predict(logits: np.ndarray) -> np.ndarray:
    """Argmax with the lowest index on ties (spec 5.4)."""
    return np.argmax(logits, axis=-1)
