"""The torch training network (``tools/_torch_net.py``) follows the netlist of any ``Architecture``.

* a modified architecture (a third block, a readout over the last 2 tokens): it builds, runs one training step
  with the hardware model on, and returns (B, 2, n_classes);
* with every uniform draw pinned to 0.5 (torch ``rand_like`` and the numpy generator alike) the network is
  deterministic, and its eval-mode logits equal ``bittrue.floatmodel.float_forward`` on the float model it
  exports (``snn_to_float_model``): digits, the modified architecture and mimo-icl (causal mask, no CLS);
* the torch ANN equals the numpy ANN of ``tools/ann.py`` (both iterate the netlist) on the same weights.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bittrue.floatmodel import float_forward  # noqa: E402
from bittrue.model import ARCHITECTURES  # noqa: E402
from torchnets import codes_warm_bn as _codes_warm_bn, spiking_net as _net  # noqa: E402  (tests/ on sys.path)

MODIFIED = dataclasses.replace(ARCHITECTURES["digits"], depth=3, readout_tokens=2)
ARCHS = {"digits": ARCHITECTURES["digits"], "modified": MODIFIED, "mimo-icl": ARCHITECTURES["mimo-icl"]}


def test_modified_architecture_one_training_step():
    torch.set_num_threads(1)
    arch = MODIFIED
    net = _net(arch)
    assert sum(1 for n in net.lin if n.endswith("_qkv")) == 3
    net.train()
    net.state.noise = 1.0  # PCM weight noise and ADC model on
    B = 3
    torch.manual_seed(1)
    p = torch.rand(B, arch.n_patches, arch.token_features)
    out = net(p)
    assert out.shape == (B, 2, arch.n_classes)
    y = torch.randint(0, arch.n_classes, (B, 2))
    loss = torch.nn.functional.cross_entropy(out.reshape(-1, arch.n_classes) / arch.timesteps, y.reshape(-1))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
    before = {n: t.detach().clone() for n, t in net.named_parameters()}
    opt.zero_grad()
    loss.backward()
    assert torch.isfinite(loss)
    assert net.lin["blocks_2_mlp2"].weight.grad.abs().sum() > 0  # the third block is in the graph
    opt.step()
    changed = [n for n, t in net.named_parameters() if t.requires_grad and not torch.equal(t, before[n])]
    assert "lin.blocks_2_qkv.weight" in changed and "lin.head.weight" in changed


class _Half:
    """numpy-Generator stand-in whose uniforms are all 0.5."""

    def random(self, shape):
        return np.full(shape, 0.5)


@pytest.mark.parametrize("name", list(ARCHS))
def test_torch_network_equals_float_model(name, monkeypatch):
    """Pinned draws: torch eval logits == float_forward on the exported float model (float64, 1e-9)."""
    from _torch_net import snn_to_float_model

    torch.set_num_threads(1)
    arch = ARCHS[name]
    net = _net(arch, seed=2, timesteps=3).double()
    codes, p = _codes_warm_bn(net, arch)
    monkeypatch.setattr(torch, "rand_like", lambda t: torch.full_like(t, 0.5))
    net.eval()
    with torch.no_grad():
        got = net(p).numpy()
    fm = snn_to_float_model(net.float(), arch, {})
    want = float_forward(fm, codes, timesteps=3, rng=_Half(), k_s=16, k_o=16)
    assert got.shape == want.shape == ((5, arch.n_classes) if not arch.readout_tokens
                                       else (5, arch.readout_tokens, arch.n_classes))
    assert np.abs(want).max() > 0
    # float32 export of the parameters: the LIF decisions are identical (no threshold within 1e-4), logits close
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("leak_shift,hard", [(1, True), (2, False), (15, False)])
def test_lif_rate_twin_is_the_mean_count_on_constant_input(leak_shift, hard):
    """``LIF.rate(y, T)`` is the mean of T spiking steps on the constant input ``y`` (exactly), leaves the
    membrane alone and passes a gradient; for the integrate-and-fire setting (soft reset, no leak to within
    2^-15) it is ``clip(floor(T y / theta), 0, T) / T``."""
    from _torch_hw import LIF

    T, theta = 6, 0.7
    lif = LIF(theta, False, leak_shift, hard)
    k = torch.arange(-3, T + 4, dtype=torch.float64)
    y = torch.cat([(k + 0.5) * theta / T, 1.5 * torch.randn(100, generator=torch.Generator().manual_seed(5),
                                                             dtype=torch.float64)]).requires_grad_(True)
    got = lif.rate(y, T)
    assert lif.v is None
    with torch.no_grad():
        want = sum(lif(y) for _ in range(T)) / T
    assert torch.equal(got.detach(), want)
    if leak_shift == 15 and not hard:
        assert torch.equal(got.detach()[:len(k)], k.clamp(0, T) / T)
    got.sum().backward()
    assert y.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["digits", "mimo-icl"])
def test_rate_twin_at_one_step_equals_the_float_model_in_expectation(name, monkeypatch):
    """With T = 1 the rate twin (``state.rate``) is the float model with the encoder, S and O in expectation
    (K_O = 64, so that O does not saturate and a sampled S or O would show)."""
    from _torch_net import snn_to_float_model
    from bittrue.floatmodel import SOURCES

    torch.set_num_threads(1)
    arch = dataclasses.replace(ARCHS[name], timesteps=1)
    net = _net(arch, seed=2, k_o=64).double()
    codes, p = _codes_warm_bn(net, arch)
    net.eval()
    net.state.rate = True
    with torch.no_grad():
        got = net(p).numpy()
    fm = snn_to_float_model(net.float(), arch, {})
    want = float_forward(fm, codes, timesteps=1, rng=np.random.default_rng(0), k_s=16, k_o=64,
                         expectation=frozenset(SOURCES))
    assert np.abs(want).max() > 0
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # its logits are summed over T like the spiking network's: with each LIF's rate held at its one-step spike,
    # the twin of T = 3 gives 3 times the logits of T = 1
    import _torch_hw

    monkeypatch.setattr(_torch_hw.LIF, "rate", lambda self, y, timesteps: (y >= self.theta()).to(y.dtype))
    net.double()
    with torch.no_grad():
        one = net(p).numpy()
        net.timesteps = 3
        np.testing.assert_allclose(net(p).numpy(), 3 * one, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("attention,norm", [("softmax", "layernorm"), ("ssa", "layernorm"), ("ssa", "affine")])
@pytest.mark.parametrize("name", list(ARCHS))
def test_torch_ann_equals_numpy_ann(name, attention, norm):
    """The torch ANN, its numpy forward (``tools/ann.py``) and the torch ANN rebuilt from its arrays agree, for
    each attention form and normalisation; the file says which (``meta.attention``, ``meta.norm``)."""
    from _torch_net import AnnTransformer, ann_from_arrays, ann_to_arrays
    from ann import ann_forward_tokens

    torch.set_num_threads(1)
    arch = ARCHS[name]
    torch.manual_seed(4)
    ann = AnnTransformer(arch, attention=attention, k_s=8, norm=norm).double().eval()
    with torch.no_grad():  # an affine norm starts as the identity: make it do something
        for p_ in ann.parameters():
            if p_.ndim == 1:
                p_.add_(0.3 * torch.randn_like(p_))
    x = torch.rand(4, arch.n_patches, arch.token_features, dtype=torch.float64)
    with torch.no_grad():
        got = ann(x).numpy()
    arrays = {k: (v.astype(np.float64) if v.dtype == np.float32 else v) for k, v in ann_to_arrays(ann, arch).items()}
    assert str(arrays.get("meta.attention", "softmax")) == attention
    assert str(arrays.get("meta.norm", "layernorm")) == norm
    want = ann_forward_tokens(arrays, x.numpy(), arch)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        again = ann_from_arrays(arch, arrays).double().eval()(x).numpy()
    np.testing.assert_allclose(again, want, rtol=1e-4, atol=1e-5)


def test_hardware_config_reaches_the_layers(tmp_path):
    """``--hardware FILE.toml`` -> HWOptions -> every HWLinear: ADC bits, output noise, PCM time, tile mapping."""
    from _torch_hw import HWOptions

    from bittrue.config import HardwareConfig

    toml = tmp_path / "hw.toml"
    toml.write_text('[tile]\nadc_bits = 6\ncols = 32\nmapping = "tile"\n[pcm]\noutput_noise = false\n'
                    't_inference_s = 3600.0\n')
    hw = HardwareConfig.load(toml)
    opts = HWOptions(hw)
    assert (opts.adc_bits, opts.out_noise_lsb, opts.pcm_time_s) == (6, 0.0, 3600.0)
    assert opts.as_dict()["mapping"] == "tile" and opts.as_dict()["tile_cols"] == 32
    assert HWOptions(hw, adc_bits=8, out_noise_lsb=0.5, pcm_time_s=1.0).adc_bits == 8  # explicit options win
    net = _net(ARCHITECTURES["digits"])
    net2 = type(net)(ARCHITECTURES["digits"], 16, 16, opts)
    assert all(m.opts.hw is hw for m in net2.lin.values())
    # the ADC quantises to 6 bits: at most 2^6 distinct codes per column in a noisy training forward
    net2.train()
    net2.state.noise = 1.0
    net2.state.forward_id = 1
    lin = net2.lin["blocks_0_mlp1"]
    x = (torch.rand(16, 17, 64) < 0.5).float()  # 272 currents per column
    with torch.no_grad():
        lin.bn.eval()
        y = lin(x)
        a, b = lin.bn.weight / torch.sqrt(lin.bn.running_var + lin.bn.eps), lin.bn.bias
        codes = ((y - b) / a).reshape(-1, y.shape[-1])
    assert max(len(torch.unique(codes[:, c])) for c in range(codes.shape[1])) <= 64
