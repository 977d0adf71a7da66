"""The bench's float competitor (``tools/bench.py``): the spec-6 network in float32 PyTorch, and the dense GEMM
throughput of this machine (the float roofline).

Imported only where torch is installed (the ``train`` extra).
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from bittrue import netlist as nl


class TorchSim:
    """The spec-6 network in float32 PyTorch: the same computation as :func:`bittrue.floatmodel.float_forward`.

    Dense ``addmm`` for every linear layer (BatchNorm folded into W, b), ``torch.bernoulli`` for the input
    encoder and the SSA's S and O, float LIFs (``v <- v (1 - 2^-leak) + y``, fire at ``v >= theta``, hard or
    soft reset), batched, under ``torch.inference_mode``.  ``weights`` (name -> (W, b)) replaces the model's
    folded weights: the bench passes the programmed chip's effective weights
    (``_bench_workload.effective_weights``), so the float simulation computes the network the chip realises and
    sees the same spike densities (the cost of a dense simulation does not depend on them).
    """

    def __init__(self, model, cfg, timesteps: int, seed: int = 0, weights: dict | None = None):
        import torch

        from bittrue.floatmodel import attention_mask
        from bittrue.modes import Reset

        self.torch = torch
        arch = model.arch
        self.arch = arch
        self.T = int(timesteps)
        self.W, self.b = {}, {}
        for name, lin in model.linear.items():
            if weights is not None and name in weights:
                w, b = weights[name]
            else:
                a, b = lin.affine()
                w = lin.weight.astype(np.float64) * a
            self.W[name] = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
            self.b[name] = torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32))
        self.theta = {n: float(v) for n, v in model.lif_threshold.items()}
        self.pos = torch.from_numpy(model.pos.astype(np.float32))
        self.cls = torch.from_numpy(model.cls.astype(np.float32))
        self.mask = torch.from_numpy(attention_mask(arch.mask, arch.n_tokens).astype(np.float32))
        self.k_s, self.k_o = cfg.resolved_k_s(arch.d_k), cfg.resolved_k_o(arch.n_tokens)
        self.ops = nl.netlist(arch)
        self.decay = 1.0 - 2.0 ** (-cfg.lif.leak_shift)
        self.soft = cfg.lif.reset == Reset.SOFT
        self.gen = torch.Generator().manual_seed(seed)
        #: sampler ``p -> 0/1 tensor``; tests swap in a deterministic one
        self.bernoulli = lambda prob: torch.bernoulli(prob, generator=self.gen)

    def flops_per_image(self) -> float:
        """Dense multiply-add FLOPs (2 per MAC) of one image over T steps (linear layers + SSA matmuls)."""
        a = self.arch
        f = 0.0
        for op in nl.crossbars(a).values():
            f += 2.0 * op.tokens * op.n_in * op.n_out
        for op in nl.ops_of(a, nl.SSA):  # C = q k^T and P = S v, every head
            f += 2.0 * 2.0 * a.heads * op.tokens * op.tokens * a.d_k
        return f * self.T

    def forward(self, x_code: np.ndarray, record: Callable[[str, float, int], None] | None = None):
        torch = self.torch
        a = self.arch
        nb = x_code.shape[0]
        N, D, H, dk = a.n_tokens, a.dim, a.heads, a.d_k
        off = 1 if a.cls_token else 0
        W, B, th, bern = self.W, self.b, self.theta, self.bernoulli
        decay, soft = self.decay, self.soft
        with torch.inference_mode():
            p = torch.from_numpy(np.ascontiguousarray(x_code)).to(torch.float32).mul_(1.0 / 256.0)
            vm = {n: None for n in th}

            def lif(name, y):
                v = vm[name]
                if v is None:
                    v = y.clone(memory_format=torch.contiguous_format)
                    vm[name] = v
                else:
                    torch.add(y, v, alpha=decay, out=v)  # v <- v * decay + y
                s = torch.ge(v, th[name]).to(torch.float32)
                if soft:
                    v.add_(s, alpha=-th[name])
                else:
                    v.addcmul_(v, s, value=-1.0)  # v <- 0 where s (fastest hard reset measured)
                if record is not None:
                    record("lif:" + name, float(s.sum()), s.numel())
                return s

            def linear(name, x):
                if record is not None:
                    record(name, float(x.sum()), x.numel())
                w = W[name]
                return torch.addmm(B[name], x.reshape(-1, w.shape[0]), w).view(*x.shape[:-1], w.shape[1])

            logits = torch.zeros((nb, a.n_readout, a.n_classes), dtype=torch.float32)
            mask_s = self.mask / self.k_s
            ro = a.readout_slice
            def embed(x):
                y = torch.empty((nb, N, D), dtype=torch.float32)
                if off:
                    y[:, 0] = self.cls + self.pos[0]
                y[:, off:] = x + self.pos[off:]
                return y

            def ssa(q, k, v):
                q, k, v = (u.view(nb, N, H, dk).transpose(1, 2) for u in (q, k, v))
                c = torch.matmul(q, k.transpose(-1, -2))  # (B, H, N, N) counts
                sc = bern(c.clamp_(max=self.k_s).mul_(mask_s))
                pc = torch.matmul(sc, v)  # (B, H, N, dk)
                o = bern(pc.clamp_(max=self.k_o).mul_(1.0 / self.k_o))
                return o.transpose(1, 2).reshape(nb, N, D)

            for _ in range(self.T):
                logits += nl.interpret_step(self.ops, p, ro, encoder=bern, xbar=linear, embed=embed, lif=lif, ssa=ssa)
            return (logits if a.readout_tokens else logits[:, 0]).numpy()

    def densities(self, x_code: np.ndarray) -> dict[str, float]:
        acc: dict[str, list[float]] = {}

        def rec(name, ones, n):
            e = acc.setdefault(name, [0.0, 0])
            e[0] += ones
            e[1] += n

        self.forward(x_code, rec)
        return {k: v[0] / v[1] for k, v in acc.items()}


def torch_gemm_gflops(m: int = 2080, k: int = 512, n: int = 2048, reps: int = 10) -> float:
    """Dense fp32 GEMM throughput of torch (``m x k @ k x n``, default the MLP1 layer of a batch of 32), GFLOP/s,
    best of ``reps``: the float roofline of this machine at the torch thread count."""
    import torch

    a = torch.randn(m, k)
    b = torch.randn(k, n)
    c = torch.empty(m, n)
    with torch.inference_mode():
        for _ in range(3):
            torch.matmul(a, b, out=c)
        best = 1e9
        for _ in range(reps):
            t0 = time.perf_counter()
            torch.matmul(a, b, out=c)
            best = min(best, time.perf_counter() - t0)
    return 2.0 * m * k * n / best / 1e9
