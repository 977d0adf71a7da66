"""Run: the programmed chip on a batch of samples, time step by time step (spec 6).

The Python loop here only sequences the hardware blocks (time steps, layers); every block is a
Numba kernel over the whole batch (``bittrue.kernels``), ``prange`` over samples.  Per sample,
every LFSR is re-seeded from (root seed, site, sample index) and every membrane starts at 0, so a
sample's logits do not depend on the batch it ran in, the order, or the thread count.

The ops of a time step, their order and their signal names come from :func:`bittrue.netlist.netlist`
(spec 6: encoder, embedding, each block's LIFs, crossbars, SSA and residual adds, the readout); the
runner only dispatches each op to its kernel.  A :class:`Sink` receives the signals as ``path`` =
``<unit>/<signal>`` (e.g. ``blocks.0.qkv/adc_code``, ``lif.blocks.0.q/spikes``).  Two hooks serve
profiling (``tools/bench.py``): a :class:`Profiler` receives the wall time of every op, and
:meth:`Runner.crossbar` runs one crossbar layer alone.
"""
from __future__ import annotations

import time
from typing import Callable, Protocol

import numpy as np

from .kernels.batch import encoder_bitplane_layer, encoder_layer, seed_bank_batch, ssa_layer
from .kernels.crossbar import bitserial_accumulate, crossbar_layer, requant_layer
from .kernels.lfsr import lfsr_bank_shape, lfsr_jump_table, lfsr_shift_form, taps_to_mask
from .kernels.lif import lif_update_batch, lif_update_rows, residual_add
from .netlist import ADD, EMBED, ENCODER, INPUT, LIF, SSA, XBAR, netlist
from .modes import EncoderMode
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


#: Profiler kind of the per-sample LFSR seeding of a batch (the other kinds are the netlist's op kinds).
SEEDS = "seeds"


class Profiler(Protocol):
    """Receives the wall time of every op of a run (``Runner(..., profiler=...)``).

    The runner calls ``profiler(kind, name, seconds)`` once per netlist op and time step, with ``kind`` the op's
    kind (:data:`bittrue.netlist.KINDS`: ``"xbar"``, ``"lif"``, ``"ssa"`` ...), ``name`` the op's name
    (``"blocks.0.qkv"``) and ``seconds`` the wall time of the op: its kernel and the runner's work around it
    (buffers, and the sink's calls when a sink is set).  Before the first step it reports the LFSR seeding as
    ``(SEEDS, "encoder", s)`` and ``(SEEDS, "ssa", s)``.  Without a profiler the runner reads no clock.
    """

    def __call__(self, kind: str, name: str, seconds: float) -> None: ...


def log2i(x: int) -> int:
    return int(x).bit_length() - 1


#: LIF populations of at least this many neurons (batch x tokens x width) update in parallel.
PARALLEL_MIN_SITES = 1 << 18


class Runner:
    """Runs a :class:`Chip` on batches; holds the per-batch state layout."""

    def __init__(self, chip: Chip, timesteps: int | None = None, root_seed: int | None = None,
                 profiler: Profiler | None = None):
        self.chip = chip
        self.profiler = profiler  #: optional :class:`Profiler`, may be set or cleared between batches
        cfg = chip.config
        arch = chip.arch
        self.arch = arch
        self.cfg = cfg
        self.T = int(timesteps or cfg.run.timesteps or arch.timesteps)
        self.root_seed = np.uint64(cfg.run.root_seed if root_seed is None else root_seed)
        self.width = cfg.lfsr.width
        self.tap_mask = np.uint64(taps_to_mask(cfg.lfsr_taps()))
        self.sharing = int(cfg.lfsr.sharing)
        self.k_s = cfg.resolved_k_s(arch.d_k)
        self.k_o = cfg.resolved_k_o(arch.n_tokens)
        self.bits_enc = cfg.encoder.bits
        #: spec 5.3 bit-serial mode: the embedding reads the codes' bit-planes, one pass each (no encoder LFSR)
        self.bitserial = cfg.encoder.mode == EncoderMode.BITSERIAL
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

    def crossbar(self, name: str, spikes: np.ndarray, sample_ids: np.ndarray, t: int = 0, *,
                 noise_on: bool | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """One crossbar layer alone: the requantised outputs int32 (B, tokens, n_out) of its input spikes.

        The same kernel call as inside :meth:`run_batch` (spec 4: accumulate, output noise keyed by
        (root seed, sample id, layer, ``t``, token, tile, column), ADC, partial sums, requantisation), so with
        the spikes a run feeds the layer at step ``t`` it returns what that run computes there.  For profiling
        and tests.  With ``encoder.mode = "bitserial"`` the embedding's word lines carry one bit-plane per read pass
        (:meth:`_xbar_bitserial`); this method reads ``spikes`` as one vector and requantises it with the layer's
        bit-serial ``M``, which carries ``2^-bits``.

        Parameters
        ----------
        name : str
            Crossbar layer (``"embed"``, ``"blocks.0.qkv"``, ..., ``"head"``).
        spikes : uint8 (B, tokens, n_in), C-contiguous
            Word-line inputs 0/1; any number of tokens.
        sample_ids : int (B,)
            Global sample indices (key the output noise).
        t : int
            Time step (keys the output noise).
        noise_on : bool, optional
            Output noise on or off; default the chip's setting (off for ``ideal`` devices).
        out : int32 (B, tokens, n_out), C-contiguous, optional
            Written and returned; allocated when not given.
        """
        lay = self.layers.get(name)
        if lay is None:
            raise ValueError(f"crossbar: no crossbar layer {name!r} (layers: {', '.join(self.layers)})")
        n_in, n_out = lay.g_diff_code.shape
        if not (isinstance(spikes, np.ndarray) and spikes.dtype == np.uint8 and spikes.ndim == 3
                and spikes.shape[2] == n_in and spikes.flags.c_contiguous):
            raise ValueError(f"crossbar: spikes must be C-contiguous uint8 (B, tokens, {n_in}), got "
                             f"{getattr(spikes, 'dtype', type(spikes).__name__)} {np.shape(spikes)}")
        ids = np.ascontiguousarray(sample_ids, dtype=np.int64)
        if ids.shape != (spikes.shape[0],):
            raise ValueError(f"crossbar: sample_ids has shape {ids.shape}, expected ({spikes.shape[0]},)")
        shape = spikes.shape[:2] + (n_out,)
        if out is None:
            out = np.empty(shape, np.int32)
        elif not (isinstance(out, np.ndarray) and out.dtype == np.int32 and out.shape == shape
                  and out.flags.c_contiguous and out.flags.writeable):
            raise ValueError(f"crossbar: out must be a writeable C-contiguous int32 array of shape {shape}")
        noise = self.noise_on if noise_on is None else int(bool(noise_on))
        return self._xbar(name, spikes, ids, int(t), None, noise_on=noise, out=out)

    def _xbar(self, name: str, spikes: np.ndarray, sample_ids: np.ndarray, t: int,
              sink: Sink | None, noise_on: int | None = None, out: np.ndarray | None = None) -> np.ndarray:
        lay = self.layers[name]
        nb, nt, _ = spikes.shape
        y = out if out is not None else self._buf(("y", name), (nb, nt, lay.g_diff_code.shape[1]), np.int32, sink)
        want = sink is not None and bool(sink.signals & {"current", "noise", "adc"})
        if want:
            n_rt = -(-lay.g_diff_code.shape[0] // self.tile_rows)
            shp = (nb, nt, n_rt, lay.g_diff_code.shape[1])
            i_log, n_log, a_log = np.empty(shp, np.int32), np.empty(shp, np.int32), np.empty(shp, np.int16)
        else:
            i_log = n_log = np.empty((0, 0, 0, 0), np.int32)
            a_log = np.empty((0, 0, 0, 0), np.int16)
        noise = self.noise_on if noise_on is None else noise_on
        crossbar_layer(spikes, lay.g_diff_code, self.tile_rows, self.tile_cols, lay.i_fs_code, lay.sigma_code,
                       self.adc_bits, noise, self.root_seed, sample_ids, lay.layer_id, t,
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
    def run_batch(self, feature_code: np.ndarray, sample_ids: np.ndarray, sink: Sink | None = None) -> np.ndarray:
        """Logits of a batch of 8-bit feature codes (B, n_patches, token_features).

        int64, (B, n_classes) for a CLS readout, (B, Q, n_classes) for a readout of Q query tokens; each value
        is a saturating int32 register (spec 5.4).  The ops of each time step are those of
        :func:`bittrue.netlist.netlist`, in its order.
        """
        arch = self.arch
        p = np.asarray(feature_code)
        if p.ndim != 3 or p.shape[1:] != (arch.n_patches, arch.token_features):
            raise ValueError(f"inputs have shape {p.shape}, expected (B, {arch.n_patches}, {arch.token_features})")
        sample_ids = np.ascontiguousarray(sample_ids, dtype=np.int64)
        nb = p.shape[0]
        # features are 8-bit; an encoder of other width sees the top bits (or zero-extended)
        p = p.astype(np.int32)
        if self.bits_enc != 8:
            p = (p << self.bits_enc) >> 8
        ops = netlist(arch)
        prof = self.profiler
        clock = time.perf_counter
        t0 = clock() if prof is not None else 0.0
        enc_states = (np.empty((nb, 0), np.uint64) if self.bitserial  # the bit-serial encoder has no LFSR
                      else self._seeds(BLOCK_ENCODER, 0, 0, 1, self.enc_grid, sample_ids))
        if prof is not None:
            prof(SEEDS, "encoder", clock() - t0)
            t0 = clock()
        ssa_states = {op.name: (self._seeds(BLOCK_SSA, op.block, PHASE_SCORE, arch.heads, self.s_grid, sample_ids),
                                self._seeds(BLOCK_SSA, op.block, PHASE_OUTPUT, arch.heads, self.o_grid, sample_ids))
                      for op in ops if op.kind == SSA}
        if prof is not None:
            prof(SEEDS, "ssa", clock() - t0)
        if sink is not None:
            if hasattr(sink, "begin_batch"):
                sink.begin_batch(sample_ids)
            if "input" in sink.signals:
                sink(INPUT, -1, p)
            if "seeds" in sink.signals:
                if not self.bitserial:
                    sink("encoder/lfsr_seed", -1, enc_states.copy())
                for name, (ss, so) in ssa_states.items():
                    sink(f"{name}/lfsr_seed_s", -1, ss.copy())
                    sink(f"{name}/lfsr_seed_o", -1, so.copy())
        lifs = {op.name: self._buf(("v", op.name), (nb, op.tokens, op.n_out), np.int32, None, zero=True)
                for op in ops if op.kind == LIF}
        if self.bitserial:  # the bit-planes are the same at every step: made once per batch, one array per pass
            planes = np.empty((nb, self.bits_enc, arch.n_patches, arch.token_features), np.uint8)
            encoder_bitplane_layer(p, self.bits_enc, planes)
            pass_inputs = [np.ascontiguousarray(planes[:, j]) for j in range(self.bits_enc)]
        logits = np.zeros((nb, arch.n_readout, arch.n_classes), dtype=np.int64)
        wants = (lambda g: g in sink.signals) if sink is not None else (lambda g: False)
        for t in range(self.T):
            val: dict[str, np.ndarray] = {INPUT: p}
            for op in ops:
                if prof is not None:
                    t0 = clock()
                x = val[op.src[0]]
                if op.kind == ENCODER and self.bitserial:
                    y = planes
                    if wants("encoder"):
                        sink("encoder/spikes", t, planes)
                elif op.kind == ENCODER:
                    y = self._encoder(x, enc_states, t, sink, wants("encoder"))
                elif op.kind == XBAR and self.cfg.bitserial_layer(op.name):
                    y = self._xbar_bitserial(op.name, pass_inputs, sample_ids, t, sink)
                elif op.kind == XBAR:
                    y = self._xbar(op.name, x, sample_ids, t, sink)
                elif op.kind == EMBED:
                    y = self._embed(x, nb)
                elif op.kind == LIF:
                    y = self._lif(op.name, lifs, x[:, arch.readout_slice, :] if op.readout else x, t, sink, op.col0)
                elif op.kind == SSA:
                    y = self._ssa(op.name, val[op.src[0]], val[op.src[1]], val[op.src[2]], ssa_states[op.name], t,
                                  sink, wants("ssa"))
                elif op.kind == ADD:
                    y = x
                    residual_add(y, val[op.src[1]], self.lif_width)
                else:  # LOGITS: spec 5.4, a saturating int32 accumulator over T (held in int64)
                    residual_add(logits, x, 32)
                    if wants("logits"):
                        sink("head/logits_t", t, x.copy())
                    if prof is not None:
                        prof(op.kind, op.name, clock() - t0)
                    continue
                if op.kind in (EMBED, ADD) and op.emit and wants("residual"):
                    sink(f"{op.name}/residual_code", t, y.copy())
                val[op.dst] = y
                if prof is not None:
                    prof(op.kind, op.name, clock() - t0)
        if not arch.readout_tokens:
            logits = logits[:, 0, :]
        if sink is not None and hasattr(sink, "end_batch"):
            sink.end_batch(logits)
        return logits

    def _xbar_bitserial(self, name: str, planes: list[np.ndarray], sample_ids: np.ndarray, t: int,
                        sink: Sink | None) -> np.ndarray:
        """A crossbar layer read bit-serially (spec 5.3): one read pass per bit-plane j = 0 .. k-1.

        Each pass is the layer's crossbar, noise and ADC of spec 4 on plane j, its codes summed over the row
        tiles; the digital periphery adds ``codes_j << j`` (int64) and requantises the sum once (``M`` carries
        the ``2^-k``, :func:`bittrue.program.requant_params`).  The output noise of pass j is keyed with the step
        ``t * k + j`` (every conversion gets its own draw).  ``planes[j]`` is plane j, uint8 (B, N, IN),
        C-contiguous.  A sink asking for the ``current``, ``noise`` or ``adc`` groups receives them with a pass
        axis after the batch: (B, k, N, n_row_tiles, OUT).
        """
        lay = self.layers[name]
        k = len(planes)
        nb, nt, _ = planes[0].shape
        n_out = lay.g_diff_code.shape[1]
        ident = self._scratch.get(("ident", n_out))
        if ident is None:
            ident = self._scratch[("ident", n_out)] = (np.ones(n_out, np.int64), np.zeros(n_out, np.int64))
        codes = self._buf(("bs_codes", name), (nb, nt, n_out), np.int32, None)
        acc = self._buf(("bs_acc", name), (nb, nt, n_out), np.int64, None, zero=True)
        want = sink is not None and bool(sink.signals & {"current", "noise", "adc"})
        if want:  # per pass (B, N, n_rt, OUT), stacked on a pass axis after the batch: (B, k, N, n_rt, OUT)
            shp = (nb, k, nt, -(-lay.g_diff_code.shape[0] // self.tile_rows), n_out)
            i_log, n_log, a_log = np.empty(shp, np.int32), np.empty(shp, np.int32), np.empty(shp, np.int16)
        no_log = np.empty((0, 0, 0, 0), np.int32)
        no_alog = np.empty((0, 0, 0, 0), np.int16)
        for j, plane in enumerate(planes):
            logs = ((np.empty(shp[:1] + shp[2:], np.int32), np.empty(shp[:1] + shp[2:], np.int32),
                     np.empty(shp[:1] + shp[2:], np.int16)) if want else (no_log, no_log, no_alog))
            # identity requantisation (M = 1, B = 0, S = 0, 32 bits): the pass's sum of ADC codes
            crossbar_layer(plane, lay.g_diff_code, self.tile_rows, self.tile_cols, lay.i_fs_code, lay.sigma_code,
                           self.adc_bits, self.noise_on, self.root_seed, sample_ids, lay.layer_id, t * k + j,
                           ident[0], ident[1], 0, 32, codes, *logs)
            if want:
                i_log[:, j], n_log[:, j], a_log[:, j] = logs
            bitserial_accumulate(acc, codes, j)
        y = self._buf(("y", name), (nb, nt, n_out), np.int32, sink)
        requant_layer(acc, lay.m_code, lay.b_code, lay.s_shift, self.lif_width, y)
        if want:
            for group, sig, arr in (("current", "i_code", i_log), ("noise", "noise_code", n_log),
                                    ("adc", "adc_code", a_log)):
                if group in sink.signals:
                    sink(f"{name}/{sig}", t, arr)
        if sink is not None and "requant" in sink.signals:
            sink(f"{name}/y_code", t, y)
        return y

    def _encoder(self, p: np.ndarray, states: np.ndarray, t: int, sink: Sink | None, log: bool) -> np.ndarray:
        arch = self.arch
        spikes = np.empty((p.shape[0], arch.n_patches, arch.token_features), dtype=np.uint8)
        dlog = np.empty(spikes.shape, np.int64) if log else np.empty((0, 0, 0), np.int64)
        encoder_layer(p, states, self.table_enc, self.bits_enc, self.sharing, spikes, dlog)
        if log:
            sink("encoder/draw", t, dlog)
            sink("encoder/spikes", t, spikes)
        return spikes

    def _embed(self, y: np.ndarray, nb: int) -> np.ndarray:
        """The residual stream of a new step: embedding outputs + position, and the CLS row (cls + pos[0])."""
        arch = self.arch
        r = np.empty((nb, arch.n_tokens, arch.dim), dtype=np.int32)
        off = 1 if arch.cls_token else 0
        if arch.cls_token:
            r[:, 0, :] = np.clip(self.cls_r, -(1 << (self.lif_width - 1)), (1 << (self.lif_width - 1)) - 1)
        r[:, off:, :] = y
        pos_add = self._scratch.get(("pos", nb))
        if pos_add is None:
            pos_add = self._scratch[("pos", nb)] = _pos_delta(self.pos, off, nb)
        residual_add(r, pos_add, self.lif_width)
        return r

    def _ssa(self, name: str, q: np.ndarray, k: np.ndarray, v: np.ndarray, states, t: int, sink: Sink | None,
             log: bool) -> np.ndarray:
        arch = self.arch
        nb, N, D = q.shape
        H, dk = arch.heads, arch.d_k
        o = np.empty((nb, N, D), dtype=np.uint8)
        if log:
            lg = (np.empty((nb, H, N, N), np.int32), np.empty((nb, H, N, N), np.uint8),
                  np.empty((nb, H, N, dk), np.int32), np.empty((nb, H, N, dk), np.uint8),
                  np.empty((nb, H, N, N), np.int64), np.empty((nb, H, N, dk), np.int64))
        else:
            e4 = {dt: np.empty((0, 0, 0, 0), dt) for dt in (np.int32, np.uint8, np.int64)}
            lg = (e4[np.int32], e4[np.uint8], e4[np.int32], e4[np.uint8], e4[np.int64], e4[np.int64])
        ss, so = states
        ssa_layer(q, k, v, H, dk, int(arch.mask), self.k_s, self.k_o, ss, so, self.table_s, self.table_o,
                  self.form_s, self.form_o, self.bits_s, self.bits_o, self.sharing, o, *lg)
        if log:
            for nm, arr in zip(("c_code", "s_spikes", "p_code", "o_spikes", "draw_s", "draw_o"), lg):
                sink(f"{name}/{nm}", t, arr)
        return o


def _pos_delta(pos: np.ndarray, off: int, nb: int) -> np.ndarray:
    """Position embedding as an addend for the residual (CLS row included only via cls_r)."""
    d = np.zeros((nb,) + pos.shape, dtype=np.int32)
    d[:, off:, :] = pos[off:]
    return d


def run(chip: Chip, feature_code: np.ndarray, *, sample_ids: np.ndarray | None = None, batch_size: int = 64,
        timesteps: int | None = None, root_seed: int | None = None, sink: Sink | None = None,
        progress: Callable[[int], None] | None = None, profiler: Profiler | None = None) -> np.ndarray:
    """Run every sample of ``feature_code`` (n, n_patches, token_features, 8-bit codes) and return int64 logits.

    Logits are (n, classes) for a CLS readout and (n, Q, classes) for a readout of Q query tokens.

    ``sample_ids`` (default ``arange(n)``) are the global indices that key the per-sample seeds and
    noise; they make results independent of batching and order.  ``profiler`` (:class:`Profiler`) receives
    the wall time of every op.
    """
    n = len(feature_code)
    if sample_ids is None:
        sample_ids = np.arange(n, dtype=np.int64)
    if batch_size < 1:
        raise ValueError(f"batch size {batch_size}: must be >= 1")
    runner = Runner(chip, timesteps=timesteps, root_seed=root_seed, profiler=profiler)
    arch = chip.arch
    shape = (n, arch.readout_tokens, arch.n_classes) if arch.readout_tokens else (n, arch.n_classes)
    out = np.zeros(shape, dtype=np.int64)
    for i in range(0, n, batch_size):
        out[i:i + batch_size] = runner.run_batch(feature_code[i:i + batch_size], sample_ids[i:i + batch_size], sink)
        if progress is not None:
            progress(min(batch_size, n - i))
    return out


def predict(logits: np.ndarray) -> np.ndarray:
    """Argmax with the lowest index on ties (spec 5.4)."""
    return np.argmax(logits, axis=-1)
