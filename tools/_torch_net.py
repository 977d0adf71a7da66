"""The torch models of the training tools, built from the netlist (``bittrue.netlist``): one spiking transformer
class for every architecture (digits, mimo-icl, cifar10-vit-small, or any modified ``Architecture``) and its ANN
counterpart.

:class:`SpikingTransformer` is the network of :mod:`bittrue.floatmodel` in torch, op for op (it dispatches on
``Op.kind`` exactly as ``float_forward`` does), with surrogate / straight-through gradients and the training-time
hardware model of :mod:`_torch_hw` (PCM weight noise and ADC, from the run's ``HardwareConfig``).  The readout
tokens, the attention mask and the CLS token come from the ``Architecture``; K_S and K_O are passed in.

:class:`AnnTransformer` maps each XPK-1 op to its ANN counterpart (:func:`ann.ann_plan`, shared with the numpy
forward of ``tools/ann.py``): the encoder is the identity on real inputs, crossbars are ``nn.Linear`` with bias,
a LIF reading the residual is a LayerNorm, the q/k/v LIFs are identity slices, the MLP's hidden LIF is a GELU,
SSA is softmax attention, ADD a residual add (dropout on the added branch).

:func:`snn_to_float_model` / :func:`load_snn` convert between a :class:`SpikingTransformer` and a
:class:`bittrue.model.FloatModel` (the ``.h5`` float-model format).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from _torch_hw import LIF, HWLinear, HWOptions, HWState, bern_ste
from ann import ATTENTIONS, NORMS, ann_forms, ann_plan
from bittrue import netlist as nl
from bittrue.floatmodel import attention_mask


def _key(name: str) -> str:
    return name.replace(".", "_")


def ssa_heads(q, k, v, heads: int, mask, k_s: int, k_o: int, sample: bool):
    """Stochastic spiking attention (spec 3) on (B, N, D) spikes: ``S ~ Bern(m * min(C, K_S) / K_S)``,
    ``O ~ Bern(min(S v, K_O) / K_O)``, straight-through; with ``sample`` False S and O are their expectations."""
    B, N, D = q.shape
    dk = D // heads
    q, k, v = (a.reshape(B, N, heads, dk).transpose(1, 2) for a in (q, k, v))
    sc = mask * (q @ k.transpose(-1, -2)).clamp(max=k_s) / k_s
    sc = bern_ste(sc) if sample else sc
    o = (sc @ v).clamp(max=k_o) / k_o
    o = bern_ste(o) if sample else o
    return o.transpose(1, 2).reshape(B, N, D)


class SpikingTransformer(nn.Module):
    """The XPK-1 spiking transformer of ``arch`` in its expectation form (``bittrue.floatmodel``), trainable.

    Parameters
    ----------
    arch : bittrue.model.Architecture
    k_s, k_o : int
        SSA counter saturations (resolved, spec 3.2 / 3.4).
    opts : HWOptions
        Training-time hardware model (``HardwareConfig`` and noise scales).
    threshold, learn_threshold : initial LIF threshold; learn one per population.
    leak_shift, hard_reset : LIF leak (spec 5.1) and reset mode.
    qkv_beta_init : initial BN beta of the crossbars that drive the SSA's q/k/v LIFs.
    timesteps : T (default ``arch.timesteps``).

    ``forward(p)`` takes spike probabilities ``code / 256`` (B, n_patches, token_features) and returns the
    readout logits summed over T: (B, n_classes) for a CLS readout, (B, Q, n_classes) for ``readout_tokens = Q``.
    """

    def __init__(self, arch, k_s: int, k_o: int, opts: HWOptions, *, threshold: float = 1.0,
                 learn_threshold: bool = False, leak_shift: int = 1, hard_reset: bool = True,
                 qkv_beta_init: float = 0.0, timesteps: int | None = None):
        super().__init__()
        self.arch, self.k_s, self.k_o = arch, int(k_s), int(k_o)
        self.timesteps = int(timesteps or arch.timesteps)
        self.state = HWState()
        self.ops = nl.netlist(arch)
        self.lin = nn.ModuleDict({_key(n): HWLinear(op.n_in, op.n_out, self.state, opts, n)
                                  for n, op in nl.crossbars(arch).items()})
        self.lif = nn.ModuleDict({_key(n): LIF(threshold, learn_threshold, leak_shift, hard_reset)
                                  for n in nl.lifs(arch)})
        self.pos = nn.Parameter(0.1 * torch.randn(arch.n_tokens, arch.dim))
        if arch.cls_token:
            self.cls = nn.Parameter(0.1 * torch.randn(arch.dim))
        with torch.no_grad():
            for name in ssa_input_crossbars(arch):
                self.lin[_key(name)].bn.bias.fill_(qkv_beta_init)
        self.register_buffer("mask", torch.from_numpy(attention_mask(arch.mask, arch.n_tokens)).float())

    def forward(self, p):
        arch, st = self.arch, self.state
        for m in self.lif.values():
            m.v = None
        st.forward_id += 1
        B, D = p.shape[0], arch.dim
        ro = arch.readout_slice
        out = 0
        rate = st.rate
        for _t in range(1 if rate else self.timesteps):
            val = {nl.INPUT: p}
            for op in self.ops:
                x = val[op.src[0]]
                if op.kind == nl.ENCODER:
                    y = x if rate or not st.encoder_sample else (torch.rand_like(x) < x).to(x.dtype)
                elif op.kind == nl.XBAR:
                    y = self.lin[_key(op.name)](x)
                elif op.kind == nl.EMBED:
                    if arch.cls_token:
                        y = torch.cat([(self.cls + self.pos[0]).expand(B, 1, D), x + self.pos[1:]], 1)
                    else:
                        y = x + self.pos
                elif op.kind == nl.LIF:
                    a = x[:, ro] if op.readout else x[..., op.col0:op.col0 + op.n_out]
                    lif = self.lif[_key(op.name)]
                    y = lif.rate(a, self.timesteps) if rate or op.name in st.twin_lifs else lif(a)
                elif op.kind == nl.SSA:
                    y = ssa_heads(x, val[op.src[1]], val[op.src[2]], arch.heads, self.mask, self.k_s, self.k_o,
                                  st.ssa_sample and not rate)
                elif op.kind == nl.ADD:
                    y = x + val[op.src[1]]
                    if op.emit and not self.training:
                        st.max_abs_r = max(st.max_abs_r, float(y.detach().abs().max()))
                else:  # LOGITS
                    out = out + (x * self.timesteps if rate else x)
                    continue
                val[op.dst] = y
        return out if arch.readout_tokens else out[:, 0]


def ssa_input_crossbars(arch) -> list[str]:
    """Crossbars whose outputs the q/k/v LIFs of an SSA read (``blocks.b.qkv``)."""
    ops = nl.netlist(arch)
    ssa_in = {s for op in ops if op.kind == nl.SSA for s in op.src}
    names = []
    for op in ops:
        if op.kind == nl.LIF and op.dst in ssa_in:
            prod = nl.producer(arch, op.src[0])
            if prod is not None and prod.kind == nl.XBAR and prod.name not in names:
                names.append(prod.name)
    return names


class AnnTransformer(nn.Module):
    """The ANN baseline of ``arch``: the netlist with each XPK-1 op replaced by its ANN counterpart
    (:func:`ann.ann_plan`).  Input: real features (B, n_patches, token_features) in 0..1 (``code / 255``).

    Parameter names are those of the ``.npz`` format of ``tools/ann.py`` (``embed``, ``cls``, ``pos``,
    ``blocks.b.{ln1,qkv,proj,ln2,mlp1,mlp2}``, ``ln_f``, ``head``).  Attention is unmasked except for a causal
    ``arch.mask`` (the diagonal mask of SSA, which removes a spike train's correlation with itself, has no
    counterpart in softmax attention).

    ``attention="ssa"`` (an ablation, docs/mimo.md 11.4) replaces softmax attention by the SSA's expectation on
    real rates: ``q, k, v = sigmoid(.)`` in 0..1, ``S = m * min(q k^T / k_s, 1)``, ``O = min(S v / k_o, 1)``
    (spec 3.6 with the same mask ``m``, 0/1), so the network keeps LayerNorm, GELU and real activations but
    has the hardware's normalised linear attention.  ``norm="affine"`` (another ablation) replaces each
    LayerNorm by a per-feature scale and offset with the same parameter names, ``y = x * weight + bias``: no
    data-dependent division, which the hardware does not have (spec 6; BatchNorm folds into requantisation).
    """

    def __init__(self, arch, dropout: float = 0.1, attention: str = "softmax", k_s: int = 16, k_o: int = 16,
                 norm: str = "layernorm"):
        super().__init__()
        if attention not in ATTENTIONS or norm not in NORMS:
            raise ValueError(f"attention {attention!r} / norm {norm!r}: not one of {ATTENTIONS} / {NORMS}")
        self.attention, self.k_s, self.k_o, self.norm = attention, int(k_s), int(k_o), norm
        self.arch = arch
        self.plan = ann_plan(arch)
        D = arch.dim
        mods: dict[str, nn.Module] = {}
        for op, role, name in self.plan:
            if role == "linear":
                mods[name] = nn.Linear(op.n_in, op.n_out)
            elif role == "embed":
                if arch.cls_token:
                    self.cls = nn.Parameter(0.02 * torch.randn(D))
                self.pos = nn.Parameter(0.02 * torch.randn(arch.n_tokens, D))
            elif role == "norm":
                mods[name] = nn.LayerNorm(D) if norm == "layernorm" else Affine(D)
        self._register_nested(mods)
        self.drop = nn.Dropout(dropout)
        self.register_buffer("mask", torch.from_numpy(ann_mask(arch)), persistent=False)

    def _register_nested(self, mods):
        """Register ``a.b.c`` names as nested ModuleDicts, so state_dict keys are the dotted names."""
        for name, m in mods.items():
            parts = name.split(".")
            parent = self
            for part in parts[:-1]:
                if not hasattr(parent, part) or not isinstance(getattr(parent, part), nn.ModuleDict):
                    parent.add_module(part, nn.ModuleDict())
                parent = getattr(parent, part)
            parent.add_module(parts[-1], m)

    def module(self, name):
        m = self
        for part in name.split("."):
            m = getattr(m, part) if not isinstance(m, nn.ModuleDict) else m[part]
        return m

    def forward(self, x):
        arch = self.arch
        B, D, H, dk = x.shape[0], arch.dim, arch.heads, arch.d_k
        val = {nl.INPUT: x}
        for op, role, name in self.plan:
            a = val[op.src[0]]
            if role == "input":
                y = a
            elif role == "linear":
                y = self.module(name)(a)
            elif role == "embed":
                y = a + (self.pos[1:] if arch.cls_token else self.pos)
                if arch.cls_token:
                    y = torch.cat([(self.cls + self.pos[0]).expand(B, 1, D), y], 1)
            elif role == "norm":
                y = self.module(name)(a[:, arch.readout_slice] if op.readout else a)
            elif role == "gelu":
                y = F.gelu(a, approximate="tanh")
            elif role == "slice":
                y = a[..., op.col0:op.col0 + op.n_out]
            elif role == "attention":
                N = a.shape[1]
                q, k, v = (t.reshape(B, N, H, dk).transpose(1, 2) for t in (a, val[op.src[1]], val[op.src[2]]))
                if self.attention == "ssa":
                    q, k, v = torch.sigmoid(q), torch.sigmoid(k), torch.sigmoid(v)
                    s = torch.clamp(q @ k.transpose(-1, -2) / self.k_s, max=1.0) * (self.mask == 0)
                    y = torch.clamp(s @ v / self.k_o, max=1.0).transpose(1, 2).reshape(B, N, D)
                else:
                    s = q @ k.transpose(-1, -2) / math.sqrt(dk) + self.mask
                    y = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, N, D)
            elif role == "add":
                y = a + self.drop(val[op.src[1]])
            else:  # logits
                return a if arch.readout_tokens else a[:, 0]
            val[op.dst] = y
        raise AssertionError("netlist without a LOGITS op")


class Affine(nn.Module):
    """``x * weight + bias`` per feature (the ``norm="affine"`` ablation of :class:`AnnTransformer`)."""

    def __init__(self, d: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.bias = nn.Parameter(torch.zeros(d))

    def forward(self, x):
        return x * self.weight + self.bias


def ann_mask(arch) -> np.ndarray:
    """Additive float32 (N, N) attention mask of the ANN: -inf above the diagonal for a causal ``arch.mask``,
    else 0 (see :class:`AnnTransformer`)."""
    from bittrue.modes import Mask

    n = arch.n_tokens
    if arch.mask == Mask.CAUSAL:
        return np.triu(np.full((n, n), -np.inf, np.float32), 1)
    return np.zeros((n, n), np.float32)


# ----------------------------------------------------------------------------------------------- float model


def snn_to_float_model(net: SpikingTransformer, arch, training) -> "bittrue.model.FloatModel":  # noqa: F821
    """The float model (``bittrue.model.FloatModel``) of a trained network (bias 0, BN running statistics)."""
    from bittrue.model import FloatModel, Linear

    f = lambda t: t.detach().cpu().numpy().astype(np.float32)  # noqa: E731
    linear = {}
    for name in arch.linear_shapes():
        m = net.lin[_key(name)]
        bn = m.bn
        linear[name] = Linear(weight=f(m.weight), bias=np.zeros(m.weight.shape[1], np.float32),
                              bn_gamma=f(bn.weight), bn_beta=f(bn.bias), bn_mean=f(bn.running_mean),
                              bn_var=f(bn.running_var), bn_eps=float(bn.eps))
    lif = {n: float(net.lif[_key(n)].theta().detach().cpu()) for n in arch.lif_names()}
    cls = f(net.cls) if arch.cls_token else np.zeros(arch.dim, np.float32)
    return FloatModel(arch=arch, linear=linear, lif_threshold=lif, pos=f(net.pos), cls=cls,
                      training=training).validate()


def load_snn(net: SpikingTransformer, fm) -> None:
    """Copy a FloatModel's parameters (weights, BN affine and running statistics, thresholds, pos, cls) into net."""
    with torch.no_grad():
        for name, lin in fm.linear.items():
            m = net.lin[_key(name)]
            if np.any(lin.bias != 0):
                raise ValueError(f"--init: {name} has a non-zero bias")
            dev = m.weight.device
            m.weight.copy_(torch.from_numpy(lin.weight).to(dev))
            m.bn.weight.copy_(torch.from_numpy(lin.bn_gamma).to(dev))
            m.bn.bias.copy_(torch.from_numpy(lin.bn_beta).to(dev))
            m.bn.running_mean.copy_(torch.from_numpy(lin.bn_mean).to(dev))
            m.bn.running_var.copy_(torch.from_numpy(lin.bn_var).to(dev))
        for n, th in fm.lif_threshold.items():
            net.lif[_key(n)].log_theta.fill_(math.log(th))
        net.pos.copy_(torch.from_numpy(fm.pos).to(net.pos.device))
        if net.arch.cls_token:
            net.cls.copy_(torch.from_numpy(fm.cls).to(net.cls.device))


def arrays_to_ann(ann: AnnTransformer, arrays) -> None:
    """Load ``tools/ann.py`` arrays (linear weights stored (in, out)) into an :class:`AnnTransformer`."""
    sd = {}
    for k in ann.state_dict():
        a = arrays[k]
        if k.endswith(".weight") and a.ndim == 2:
            a = a.T
        sd[k] = torch.from_numpy(np.ascontiguousarray(a))
    ann.load_state_dict(sd)


def ann_from_arrays(arch, arrays) -> AnnTransformer:
    """An :class:`AnnTransformer` of ``arch`` with the attention form and weights of ``tools/ann.py`` arrays."""
    attention, k_s, k_o, norm = ann_forms(arrays)
    ann = AnnTransformer(arch, dropout=0.0, attention=attention, k_s=k_s, k_o=k_o, norm=norm)
    arrays_to_ann(ann, arrays)
    return ann


def ann_to_arrays(ann: AnnTransformer, arch) -> dict[str, np.ndarray]:
    """Plain float32 arrays for ``tools/ann.py`` (linear weights stored (in, out)) plus ``meta.*`` scalars."""
    out = {"meta.dim": np.int64(arch.dim), "meta.depth": np.int64(arch.depth), "meta.heads": np.int64(arch.heads),
           "meta.patch": np.int64(arch.patch), "meta.n_classes": np.int64(arch.n_classes),
           "meta.ln_eps": np.float64(1e-5), "meta.arch_json": np.array(arch.to_json())}
    if ann.attention != "softmax":  # files of the softmax / LayerNorm ANNs stay as before
        out.update({"meta.attention": np.array(ann.attention), "meta.k_s": np.int64(ann.k_s),
                    "meta.k_o": np.int64(ann.k_o)})
    if ann.norm != "layernorm":
        out["meta.norm"] = np.array(ann.norm)
    for k, v in ann.state_dict().items():
        a = v.detach().cpu().numpy().astype(np.float32)
        if k.endswith(".weight") and a.ndim == 2:
            a = np.ascontiguousarray(a.T)
        out[k] = a
    return out
