"""MIMO symbol detection as in-context learning (spec 8): a seeded generator of tasks and prompts (numpy only).

A *task* is one complex Rayleigh channel ``H`` (``n_r x n_t``, i.i.d. CN(0, 1)) and one SNR.  A *prompt* is
``L`` pilot pairs ``(y_i, x_i)`` followed by ``Q`` query received signals ``y``; the detector (the mimo-icl
decoder, or a classical baseline of :mod:`bittrue.mimo_baselines`) must output the transmitted symbols of every
query from the pilots of the same prompt.  Everything is documented in ``docs/mimo.md``; the key conventions:

Signal model (row vectors, one row per channel use ``i``)::

    y_i = H x_i + n_i          y_i in C^n_r,  x_i in C^n_t (one symbol per transmit antenna),
                               n_i ~ CN(0, N0 I_n_r)   (E|n|^2 = N0 per receive antenna, N0/2 per real dim)

SNR (``snr_db``) is the **average received SNR per receive antenna**::

    SNR = E||H x||^2 / E||n||^2 = n_t * Es / N0,    Es = E|x_k|^2 = 1   =>   N0 = n_t / 10^(snr_db / 10)

Constellations have unit average energy and Gray-mapped indices (:func:`constellation`).

Quantisation (spec 8: "received signals are quantised to 8 bits"): the real and imaginary parts of each
received sample are quantised separately by an offset-binary mid-tread quantiser (:func:`quantise`) with
full scale ``fs`` (default ``2 * sqrt(2 * n_t)``: 2.83 standard deviations of Re y at 0 dB)::

    code = clip(floor((y / fs + 1) * 2^(b-1) + 1/2), 0, 2^b - 1)      y_hat = (code - 2^(b-1)) * fs / 2^(b-1)

Token format (:func:`prompt_tokens`, uint8 codes that the spike encoder of spec 5.3 fires with P = code / 256):
per token, ``2 * n_r * levels`` *ramp* features of the quantised received signal, then ``n_t * M`` one-hot
symbol features (pilot tokens only), then one query flag::

    [ ramp(Re y_0) | ramp(Im y_0) | ... | ramp(Im y_{n_r-1}) | onehot(x_0) | ... | onehot(x_{n_t-1}) | query ]
      levels each                                             M each (255 at the symbol index, else 0)   255 / 0

``ramp`` expands one 8-bit code ``c`` into ``levels`` (K) features ``f_j = clip(K * (c - j * 256 / K), 0, 255)``,
j = 0..K-1: a thermometer code whose one partly-filled segment carries the fine value.
``sum_j f_j = K c - floor(c K / 256)`` (full segments read 255, not 256) is strictly increasing in ``c``, so a
linear embedding recovers ``c``; but only one feature per component is random in the rate code, which cuts the
encoder's Bernoulli noise on ``y`` by about a factor K (``levels = 1`` is the plain rate code ``f_0 = c``).
Query tokens carry zeros in the symbol features and 255 in the query flag.

Copies (``ramp_copies`` R, ``onehot_copies`` K, default 1): the whole ramp block, then the whole one-hot block, is
repeated R and K times (copy-major: ``[ramp block] x R | [one-hot block] x K | query``).  Every copy is fired by
its own encoder draws.  A model's embedding that gives each copy ``1/R`` (``1/K``) of the one-copy weight computes
the same function in expectation; on the chip the copies average the programming noise of their devices, and
one-hot weights split ``K`` ways no longer set every column's ``g_max`` (docs/mimo.md 11.7).

Determinism: tasks are drawn in blocks of :data:`BLOCK` tasks, block ``b`` from
``numpy.random.default_rng([seed, b])``, so a given ``seed`` yields the same first ``n`` tasks whatever
``n_tasks`` is requested (a prefix of a set is a smaller set), and the SNR override leaves ``H``, the symbols and
the unit-variance noise unchanged (only its scale changes).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

MODULATIONS = ("qpsk", "16qam", "64qam")
#: Tasks per random block (see module docstring, "Determinism").
BLOCK = 256
#: Largest number of copies of the ramp or the one-hot block in a token (:class:`MimoConfig`).
MAX_COPIES = 64
#: Root seed of the evaluation set (:func:`eval_tasks`).  Training must use other seeds.
TEST_SEED = 20_250_808
#: SNR grid of the evaluation set, dB: 0, 2, ..., 30 (16 points; docs/mimo.md explains the choice).
EVAL_SNR_DB = tuple(float(s) for s in range(0, 31, 2))
#: The training range, 0..20 dB: the issue's figure of merit averages the per-SNR SERs over it.
TRAIN_SNR_DB = (0.0, 20.0)


@dataclass(frozen=True)
class MimoConfig:
    """One MIMO in-context-learning task family (spec 8).

    Parameters
    ----------
    n_r, n_t : int
        Receive and transmit antennas (default 2 x 2).
    modulation : {"qpsk", "16qam", "64qam"}
        Square QAM per transmit antenna, Gray-mapped, unit average energy.
    pilots : int
        ``L``, pilot pairs per prompt (default 16).  Must be >= n_t for the LS estimate.
    queries : int
        ``Q``, query tokens per prompt after the pilots (default 4).
    snr_db_min, snr_db_max : float
        Training SNR range: ``snr_db ~ Uniform[snr_db_min, snr_db_max]`` per task (default 0..20 dB).
    full_scale : float
        Quantiser full scale ``fs`` on Re y and Im y; 0 (default) means ``2 * sqrt(2 * n_t)`` (4.0 for n_t = 2).
    y_bits : int
        Quantiser width b, 1..8 (default 8).  Codes are left-aligned to 8 bits in the tokens.
    levels : int
        Ramp features per real component in the tokens, a power of two 1..256 (default 16; 1 = plain rate code).
        With T = 8 encoder steps the plain rate code is useless (LMMSE-LS on the rate-decoded signals: mean SER
        0.55 against 0.157 unquantised); 8 levels give 0.175, 16 give 0.160 (``docs/mimo.md``).
    ramp_copies, onehot_copies : int
        Copies of the ramp block and of the one-hot block in each token, 1..64 (default 1; module docstring).
    """

    n_r: int = 2
    n_t: int = 2
    modulation: str = "qpsk"
    pilots: int = 16
    queries: int = 4
    snr_db_min: float = 0.0
    snr_db_max: float = 20.0
    full_scale: float = 0.0
    y_bits: int = 8
    levels: int = 16
    ramp_copies: int = 1
    onehot_copies: int = 1

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        for f in ("n_r", "n_t", "pilots", "queries", "y_bits", "levels", "ramp_copies", "onehot_copies"):
            v = getattr(self, f)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"MimoConfig.{f} = {v!r}: must be a positive integer")
        if self.modulation not in MODULATIONS:
            raise ValueError(f"MimoConfig.modulation = {self.modulation!r}: choose one of {', '.join(MODULATIONS)}")
        if self.pilots < self.n_t:
            raise ValueError(f"MimoConfig.pilots = {self.pilots}: need at least n_t = {self.n_t} pilots")
        if self.y_bits > 8:
            raise ValueError(f"MimoConfig.y_bits = {self.y_bits}: at most 8 (the spike encoder is 8-bit)")
        for f in ("ramp_copies", "onehot_copies"):
            if getattr(self, f) > MAX_COPIES:
                raise ValueError(f"MimoConfig.{f} = {getattr(self, f)}: at most {MAX_COPIES}")
        if self.levels > 256 or self.levels & (self.levels - 1):
            raise ValueError(f"MimoConfig.levels = {self.levels}: must be a power of two in 1..256")
        if not (np.isfinite(self.snr_db_min) and np.isfinite(self.snr_db_max)) or self.snr_db_min > self.snr_db_max:
            raise ValueError(f"MimoConfig: SNR range [{self.snr_db_min}, {self.snr_db_max}] dB is not a valid range")
        if not np.isfinite(self.full_scale) or self.full_scale < 0:
            raise ValueError(f"MimoConfig.full_scale = {self.full_scale!r}: must be >= 0 (0 = automatic)")

    # -------------------------------------------------------------- derived sizes
    @property
    def order(self) -> int:
        """M, constellation size."""
        return {"qpsk": 4, "16qam": 16, "64qam": 64}[self.modulation]

    @property
    def fs(self) -> float:
        """Quantiser full scale actually used."""
        return float(self.full_scale) if self.full_scale > 0 else 2.0 * float(np.sqrt(2.0 * self.n_t))

    @property
    def n_tokens(self) -> int:
        """L + Q (no CLS token)."""
        return self.pilots + self.queries

    @property
    def token_features(self) -> int:
        return 2 * self.n_r * self.levels * self.ramp_copies + self.n_t * self.order * self.onehot_copies + 1

    @property
    def n_classes(self) -> int:
        """Joint classes per query, ``M ** n_t`` (16 for 2 x 2 QPSK)."""
        return self.order ** self.n_t

    def token_layout(self) -> dict[str, slice]:
        """Feature slices of a token: ``y`` (ramps of Re/Im per receive antenna, all ``ramp_copies`` copies),
        ``x`` (one-hots, all ``onehot_copies`` copies), ``query``."""
        ny = 2 * self.n_r * self.levels * self.ramp_copies
        nx = self.n_t * self.order * self.onehot_copies
        return {"y": slice(0, ny), "x": slice(ny, ny + nx), "query": slice(ny + nx, ny + nx + 1)}

    def one_copy_features(self) -> np.ndarray:
        """Indices (int64) of the first copy of each block: ``tokens[..., cfg.one_copy_features()]`` are the
        tokens of the same config with one copy of each (the copies hold the same codes)."""
        lay = self.token_layout()
        ny, nx = lay["y"].stop // self.ramp_copies, (lay["x"].stop - lay["x"].start) // self.onehot_copies
        return np.r_[0:ny, lay["x"].start:lay["x"].start + nx, lay["query"]].astype(np.int64)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ------------------------------------------------------------------ constellations
def _gray_to_binary(g: np.ndarray) -> np.ndarray:
    b = g.copy()
    shift = g >> 1
    while np.any(shift):
        b ^= shift
        shift >>= 1
    return b


def constellation(modulation: str = "qpsk") -> np.ndarray:
    """Unit-average-energy square QAM points, complex128 (M,), indexed by their Gray label.

    Index ``k`` has ``2m`` bits (M = 4^m): the high m bits ``g_I = k >> m`` label the in-phase level and the low m
    bits ``g_Q = k & (2^m - 1)`` the quadrature level.  Each m-bit label is a Gray code: the PAM level is
    ``2 * gray_to_binary(g) - (2^m - 1)``, so neighbouring levels differ in one bit.  Points are
    ``(level_I + j level_Q) / sqrt(2 (M - 1) / 3)``.  QPSK: 0 = (-1-1j)/sqrt2, 1 = (-1+1j)/sqrt2,
    2 = (1-1j)/sqrt2, 3 = (1+1j)/sqrt2.  16-QAM in-phase levels for g_I = 0, 1, 2, 3: -3, -1, +3, +1 (/sqrt10).
    """
    if modulation not in MODULATIONS:
        raise ValueError(f"constellation: unknown modulation {modulation!r}; choose one of {', '.join(MODULATIONS)}")
    m = {"qpsk": 1, "16qam": 2, "64qam": 3}[modulation]
    k = np.arange(1 << (2 * m), dtype=np.int64)
    lev = lambda g: 2.0 * _gray_to_binary(g) - ((1 << m) - 1)  # noqa: E731
    pts = lev(k >> m) + 1j * lev(k & ((1 << m) - 1))
    return pts / np.sqrt(2.0 * ((1 << (2 * m)) - 1) / 3.0)


def noise_var(snr_db, n_t: int) -> np.ndarray:
    """N0 (complex noise variance per receive antenna) for ``snr_db`` under ``SNR = n_t Es / N0``, Es = 1."""
    return n_t / np.power(10.0, np.asarray(snr_db, dtype=np.float64) / 10.0)


# ------------------------------------------------------------------ tasks
def _check_seed(seed) -> int:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed = {seed!r}: must be a non-negative integer")
    return int(seed)


def _block(cfg: MimoConfig, seed: int, b: int) -> dict[str, np.ndarray]:
    """Draw block ``b`` of :data:`BLOCK` tasks (fixed draw order: snr, H, symbols, noise)."""
    rng = np.random.default_rng([seed, b])
    n, nr, nt, N = BLOCK, cfg.n_r, cfg.n_t, cfg.n_tokens
    u = rng.random(n)
    h = rng.standard_normal((n, nr, nt, 2))
    idx = rng.integers(0, cfg.order, size=(n, N, nt))
    z = rng.standard_normal((n, N, nr, 2))
    return {"u": u, "h": h, "idx": idx, "z": z}


def rx_correlation(n_r: int, rho: float) -> np.ndarray:
    """Receive correlation matrix of the exponential model, ``R[i, j] = rho^|i - j|`` (real, (n_r, n_r))."""
    if not (np.isfinite(rho) and 0.0 <= rho < 1.0):
        raise ValueError(f"rx_corr = {rho!r}: must be in [0, 1)")
    i = np.arange(n_r)
    return float(rho) ** np.abs(i[:, None] - i[None, :]).astype(np.float64)


def generate_tasks(cfg: MimoConfig, n_tasks: int, seed: int, snr_db=None,
                   rx_corr: float = 0.0) -> dict[str, np.ndarray]:
    """Draw ``n_tasks`` tasks and their prompts.

    Parameters
    ----------
    cfg : MimoConfig
    n_tasks : int
    seed : int
        Non-negative root seed.  The first ``n`` tasks of a seed do not depend on ``n_tasks``.
    snr_db : None, float or array (n_tasks,)
        SNR per task in dB; ``None`` draws it uniformly from ``[cfg.snr_db_min, cfg.snr_db_max]``.
    rx_corr : float
        Receive-antenna correlation rho in [0, 1) (Kronecker model, receive side only): ``H = R^(1/2) H_w`` with
        ``R = rx_correlation(n_r, rho)`` and ``H_w`` the i.i.d. draw, so the same seed gives the same ``H_w``,
        symbols and noise; each entry stays CN(0, 1), so the SNR keeps its meaning.  0 (default) is i.i.d.

    Returns
    -------
    dict with (n = n_tasks, N = L + Q tokens, pilots first):

    ``H``          complex128 (n, n_r, n_t)   channel, i.i.d. CN(0, 1)
    ``snr_db``     float64 (n,)
    ``noise_var``  float64 (n,)               N0 = n_t / 10^(snr_db/10)
    ``x_idx``      int64 (n, N, n_t)          symbol indices (Gray labels) of every token
    ``x``          complex128 (n, N, n_t)     ``constellation(cfg.modulation)[x_idx]``
    ``y``          complex128 (n, N, n_r)     ``y[:, i] = H x[:, i] + n[:, i]``
    ``pilot_idx``  int64 (n, L, n_t)          ``x_idx[:, :L]``
    ``query_idx``  int64 (n, Q, n_t)          ``x_idx[:, L:]``: the labels
    """
    seed = _check_seed(seed)
    if not isinstance(n_tasks, (int, np.integer)) or isinstance(n_tasks, bool) or n_tasks < 0:
        raise ValueError(f"generate_tasks: n_tasks = {n_tasks!r} must be a non-negative integer")
    n_tasks = int(n_tasks)
    nb = -(-n_tasks // BLOCK)
    blocks = [_block(cfg, seed, b) for b in range(nb)]
    cat = (lambda k: np.concatenate([d[k] for d in blocks])[:n_tasks]) if blocks else None
    nr, nt, N = cfg.n_r, cfg.n_t, cfg.n_tokens
    if blocks:
        u, h, idx, z = cat("u"), cat("h"), cat("idx"), cat("z")
    else:
        u = np.zeros(0)
        h = np.zeros((0, nr, nt, 2))
        idx = np.zeros((0, N, nt), np.int64)
        z = np.zeros((0, N, nr, 2))
    if snr_db is None:
        snr = cfg.snr_db_min + (cfg.snr_db_max - cfg.snr_db_min) * u
    else:
        snr = np.broadcast_to(np.asarray(snr_db, dtype=np.float64), (n_tasks,)).copy()
        if not np.all(np.isfinite(snr)):
            raise ValueError("generate_tasks: snr_db must be finite")
    n0 = noise_var(snr, nt)
    H = (h[..., 0] + 1j * h[..., 1]) / np.sqrt(2.0)
    if rx_corr:
        w, v = np.linalg.eigh(rx_correlation(nr, rx_corr))
        H = np.einsum("rs,nst->nrt", (v * np.sqrt(np.maximum(w, 0.0))) @ v.T, H)
    x = constellation(cfg.modulation)[idx]
    noise = (z[..., 0] + 1j * z[..., 1]) * np.sqrt(n0 / 2.0)[:, None, None]
    y = np.einsum("nrt,nit->nir", H, x) + noise
    idx = idx.astype(np.int64)
    L = cfg.pilots
    return {"H": H, "snr_db": snr, "noise_var": n0, "x_idx": idx, "x": x, "y": y,
            "pilot_idx": idx[:, :L], "query_idx": idx[:, L:]}


def eval_tasks(cfg: MimoConfig | None = None, n_tasks: int = 4000, seed: int = TEST_SEED,
               snr_grid_db=EVAL_SNR_DB, rx_corr: float = 0.0) -> dict[str, np.ndarray]:
    """The evaluation set: task ``i`` has SNR ``snr_grid_db[i % len(grid)]`` (default 0, 2, ..., 30 dB).

    Interleaving makes every prefix balanced over the grid: the counts per SNR differ by at most one, and
    ``n_tasks = k * len(grid)`` gives exactly ``k`` tasks per SNR.  The set is a prefix of one seeded sequence, so
    a larger set extends a smaller one.  ``rx_corr``: see :func:`generate_tasks` (out-of-distribution channels).
    Report SER per SNR and average the per-SNR SERs.
    """
    cfg = MimoConfig() if cfg is None else cfg
    grid = np.asarray(snr_grid_db, dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError("eval_tasks: snr_grid_db must be a non-empty 1-D sequence")
    snr = grid[np.arange(n_tasks) % grid.size]
    return generate_tasks(cfg, n_tasks, seed, snr_db=snr, rx_corr=rx_corr)


# ------------------------------------------------------------------ quantiser and tokens
def quantise(y, full_scale: float, bits: int = 8) -> np.ndarray:
    """Offset-binary mid-tread quantiser of a *real* array: uint8 codes 0..2^bits - 1.

    ``code = clip(floor((y / full_scale + 1) * 2^(bits-1) + 1/2), 0, 2^bits - 1)``: 0 -> 2^(bits-1),
    -full_scale -> 0, and values >= full_scale * (1 - 2^-(bits-1)) saturate at the top code.  For complex
    signals quantise ``y.real`` and ``y.imag`` separately.
    """
    y = np.asarray(y)
    if np.iscomplexobj(y):
        raise ValueError("quantise: y is complex; quantise y.real and y.imag separately")
    if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 8:
        raise ValueError(f"quantise: bits = {bits!r} must be in 1..8")
    if not (np.isfinite(full_scale) and full_scale > 0):
        raise ValueError(f"quantise: full_scale = {full_scale!r} must be a positive number")
    half = 1 << (bits - 1)
    c = np.floor((y.astype(np.float64) / full_scale + 1.0) * half + 0.5)
    return np.clip(np.nan_to_num(c, nan=half), 0, (1 << bits) - 1).astype(np.uint8)


def dequantise(code, full_scale: float, bits: int = 8) -> np.ndarray:
    """Reconstruction of :func:`quantise`: ``(code - 2^(bits-1)) * full_scale / 2^(bits-1)`` (float64)."""
    half = 1 << (bits - 1)
    return (np.asarray(code, dtype=np.float64) - half) * (full_scale / half)


def quantise_received(y: np.ndarray, cfg: MimoConfig) -> np.ndarray:
    """uint8 codes (..., n_r, 2) of complex ``y`` (..., n_r): [..., r, 0] = Re, [..., r, 1] = Im (cfg.y_bits)."""
    y = np.asarray(y)
    return np.stack([quantise(y.real, cfg.fs, cfg.y_bits), quantise(y.imag, cfg.fs, cfg.y_bits)], axis=-1)


def dequantise_received(codes: np.ndarray, cfg: MimoConfig) -> np.ndarray:
    """Complex (..., n_r) from :func:`quantise_received` codes."""
    v = dequantise(codes, cfg.fs, cfg.y_bits)
    return v[..., 0] + 1j * v[..., 1]


def ramp(code8: np.ndarray, levels: int) -> np.ndarray:
    """Thermometer-ramp expansion of 8-bit codes: uint8 (..., levels), ``f_j = clip(K (c - j 256/K), 0, 255)``."""
    if levels < 1 or levels > 256 or levels & (levels - 1):
        raise ValueError(f"ramp: levels = {levels} must be a power of two in 1..256")
    c = np.asarray(code8, dtype=np.int64)[..., None]
    j = np.arange(levels, dtype=np.int64) * (256 // levels)
    return np.clip((c - j) * levels, 0, 255).astype(np.uint8)


def prompt_tokens(tasks: dict[str, np.ndarray], cfg: MimoConfig) -> np.ndarray:
    """uint8 token codes (n, L + Q, cfg.token_features) of the prompts in ``tasks`` (layout: module docstring)."""
    y = tasks["y"]
    idx = tasks["x_idx"]
    n, N = y.shape[:2]
    if y.shape[1:] != (cfg.n_tokens, cfg.n_r) or idx.shape[1:] != (cfg.n_tokens, cfg.n_t):
        raise ValueError(f"prompt_tokens: tasks have y {y.shape}, x_idx {idx.shape}; config needs "
                         f"(n, {cfg.n_tokens}, {cfg.n_r}) and (n, {cfg.n_tokens}, {cfg.n_t})")
    lay = cfg.token_layout()
    out = np.zeros((n, N, cfg.token_features), dtype=np.uint8)
    for i in range(0, n, 4096):  # in chunks: ramp's int64 intermediate is 8 x the tokens
        code8 = quantise_received(y[i:i + 4096], cfg).astype(np.int64) << (8 - cfg.y_bits)  # (., N, n_r, 2)
        block = ramp(code8, cfg.levels).reshape(len(code8), N, -1)
        out[i:i + 4096, :, lay["y"]] = np.tile(block, (1, 1, cfg.ramp_copies))
    L, M = cfg.pilots, cfg.order
    onehot = np.zeros((n, L, cfg.n_t, M), dtype=np.uint8)
    np.put_along_axis(onehot, idx[:, :L, :, None], 255, axis=-1)
    out[:, :L, lay["x"]] = np.tile(onehot.reshape(n, L, -1), (1, 1, cfg.onehot_copies))
    out[:, L:, lay["query"]] = 255
    return out


# ------------------------------------------------------------------ labels
def joint_labels(idx: np.ndarray, order: int) -> np.ndarray:
    """Joint class of per-antenna indices (..., n_t) -> (...): ``sum_t idx[t] * M^(n_t-1-t)`` (antenna 0 first)."""
    idx = np.asarray(idx, dtype=np.int64)
    w = order ** np.arange(idx.shape[-1] - 1, -1, -1, dtype=np.int64)
    return idx @ w


def split_joint(joint: np.ndarray, order: int, n_t: int) -> np.ndarray:
    """Inverse of :func:`joint_labels`: (...) -> (..., n_t)."""
    joint = np.asarray(joint, dtype=np.int64)
    w = order ** np.arange(n_t - 1, -1, -1, dtype=np.int64)
    return (joint[..., None] // w) % order


def query_labels(tasks: dict[str, np.ndarray], cfg: MimoConfig, joint: bool = True) -> np.ndarray:
    """Labels of the queries: joint classes int64 (n, Q), or per-antenna indices (n, Q, n_t) if ``joint=False``."""
    q = tasks["query_idx"]
    return joint_labels(q, cfg.order) if joint else q.copy()

