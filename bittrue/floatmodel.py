"""The SNN float expectation model (``--device float``): numpy reference of the spec-6 network.

This is the network ``tools/train.py`` trains, evaluated in floating point with Bernoulli sampling
(no PCM, no ADC, no fixed point).  The bit-true integer pipeline implements the same data flow.

Per sample, the input is ``x_code[n, f]`` in 0..255 (n over ``n_patches`` tokens).  All LIF membranes
start at 0 and persist across time steps; everything else is recomputed every step.  For t = 0..T-1::

    e        ~ Bernoulli(x_code / 256)                                  # encoder, spec 5.3
    r[0]     = cls + pos[0]                 (if arch.cls_token)         # residual, N x D
    r[1+n]   = BN_embed(e @ W_embed)[n] + pos[1+n]
    for each block b:
        s    = LIF_b.in(r)
        u    = BN_qkv(s @ W_qkv)                                        # N x 3D
        q, k, v = LIF_b.q(u[:, :D]), LIF_b.k(u[:, D:2D]), LIF_b.v(u[:, 2D:])
        per head h (columns h*d_k:(h+1)*d_k):
            C  = q_h @ k_h^T                                            # integer counts
            S  ~ Bernoulli(mask * min(C, K_S) / K_S)                    # spec 3.2
            P  = S @ v_h
            O  ~ Bernoulli(min(P, K_O) / K_O)                           # spec 3.4
        r    = r + BN_proj(concat_h(O) @ W_proj)
        s2   = LIF_b.mlp_in(r)
        hdn  = LIF_b.h(BN_mlp1(s2 @ W_mlp1))
        r    = r + BN_mlp2(hdn @ W_mlp2)
    z        = LIF_head.in(r[readout])       # token 0 (CLS), or the last Q tokens (arch.readout_tokens)
    logits  += BN_head(z @ W_head)

``BN_x(a) = gamma (a + bias - mean) / sqrt(var + eps) + beta`` is the inference-form BatchNorm of
:meth:`bittrue.model.Linear.affine`.  LIF (float form of spec 5.1)::

    v <- v - v * 2^-leak_shift + y ;  spike = (v >= theta) ;  hard: v <- 0 where spike, soft: v <- v - theta

Without a CLS token (``arch.cls_token`` False) the residual has only the patch tokens and the readout
uses token 0.  Random draws come from ``rng`` in a fixed order (encoder, then per block the S and the O
draws of all heads at once, each over the whole batch), so a fixed seed gives identical results.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from . import netlist as nl
from .model import FloatModel
from .modes import EncoderMode, Mask, Reset

Record = Callable[[str, int, np.ndarray], None]


def attention_mask(mask: Mask, n: int) -> np.ndarray:
    """(n, n) float 0/1 mask m of spec 3.2 (m[i, j] = 0 where S[i, j] is forced to 0)."""
    m = np.ones((n, n), dtype=np.float64)
    if mask == Mask.DIAGONAL:
        np.fill_diagonal(m, 0.0)
    elif mask == Mask.CAUSAL:
        m = np.tril(m)
    elif mask != Mask.NONE:
        raise ValueError(f"attention_mask: unknown mask {mask!r}")
    return m


class LIF:
    """A population of float LIF neurons: ``v <- v - v * 2^-s + y``, fire at ``v >= theta``, reset."""

    def __init__(self, theta: float, leak_shift: int = 1, reset: Reset = Reset.HARD):
        if not theta > 0:
            raise ValueError(f"LIF: threshold {theta!r} must be positive")
        self.theta = float(theta)
        self.decay = 1.0 - 2.0 ** (-int(leak_shift))
        self.reset = Reset(reset)
        self.v: np.ndarray | None = None

    def __call__(self, y: np.ndarray) -> np.ndarray:
        v = y.astype(np.float64, copy=True) if self.v is None else self.v * self.decay + y
        spike = v >= self.theta
        if self.reset == Reset.HARD:
            v[spike] = 0.0
        else:
            v[spike] -= self.theta
        self.v = v
        return spike.astype(np.float64)


#: Stochastic sources of the float SNN that ``float_forward(expectation=...)`` can replace by their expectation.
SOURCES = ("encoder", "score", "output")


def _sample(p: np.ndarray, rng: np.random.Generator, expect: bool) -> np.ndarray:
    """Bernoulli(p) spikes, or p itself where the source is taken in expectation (the draws are made either way,
    so the other sources see the same random stream)."""
    u = rng.random(p.shape)
    return p.astype(np.float64, copy=True) if expect else (u < p).astype(np.float64)


def ssa(q: np.ndarray, k: np.ndarray, v: np.ndarray, heads: int, mask: np.ndarray, k_s: int, k_o: int,
        rng: np.random.Generator, expectation: frozenset[str] = frozenset()) -> np.ndarray:
    """Stochastic spiking attention (spec 3) on (B, N, D) 0/1 spikes; returns O (B, N, D) 0/1.

    ``expectation`` may hold ``"score"`` / ``"output"``: S / O are then their probabilities instead of samples.

    Draw order: one uniform array (B, heads, N, N) for S, then one (B, heads, N, d_k) for O.
    """
    b, n, d = q.shape
    dk = d // heads
    qh = q.reshape(b, n, heads, dk).transpose(0, 2, 1, 3)
    kh = k.reshape(b, n, heads, dk).transpose(0, 2, 1, 3)
    vh = v.reshape(b, n, heads, dk).transpose(0, 2, 1, 3)
    c = qh @ kh.transpose(0, 1, 3, 2)  # (B, H, N, N) counts
    p_s = mask * np.minimum(c, k_s) / k_s
    s = _sample(p_s, rng, "score" in expectation)
    pc = s @ vh  # (B, H, N, dk)
    p_o = np.minimum(pc, k_o) / k_o
    o = _sample(p_o, rng, "output" in expectation)
    return o.transpose(0, 2, 1, 3).reshape(b, n, d)


def float_forward(model: FloatModel, x_code: np.ndarray, *, timesteps: int, rng: np.random.Generator,
                  k_s: int, k_o: int, leak_shift: int = 1, reset: Reset = Reset.HARD,
                  record: Record | None = None, expectation: frozenset[str] | tuple = (),
                  encoder_mode: EncoderMode = EncoderMode.RATE, encoder_bits: int = 8) -> np.ndarray:
    """Run the float SNN on a batch; return the logits summed over time, float64.

    Shape (B, n_classes) for a CLS readout, (B, Q, n_classes) for a readout of Q query tokens.

    Parameters
    ----------
    model : FloatModel
    x_code : uint8 ndarray (B, n_patches, token_features)
        Feature codes 0..255 (spec 5.3); spike probability code / 256.
    timesteps : int
        T >= 1.
    rng : numpy Generator
        Source of every Bernoulli draw (encoder, S, O).
    k_s, k_o : int
        SSA counter saturations (``HardwareConfig().resolved_k_s(d_k)``, ``.resolved_k_o(n_tokens)``).
    leak_shift : int
        LIF leak ``v * 2^-leak_shift`` per step (spec 5.1; 1 is tau = 2).
    reset : Reset
        HARD (v <- 0) or SOFT (v <- v - theta).
    record : callable, optional
        ``record(name, t, spikes)`` is called with the input spikes (B, tokens, in) of every linear layer
        (``name`` as in ``Architecture.linear_shapes()``; ``head`` gets (B, 1, D), the CLS token) and with
        the output spikes of every LIF population as ``record("lif:" + lif_name, t, spikes)``
        (``lif:head.in`` gets (B, 1, D)).  Arrays are float64 0/1 and must not be modified.
    expectation : iterable of str, optional
        Stochastic sources (:data:`SOURCES`: ``encoder``, ``score``, ``output``) replaced by their expectation
        (spike probabilities instead of samples): the noise-source ablation of the README.  Empty by default.
    encoder_mode : EncoderMode
        ``RATE`` (default): the encoder samples ``Bernoulli(x_code / 256)``.  ``BITSERIAL`` (spec 5.3): the
        embedding reads the exact ``x_code / 256``, as with ``expectation={"encoder"}`` (the same draws are made,
        so the two give identical logits); ``record("embed", t, plane)`` then receives the ``encoder_bits``
        bit-planes of the codes, least significant first (what the embedding tiles read, pass by pass).
    encoder_bits : int
        Code width of the bit-planes (the chip's ``encoder.bits``; its codes are ``(x_code << bits) >> 8``).
    """
    arch = model.arch
    x_code = np.asarray(x_code)
    if x_code.dtype != np.uint8:
        raise ValueError(f"float_forward: x_code must be uint8, got {x_code.dtype}")
    if x_code.ndim != 3 or x_code.shape[1:] != (arch.n_patches, arch.token_features):
        raise ValueError(f"float_forward: x_code has shape {x_code.shape}, model needs "
                         f"(B, {arch.n_patches}, {arch.token_features})")
    if not isinstance(timesteps, (int, np.integer)) or timesteps < 1:
        raise ValueError(f"float_forward: timesteps = {timesteps!r} must be a positive integer")
    expectation = frozenset(expectation)
    if not expectation <= set(SOURCES):
        raise ValueError(f"float_forward: expectation {sorted(expectation)}: sources are {', '.join(SOURCES)}")
    if k_s < 1 or k_o < 1:
        raise ValueError(f"float_forward: k_s = {k_s}, k_o = {k_o} must be positive")
    bsz = x_code.shape[0]
    d = arch.dim
    n_tok = arch.n_tokens
    off = 1 if arch.cls_token else 0
    aff = {name: lin.affine() for name, lin in model.linear.items()}
    wts = {name: lin.weight.astype(np.float64) for name, lin in model.linear.items()}

    bitserial = EncoderMode(encoder_mode) == EncoderMode.BITSERIAL
    if bitserial and record is not None:
        codes = (x_code.astype(np.int64) << int(encoder_bits)) >> 8
        planes = [((codes >> j) & 1).astype(np.float64) for j in range(int(encoder_bits))]

    def linear(name: str, x: np.ndarray) -> np.ndarray:
        if record is not None:
            if bitserial and name == "embed":
                for plane in planes:
                    record(name, t, plane)
            else:
                record(name, t, x)
        a, b = aff[name]
        return (x @ wts[name]) * a + b

    lifs = {name: LIF(model.lif_threshold[name], leak_shift, reset) for name in arch.lif_names()}

    def lif(name: str, y: np.ndarray) -> np.ndarray:
        s = lifs[name](y)
        if record is not None:
            record("lif:" + name, t, s)
        return s

    mask = attention_mask(arch.mask, n_tok)
    pos = model.pos.astype(np.float64)
    cls = model.cls.astype(np.float64)
    p_in = x_code.astype(np.float64) / 256.0
    ro = arch.readout_slice
    logits = np.zeros((bsz, arch.n_readout, arch.n_classes), dtype=np.float64)
    def embed(x: np.ndarray) -> np.ndarray:
        y = np.empty((bsz, n_tok, d), dtype=np.float64)
        if off:
            y[:, 0] = cls + pos[0]
        y[:, off:] = x + pos[off:]
        return y

    ops = nl.netlist(arch)
    for t in range(int(timesteps)):
        logits += nl.interpret_step(
            ops, p_in, ro, encoder=lambda x: _sample(x, rng, bitserial or "encoder" in expectation), xbar=linear,
            embed=embed, lif=lif, ssa=lambda q, k, v: ssa(q, k, v, arch.heads, mask, k_s, k_o, rng, expectation))
    return logits if arch.readout_tokens else logits[:, 0]


def float_predict(model: FloatModel, x_code: np.ndarray, *, seed: int = 0, batch: int = 512,
                  timesteps: int | None = None, k_s: int | None = None, k_o: int | None = None,
                  leak_shift: int = 1, reset: Reset = Reset.HARD, encoder_mode: EncoderMode = EncoderMode.RATE,
                  encoder_bits: int = 8) -> np.ndarray:
    """Argmax predictions (lowest index on ties) of :func:`float_forward`, in batches, one rng per call.

    ``k_s`` / ``k_o`` default to the resolved values of the default hardware configuration (spec 3.2, 3.4).
    """
    from .config import HardwareConfig

    arch = model.arch
    rng = np.random.default_rng(seed)
    T = arch.timesteps if timesteps is None else timesteps
    k_s = HardwareConfig().resolved_k_s(arch.d_k) if k_s is None else k_s
    k_o = HardwareConfig().resolved_k_o(arch.n_tokens) if k_o is None else k_o
    out = []
    for i in range(0, len(x_code), batch):
        lg = float_forward(model, x_code[i:i + batch], timesteps=T, rng=rng, k_s=k_s, k_o=k_o,
                           leak_shift=leak_shift, reset=reset, encoder_mode=encoder_mode, encoder_bits=encoder_bits)
        out.append(np.argmax(lg, axis=-1))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
