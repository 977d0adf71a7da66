"""Network architectures of spec 6 and the float-model file format (``.h5``).

A float model is what training produces and what ``compile`` consumes.  File layout
(format ``bittrue-float-model`` 1.x)::

    /                         attrs: format, format_version, arch_json, training_json
    /pos                      float32 (n_tokens, dim)   position embedding (residual units)
    /cls                      float32 (dim,)            CLS vector (only if arch.cls_token)
    /linear/<name>/weight     float32 (in, out)
    /linear/<name>/bias       float32 (out,)
    /linear/<name>/bn_gamma, bn_beta, bn_mean, bn_var   float32 (out,)   attr bn_eps
    /lif/<name>               float32 scalar threshold (residual units)

Linear layer names, in data-flow order: ``embed``, ``blocks.{b}.qkv``, ``blocks.{b}.proj``,
``blocks.{b}.mlp1``, ``blocks.{b}.mlp2`` for each block, ``head``.  LIF names: ``blocks.{b}.in``,
``.q``, ``.k``, ``.v``, ``.mlp_in``, ``.h`` and ``head.in``.  All values are in "residual units":
the real number whose fixed-point code (``frac_bits`` fractional bits) the hardware stores.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from .modes import Mask, parse_enum

FORMAT = "bittrue-float-model"
FORMAT_VERSION = "1.0.0"
#: largest model (weights + position embedding) an architecture may describe: 2^26 float32 = 256 MiB
MAX_PARAMETERS = 1 << 26


class ModelError(ValueError):
    """A float model or hardware image file that cannot be used; the message says why."""


@dataclass(frozen=True)
class Architecture:
    """One row of the spec-6 table."""

    name: str
    token_features: int  #: spike inputs per token (patch pixels x channels)
    n_patches: int  #: input tokens (image patches, or prompt tokens)
    dim: int
    depth: int
    heads: int
    d_k: int
    mlp: int
    timesteps: int
    n_classes: int
    mask: Mask = Mask.DIAGONAL
    cls_token: bool = True
    image_shape: tuple[int, ...] = ()  #: (H, W, C) for image models
    patch: int = 0
    #: 0: read out token 0 (the CLS token); Q > 0: read out each of the last Q tokens (decoder queries)
    readout_tokens: int = 0
    #: MIMO prompt tokens only: copies of the ramp block and of the one-hot block in each token
    #: (``bittrue.datasets.mimo.MimoConfig``; docs/mimo.md 11.7); 1 for every other model
    ramp_copies: int = 1
    onehot_copies: int = 1

    @property
    def n_tokens(self) -> int:
        return self.n_patches + (1 if self.cls_token else 0)

    @property
    def readout_slice(self) -> slice:
        """Tokens whose head outputs are the logits (spec 5.4)."""
        if self.readout_tokens:
            return slice(self.n_tokens - self.readout_tokens, self.n_tokens)
        return slice(0, 1)

    @property
    def n_readout(self) -> int:
        return self.readout_tokens or 1

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """Every linear layer (crossbar group) name -> (in, out), in data-flow order (:mod:`bittrue.netlist`)."""
        from .netlist import crossbars

        return {name: (op.n_in, op.n_out) for name, op in crossbars(self).items()}

    def lif_names(self) -> list[str]:
        """Every LIF population, in data-flow order (:mod:`bittrue.netlist`)."""
        from .netlist import lifs

        return list(lifs(self))

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        d["mask"] = self.mask.name.lower()
        d["image_shape"] = list(self.image_shape)
        for f in ("ramp_copies", "onehot_copies"):  # written only where used: older files stay byte-identical
            if d[f] == 1:
                del d[f]
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Architecture":
        try:
            d = json.loads(text)
        except RecursionError:
            raise ModelError("architecture: JSON nested too deeply") from None
        except (TypeError, ValueError) as exc:
            raise ModelError(f"architecture: not valid JSON ({exc})") from None
        if not isinstance(d, dict):
            raise ModelError("architecture: not a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ModelError(f"architecture: unknown fields {sorted(unknown)}")
        try:
            d["mask"] = parse_enum(Mask, d.get("mask", "diagonal"), "architecture.mask")
            d["image_shape"] = tuple(d.get("image_shape", ()))
            arch = cls(**d)
        except (TypeError, ValueError) as exc:
            raise ModelError(f"architecture: {exc}") from None
        arch.validate()
        return arch

    def validate(self) -> None:
        for f in ("token_features", "n_patches", "dim", "depth", "heads", "d_k", "mlp", "timesteps",
                  "n_classes"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 1 << 16:
                raise ModelError(f"architecture.{f} = {v!r}: must be an integer in 1..65536")
        if not isinstance(self.cls_token, bool):
            raise ModelError(f"architecture.cls_token = {self.cls_token!r}: must be true or false")
        if not isinstance(self.name, str) or len(self.name) > 256:
            raise ModelError("architecture.name: must be text of at most 256 characters")
        p = self.patch
        if not isinstance(p, int) or isinstance(p, bool) or not 0 <= p <= 1 << 16:
            raise ModelError(f"architecture.patch = {p!r}: must be an integer in 0..65536")
        shp = self.image_shape
        if len(shp) > 4 or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1 << 16
                                   for v in shp):
            raise ModelError(f"architecture.image_shape = {list(shp)!r}: at most 4 integers in 1..65536")
        if self.n_patches * self.token_features > 1 << 24:
            raise ModelError(f"architecture: n_patches x token_features = {self.n_patches * self.token_features:,}"
                             f" inputs per sample, more than 2^24 (memory bound)")
        if shp and p and (len(shp) != 3 or shp[0] % p or shp[1] % p or (shp[0] // p) * (shp[1] // p) !=
                          self.n_patches or p * p * shp[2] != self.token_features):
            raise ModelError(f"architecture.image_shape = {list(shp)!r} with patch {p} does not give "
                             f"{self.n_patches} patches of {self.token_features} features")
        for f in ("ramp_copies", "onehot_copies"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 64:
                raise ModelError(f"architecture.{f} = {v!r}: must be an integer in 1..64")
        if (self.ramp_copies, self.onehot_copies) != (1, 1) and not self.readout_tokens:
            raise ModelError("architecture: ramp_copies / onehot_copies are for MIMO prompt-token models "
                             "(readout_tokens > 0)")
        rt = self.readout_tokens
        if not isinstance(rt, int) or isinstance(rt, bool) or not 0 <= rt <= self.n_tokens:
            raise ModelError(f"architecture.readout_tokens = {rt!r}: must be an integer in 0..{self.n_tokens}")
        if self.heads * self.d_k != self.dim:
            raise ModelError(f"architecture: heads x d_k = {self.heads}x{self.d_k} must equal dim = {self.dim}")
        params = sum(i * o for i, o in self.linear_shapes().values()) + self.n_tokens * self.dim
        if params > MAX_PARAMETERS:
            raise ModelError(f"architecture: {params:,} parameters, more than the {MAX_PARAMETERS:,} bittrue "
                             f"reads (memory bound)")


ARCHITECTURES: dict[str, Architecture] = {
    "digits": Architecture(name="digits", token_features=4, n_patches=16, dim=64, depth=2, heads=4, d_k=16,
                           mlp=256, timesteps=8, n_classes=10, mask=Mask.DIAGONAL, cls_token=True,
                           image_shape=(8, 8, 1), patch=2),
    "cifar10-vit-small": Architecture(name="cifar10-vit-small", token_features=48, n_patches=64, dim=512,
                                      depth=6, heads=8, d_k=64, mlp=2048, timesteps=4, n_classes=10,
                                      mask=Mask.DIAGONAL, cls_token=True, image_shape=(32, 32, 3), patch=4),
    # 2x2 QPSK in-context detection (bittrue.datasets.mimo, docs/mimo.md): 16 pilot tokens then 4 query tokens,
    # 73 features each (thermometer-coded received signal, one-hot pilot symbols, query flag); causal SSA; one
    # joint 16-class readout per query token
    "mimo-icl": Architecture(name="mimo-icl", token_features=73, n_patches=20, dim=64, depth=2, heads=4, d_k=16,
                             mlp=256, timesteps=8, n_classes=16, mask=Mask.CAUSAL, cls_token=False,
                             readout_tokens=4),
}


@dataclass
class Linear:
    weight: np.ndarray  #: (in, out) float32
    bias: np.ndarray  #: (out,)
    bn_gamma: np.ndarray
    bn_beta: np.ndarray
    bn_mean: np.ndarray
    bn_var: np.ndarray
    bn_eps: float = 1e-5

    def affine(self) -> tuple[np.ndarray, np.ndarray]:
        """(a, b) such that BN(W x + bias) = a * (W x) + b, per output column."""
        a = self.bn_gamma.astype(np.float64) / np.sqrt(self.bn_var.astype(np.float64) + self.bn_eps)
        b = (self.bias.astype(np.float64) - self.bn_mean) * a + self.bn_beta
        return a, b


@dataclass
class FloatModel:
    arch: Architecture
    linear: dict[str, Linear]
    lif_threshold: dict[str, float]
    pos: np.ndarray  #: (n_tokens, dim)
    cls: np.ndarray  #: (dim,)
    training: dict = field(default_factory=dict)

    def validate(self) -> "FloatModel":
        """Check every shape against the architecture and every value for NaN/Inf."""
        arch = self.arch
        shapes = arch.linear_shapes()
        missing = set(shapes) - set(self.linear)
        if missing:
            raise ModelError(f"float model: missing linear layers {sorted(missing)}")
        extra = set(self.linear) - set(shapes)
        if extra:
            raise ModelError(f"float model: unexpected linear layers {sorted(extra)}")
        for name, (fin, fout) in shapes.items():
            lin = self.linear[name]
            _check(f"linear/{name}/weight", lin.weight, (fin, fout))
            for p in ("bias", "bn_gamma", "bn_beta", "bn_mean", "bn_var"):
                _check(f"linear/{name}/{p}", getattr(lin, p), (fout,))
            if np.any(lin.bn_var < 0):
                raise ModelError(f"float model: linear/{name}/bn_var has negative entries")
            eps = lin.bn_eps
            if not isinstance(eps, (int, float, np.floating)) or not (math.isfinite(eps) and 0 < eps <= 1):
                raise ModelError(f"float model: linear/{name} bn_eps {eps!r} must be a finite number in (0, 1]")
        missing = set(arch.lif_names()) - set(self.lif_threshold)
        if missing:
            raise ModelError(f"float model: missing LIF thresholds {sorted(missing)}")
        for name, th in self.lif_threshold.items():
            if not np.isfinite(th) or th <= 0:
                raise ModelError(f"float model: lif/{name} threshold {th!r} must be a finite positive number")
        _check("pos", self.pos, (arch.n_tokens, arch.dim))
        _check("cls", self.cls, (arch.dim,))
        return self


def _check(name: str, arr: np.ndarray, shape: tuple[int, ...]) -> None:
    if tuple(arr.shape) != tuple(shape):
        raise ModelError(f"float model: {name} has shape {tuple(arr.shape)}, architecture needs {tuple(shape)}")
    if not np.all(np.isfinite(arr)):
        raise ModelError(f"float model: {name} contains NaN or Inf values")


def save_float_model(model: FloatModel, path: str | Path) -> None:
    """Write ``model`` to ``path`` (deterministic bytes: no timestamps, fixed order)."""
    model.validate()
    with h5py.File(path, "w", track_order=True) as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["arch_json"] = model.arch.to_json()
        f.attrs["training_json"] = json.dumps(model.training, sort_keys=True)
        f.create_dataset("pos", data=model.pos.astype(np.float32))
        f.create_dataset("cls", data=model.cls.astype(np.float32))
        g = f.create_group("linear", track_order=True)
        for name in model.arch.linear_shapes():
            lin = model.linear[name]
            gl = g.create_group(name, track_order=True)
            for p in ("weight", "bias", "bn_gamma", "bn_beta", "bn_mean", "bn_var"):
                gl.create_dataset(p, data=np.asarray(getattr(lin, p), dtype=np.float32))
            gl.attrs["bn_eps"] = float(lin.bn_eps)
        gt = f.create_group("lif", track_order=True)
        for name in model.arch.lif_names():
            gt.create_dataset(name, data=np.float32(model.lif_threshold[name]))


def load_float_model(path: str | Path) -> FloatModel:
    """Read and validate a float model; raise :class:`ModelError` with one clear line on any problem.

    The file is checked by :func:`bittrue.h5safe.open_h5` (nothing outside it is read), and every dataset's
    shape and dtype is checked against the architecture before it is read.
    """
    from . import h5safe

    path = Path(path)
    what = f"float model {path}"
    f = h5safe.open_h5(path, "float model", ModelError)
    try:
        with f:
            fmt = f.attrs.get("format")
            if fmt != FORMAT:
                raise ModelError(f"float model {path}: format is {fmt!r}, expected {FORMAT!r}")
            ver = str(f.attrs.get("format_version", "0"))
            if ver.split(".")[0] != FORMAT_VERSION.split(".")[0]:
                raise ModelError(f"float model {path}: format version {ver} is not supported "
                                 f"(this bittrue reads {FORMAT_VERSION.split('.')[0]}.x)")
            arch = Architecture.from_json(f.attrs["arch_json"])
            shapes = arch.linear_shapes()
            extra = sorted(set(f["linear"]) - set(shapes))
            if extra:
                raise ModelError(f"{what}: unexpected linear layers {extra}")
            linear = {}
            for name in f["linear"]:
                gl = f["linear"][name]
                fin, fout = shapes[name]
                linear[name] = Linear(*(h5safe.read(gl, p, what, ModelError, kinds="iuf", dtype=np.float32,
                                                    shape=(fin, fout) if p == "weight" else (fout,)) for p in
                                        ("weight", "bias", "bn_gamma", "bn_beta", "bn_mean", "bn_var")),
                                      bn_eps=float(gl.attrs.get("bn_eps", 1e-5)))
            extra = sorted(set(f["lif"]) - set(arch.lif_names()))
            if extra:
                raise ModelError(f"{what}: unexpected LIF thresholds {extra}")
            lif = {name: float(h5safe.read(f["lif"], name, what, ModelError, kinds="iuf", shape=()))
                   for name in f["lif"]}
            training = json.loads(str(f.attrs.get("training_json", "{}")))
            model = FloatModel(arch=arch, linear=linear, lif_threshold=lif,
                               pos=h5safe.read(f, "pos", what, ModelError, kinds="iuf", dtype=np.float32,
                                               shape=(arch.n_tokens, arch.dim)),
                               cls=h5safe.read(f, "cls", what, ModelError, kinds="iuf", dtype=np.float32,
                                               shape=(arch.dim,)), training=training)
    except ModelError as exc:
        if str(path) in str(exc):
            raise
        raise ModelError(f"{what}: {exc}") from None
    except (KeyError, OSError, ValueError, TypeError, RuntimeError, RecursionError) as exc:
        raise ModelError(f"float model {path}: corrupt or incomplete ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    return model.validate()


def random_float_model(arch: Architecture, seed: int = 0, threshold: float = 1.0) -> FloatModel:
    """A random (untrained) model of ``arch``: for benchmarks and tests."""
    rng = np.random.default_rng(seed)
    linear = {}
    for name, (fin, fout) in arch.linear_shapes().items():
        w = rng.normal(0.0, 1.0 / np.sqrt(fin), size=(fin, fout)).astype(np.float32)
        linear[name] = Linear(weight=w, bias=np.zeros(fout, np.float32), bn_gamma=np.ones(fout, np.float32),
                              bn_beta=np.zeros(fout, np.float32), bn_mean=np.zeros(fout, np.float32),
                              bn_var=np.ones(fout, np.float32))
    lif = {n: float(threshold) for n in arch.lif_names()}
    pos = rng.normal(0, 0.1, size=(arch.n_tokens, arch.dim)).astype(np.float32)
    cls = rng.normal(0, 0.1, size=(arch.dim,)).astype(np.float32)
    return FloatModel(arch=arch, linear=linear, lif_threshold=lif, pos=pos, cls=cls).validate()


def training_stages(model: FloatModel, source) -> list[str]:
    """The chain of commands that produced ``model`` (its ``training["stages"]``; a model of one stage records
    only ``training["command"]``; ``unknown (source)`` when it records neither), for a tool that derives a new
    model from it and appends its own command."""
    tr = model.training or {}
    return list(tr.get("stages", [tr.get("command", f"unknown ({source})")]))


def trained_config_mismatches(model: FloatModel, cfg) -> list[str]:
    """Hardware settings the model was trained for (its ``training`` metadata) that ``cfg`` does not have.

    Checks the SSA counter saturations K_S and K_O, the LIF leak shift and the reset mode: a model run with
    other values than it was trained for can lose most of its accuracy.  Also the encoder mode (spec 5.3), whose
    two forms feed the embedding the same expectation with other noise.  Returns one message per mismatch
    (empty when the metadata lacks the fields, e.g. for random models).
    """
    tr = model.training or {}
    arch = model.arch
    have = {"k_s": cfg.resolved_k_s(arch.d_k), "k_o": cfg.resolved_k_o(arch.n_tokens),
            "leak_shift": int(cfg.lif.leak_shift), "reset": cfg.lif.reset.name.lower()}
    where = {"k_s": "[ssa] k_s", "k_o": "[ssa] k_o", "leak_shift": "[lif] leak_shift", "reset": "[lif] reset"}
    out = []
    for key, now in have.items():
        want = tr.get(key) if isinstance(tr, dict) else None
        if key == "reset":
            if not isinstance(want, str):
                continue
            want = want.lower()
        elif isinstance(want, (int, np.integer)) and not isinstance(want, bool):
            want = int(want)
        else:  # absent or malformed metadata: nothing to compare
            continue
        if want != now:
            shown = f'"{want}"' if key == "reset" else want
            out.append(f"the model was trained with {key} = {want} but the hardware has {key} = {now} "
                       f"(set {where[key]} = {shown} in --hardware FILE.toml); expect a large accuracy loss")
    want = tr.get("encoder_mode") if isinstance(tr, dict) else None
    now = cfg.encoder.mode.name.lower()
    if isinstance(want, str) and want.lower() != now:
        out.append(f'the model was trained with encoder.mode = "{want.lower()}" but the hardware has "{now}" '
                   f"(spec 5.3: a model is trained for the mode it runs in; set [encoder] mode = \"{want.lower()}\" "
                   f"in --hardware FILE.toml); the same expectation, other input noise")
    return out


def default_model_path(name: str = "digits") -> Path:
    """Path of a model shipped in the package (``bittrue/models/<name>.h5``)."""
    from importlib.resources import files

    return Path(str(files("bittrue") / "models" / f"{name}.h5"))
