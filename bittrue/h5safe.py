"""Reading HDF5 files that may be hostile: nothing is read from outside the file, nothing is allocated
because a header claims it.

Every reader (float models, hardware images, chips, golden files, activation logs) opens its file with
:func:`open_h5`, which checks the whole file before the caller reads a byte of data:

* the path is a regular file (not a device, FIFO or directory);
* every object is reached through hard links only: soft links (which may loop or point at external
  links), external links and user-defined links are refused;
* no dataset uses external raw storage (``H5Pset_external``) or is virtual (VDS): both read bytes of
  other files;
* every dataset holds plain numbers (bool, integer or float of at most 8 bytes: no complex, string,
  compound, reference or variable-length data), has at most 8 dimensions, uses only the filters
  bittrue writes (deflate, shuffle, fletcher32) or lzf, and chunks of at most 64 MiB; with
  ``complete=True`` its storage must be fully written (a dataset that declares more than it stores is
  refused, so a tiny file cannot declare terabytes of fill values);
* every attribute is a number, a bool or text (arrays of them), at most 1 MiB, and the attributes that
  bittrue interprets (:data:`ATTR_RULES`: seeds, time steps, ``bn_eps``, ``packed_length`` ...) are in range.

:func:`read` then reads one dataset after checking its declared shape and dtype against what the caller
expects.  Failures raise the caller's error class (a ``ModelError`` or ``GoldenError``) with one line that
names the file and the object.
"""
from __future__ import annotations

import math
import os
import stat
from pathlib import Path

import h5py
import numpy as np

#: largest chunk (uncompressed) a dataset may declare; bittrue writes 10 KiB..1 MiB chunks
MAX_CHUNK_BYTES = 64 << 20
#: largest attribute (text or array)
MAX_ATTR_BYTES = 1 << 20
#: most links in a file (a digits log with every signal has a few hundred)
MAX_LINKS = 200_000
#: most attributes on one object
MAX_ATTRS = 256
#: filters bittrue writes (deflate 1, shuffle 2, fletcher32 3) and lzf (32000, built into h5py)
ALLOWED_FILTERS = {1: "deflate", 2: "shuffle", 3: "fletcher32", 32000: "lzf"}

_U64 = (1 << 64) - 1
_I63 = (1 << 63) - 1


def _int_rule(lo: int, hi: int):
    def check(v):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            return f"must be an integer in {lo}..{hi}"
        if not lo <= int(v) <= hi:
            return f"= {int(v)} outside {lo}..{hi}"
        return None
    return check


def _float_rule(lo: float, hi: float, lo_open: bool = False):
    def check(v):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            return f"must be a number in {lo}..{hi}"
        x = float(v)
        if not math.isfinite(x) or x > hi or x < lo or (lo_open and x <= lo):
            return f"= {x!r} outside {'(' if lo_open else '['}{lo:g}, {hi:g}]"
        return None
    return check


def _bool_rule(v):
    if isinstance(v, (bool, np.bool_)) or (isinstance(v, (int, np.integer)) and int(v) in (0, 1)):
        return None
    return "must be true or false"


def _text_rule(v):
    return None if isinstance(v, (str, bytes)) else "must be text"


#: attributes bittrue interprets, by name, wherever they appear: value -> None or the reason it is refused
ATTR_RULES = {
    "bn_eps": _float_rule(0.0, 1.0, lo_open=True),
    "layer_id": _int_rule(0, 1 << 16),
    "index": _int_rule(0, 1 << 16),
    "s_shift": _int_rule(0, 62),
    "t_inference_s": _float_rule(0.0, 1e10),
    "drift_time_s": _float_rule(0.0, 1e10),
    "program_seed": _int_rule(0, _U64),
    "root_seed": _int_rule(0, _U64),
    "timesteps": _int_rule(1, 1 << 16),
    "samples_done": _int_rule(0, _I63),
    "n_samples": _int_rule(0, _I63),
    "n_requested": _int_rule(0, _I63),
    "start": _int_rule(0, _I63),
    "packed_length": _int_rule(1, 1 << 31),
    "bit_width": _int_rule(1, 64),
    "frac_bits": _int_rule(0, 64),
    "theta_code": _int_rule(-(1 << 31), (1 << 31) - 1),
    "tile_rows": _int_rule(1, 4096),
    "tile_cols": _int_rule(1, 4096),
    "n_row_tiles": _int_rule(0, 1 << 20),
    "n_col_tiles": _int_rule(0, 1 << 20),
    "signed": _bool_rule,
    "drift_compensation": _bool_rule,
    "output_noise": _bool_rule,
    **{k: _text_rule for k in ("format", "format_version", "arch_json", "training_json", "kind", "config_json",
                               "model_sha256", "name", "device", "schema", "schema_version", "signals",
                               "noise_generator", "image_sha256", "record_sha256", "encoding-type",
                               "encoding-version", "units", "unit", "signal", "overflow", "rounding", "bitorder")},
}


def _fail(error, what: str, path, msg: str):
    return error(f"{what} {path}: {msg}")


def check_regular(path: str | Path, what: str, error) -> Path:
    """``path`` as a Path if it is an existing regular file (symlinks on the file system are resolved)."""
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise _fail(error, what, path, "file not found") from None
    except OSError as exc:
        raise _fail(error, what, path, f"cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file (device, FIFO or socket)"
        raise _fail(error, what, path, f"{kind}: refused")
    return p


def open_h5(path: str | Path, what: str, error, *, mode: str = "r", complete: bool = True) -> h5py.File:
    """Open ``path`` and check all of it (see the module docstring); the caller closes the file."""
    p = check_regular(path, what, error)
    try:
        f = h5py.File(p, mode)
    except OSError:
        raise _fail(error, what, path, "not an HDF5 file (or truncated, or locked by another process)") from None
    try:
        check_file(f, what, error, path=path, complete=complete)
    except BaseException:
        f.close()
        raise
    return f


def check_file(f: h5py.File, what: str, error, *, path=None, complete: bool = True) -> None:
    """Walk every link of ``f`` (without following any but hard links) and check every object."""
    path = f.filename if path is None else path
    names: list[str] = []

    def visit(name):
        names.append(name)
        return True if len(names) > MAX_LINKS else None

    try:
        f.visit_links(visit)
        if len(names) > MAX_LINKS:
            raise _fail(error, what, path, f"more than {MAX_LINKS} links: refused")
        file_size = os.fstat(f.id.get_vfd_handle()).st_size if f.driver == "sec2" else None
        _check_attrs(f, "/", what, error, path)
        for name in names:
            link = f.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise _fail(error, what, path, f"/{name} is an external link to {link.filename}:{link.path} "
                                               f"(refused: data outside the file)")
            if isinstance(link, h5py.SoftLink):
                raise _fail(error, what, path, f"/{name} is a soft link to {link.path} (refused: only hard "
                                               f"links are read)")
            if not isinstance(link, h5py.HardLink):
                raise _fail(error, what, path, f"/{name} is a user-defined link (refused)")
            obj = f[name]
            _check_attrs(obj, f"/{name}", what, error, path)
            if isinstance(obj, h5py.Dataset):
                _check_dataset(obj, f"/{name}", what, error, path, complete, file_size)
            elif not isinstance(obj, h5py.Group):
                raise _fail(error, what, path, f"/{name} is a {type(obj).__name__} (refused)")
    except (RuntimeError, KeyError, ValueError, TypeError, OSError, RecursionError) as exc:
        if isinstance(exc, error):
            raise
        raise _fail(error, what, path, f"cannot be walked safely ({type(exc).__name__}: "
                                       f"{str(exc).splitlines()[0] if str(exc) else ''})") from None


def _check_dtype(dt: np.dtype) -> str | None:
    if h5py.check_string_dtype(dt) is not None or h5py.check_vlen_dtype(dt) is not None:
        return "text or variable-length data"
    if dt.kind not in "biuf" or dt.itemsize > 8 or dt.fields is not None or dt.subdtype is not None:
        return f"dtype {dt} (only bool, integers and floats of at most 8 bytes are read)"
    return None


def _check_dataset(ds: h5py.Dataset, name: str, what: str, error, path, complete: bool, file_size) -> None:
    dcpl = ds.id.get_create_plist()
    if dcpl.get_layout() == h5py.h5d.VIRTUAL:
        raise _fail(error, what, path, f"{name} is a virtual dataset (refused: data outside the file)")
    if dcpl.get_external_count() > 0:
        outside = dcpl.get_external(0)[0]
        outside = outside.decode(errors="replace") if isinstance(outside, bytes) else str(outside)
        raise _fail(error, what, path, f"{name} uses external raw storage in {outside} (refused: data outside "
                                       f"the file)")
    bad = _check_dtype(ds.dtype)
    if bad:
        raise _fail(error, what, path, f"{name} holds {bad}: refused")
    shape = ds.shape
    if shape is None:
        raise _fail(error, what, path, f"{name} has no data space (null): refused")
    if len(shape) > 8:
        raise _fail(error, what, path, f"{name} has {len(shape)} dimensions: refused")
    for i in range(dcpl.get_nfilters()):
        code = dcpl.get_filter(i)[0]
        if code not in ALLOWED_FILTERS:
            raise _fail(error, what, path, f"{name} uses HDF5 filter {code} (only "
                                           f"{', '.join(ALLOWED_FILTERS.values())} are read)")
    nbytes = math.prod(shape) * ds.dtype.itemsize
    layout = dcpl.get_layout()
    if layout == h5py.h5d.CHUNKED:
        chunks = ds.chunks
        if math.prod(chunks) * ds.dtype.itemsize > MAX_CHUNK_BYTES:
            raise _fail(error, what, path, f"{name} declares chunks {chunks} of more than "
                                           f"{MAX_CHUNK_BYTES >> 20} MiB: refused")
        if complete and nbytes:
            want = math.prod(-(-n // c) for n, c in zip(shape, chunks))
            have = ds.id.get_num_chunks()
            if have != want:
                raise _fail(error, what, path, f"{name} declares shape {shape} but stores {have} of its {want} "
                                               f"chunks (incomplete or forged): refused")
    elif layout == h5py.h5d.CONTIGUOUS and complete and nbytes:
        stored = ds.id.get_storage_size()
        if stored != nbytes or (file_size is not None and stored > file_size):
            raise _fail(error, what, path, f"{name} declares {nbytes} bytes but stores {stored} (incomplete or "
                                           f"forged): refused")


def _check_attrs(obj, name: str, what: str, error, path) -> None:
    keys = list(obj.attrs.keys())
    if len(keys) > MAX_ATTRS:
        raise _fail(error, what, path, f"{name} has {len(keys)} attributes: refused")
    for k in keys:
        aid = obj.attrs.get_id(k)
        dt = aid.dtype
        where = f"{name} attribute {k!r}"
        text = h5py.check_string_dtype(dt) is not None
        if not text:
            bad = _check_dtype(dt)
            if bad:
                raise _fail(error, what, path, f"{where} holds {bad}: refused")
        shape = aid.shape or ()
        try:
            size = aid.get_storage_size()
        except RuntimeError:  # an empty attribute: H5Aget_storage_size returns 0, which h5py reports as failure
            size = 0
        if len(shape) > 1 or math.prod(shape) > (1 << 16) or size > MAX_ATTR_BYTES:
            raise _fail(error, what, path, f"{where} is larger than {MAX_ATTR_BYTES >> 20} MiB: refused")
        rule = ATTR_RULES.get(k)
        if rule is None and not text:
            continue
        v = obj.attrs[k]
        if text:
            items = [v] if shape == () else list(np.ravel(v))
            if sum(len(x) for x in items if isinstance(x, (str, bytes))) > MAX_ATTR_BYTES:
                raise _fail(error, what, path, f"{where} is larger than {MAX_ATTR_BYTES >> 20} MiB: refused")
        if rule is not None:
            if isinstance(v, np.ndarray):
                if v.shape != () and v.size != 1:
                    raise _fail(error, what, path, f"{where} must be a scalar")
                v = v.reshape(()).item() if v.dtype.kind != "O" else v.reshape(())[()]
            if isinstance(v, np.generic):
                v = v.item()
            reason = rule(v)
            if reason:
                raise _fail(error, what, path, f"{where} {reason}: refused")


def read(group, key: str, what: str, error, *, shape: tuple[int, ...] | None = None, kinds: str = "biuf",
         dtype=None, rows: slice | None = None) -> np.ndarray:
    """``group[key]`` read after checking it is a dataset of ``shape`` with a dtype kind in ``kinds``.

    ``shape`` entries of -1 match any length (the row count of streamed datasets); ``rows`` reads only
    those rows.  Returns an array (cast to ``dtype`` if given).
    """
    if key not in group:
        raise error(f"{what}: {key} is missing")
    ds = group[key]
    if not isinstance(ds, h5py.Dataset):
        raise error(f"{what}: {ds.name} is not a dataset")
    bad = _check_dtype(ds.dtype)
    if bad or ds.dtype.kind not in kinds:
        raise error(f"{what}: {ds.name} has dtype {ds.dtype}, expected "
                    f"{'integers' if set(kinds) <= set('iu') else 'numbers'}")
    if shape is not None:
        have = ds.shape
        if len(have) != len(shape) or any(w >= 0 and h != w for h, w in zip(have, shape)):
            raise error(f"{what}: {ds.name} has shape {have}, expected "
                        f"{tuple('*' if w < 0 else w for w in shape)}")
    raw = ds[rows] if rows is not None else ds[()]
    out = np.asarray(raw)
    return out.astype(dtype) if dtype is not None else out
