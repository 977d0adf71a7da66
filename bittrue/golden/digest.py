"""Canonical records and sha256 digests of a chip (what the integer datapath reads), and git describe."""
from __future__ import annotations

import functools
import hashlib
import subprocess
from pathlib import Path

import numpy as np


def _record(name: str, arr) -> bytes:
    a = np.asarray(arr)
    if a.dtype.kind not in "iub":
        raise TypeError(f"{name}: not integer")
    le = a.dtype.newbyteorder("<")
    head = f"{name}\t{le.str}\t{','.join(str(int(d)) for d in a.shape)}\n".encode()
    return head + np.ascontiguousarray(a, dtype=le).tobytes()


def _text_record(name: str, text: str) -> bytes:
    b = text.encode("utf-8")
    return f"{name}\tutf-8\t{len(b)}\n".encode() + b


def chip_records(chip) -> list[tuple[str, bytes]]:
    """Canonical serialisation of everything the integer datapath reads from a chip.

    Records, in this order (``K`` = ``NN_<layer name>`` as in hwfile, layers by layer_id)::

        image/arch_json, image/config_json                      (UTF-8 text)
        image/pos_code int32, image/cls_code int32
        image/lif_theta_code/<name> int64 scalar                (names sorted)
        per layer: image/layers/K/i_fs_code int64, image/layers/K/sigma_code int64,
                   layers/K/g_pos_code int16, layers/K/g_neg_code int16,
                   layers/K/m_code int64, layers/K/b_code int64, layers/K/s_shift int64 scalar
        output_noise uint8 scalar

    A numeric record is ``name TAB dtype TAB shape LF`` (dtype as numpy's little-endian string,
    e.g. ``<i2``; shape comma-separated, empty for a scalar) followed by the C-order little-endian
    bytes; a text record is ``name TAB utf-8 TAB nbytes LF`` and the bytes.
    """
    from ..hwfile import layer_key

    img = chip.image
    out = [("image/arch_json", _text_record("image/arch_json", img.arch.to_json())),
           ("image/config_json", _text_record("image/config_json", img.config.to_json()))]

    def add(name, arr):
        out.append((name, _record(name, arr)))

    add("image/pos_code", np.asarray(img.pos_code, np.int32))
    add("image/cls_code", np.asarray(img.cls_code, np.int32))
    for k in sorted(img.lif_theta_code):
        add(f"image/lif_theta_code/{k}", np.int64(img.lif_theta_code[k]))
    for lay in sorted(chip.layers, key=lambda x: x.layer_id):
        key = layer_key(lay.layer_id, lay.name)
        im = img.layer(lay.name)
        add(f"image/layers/{key}/i_fs_code", np.asarray(im.i_fs_code, np.int64))
        add(f"image/layers/{key}/sigma_code", np.asarray(im.sigma_code, np.int64))
        add(f"layers/{key}/g_pos_code", np.asarray(lay.g_pos_code, np.int16))
        add(f"layers/{key}/g_neg_code", np.asarray(lay.g_neg_code, np.int16))
        add(f"layers/{key}/m_code", np.asarray(lay.m_code, np.int64))
        add(f"layers/{key}/b_code", np.asarray(lay.b_code, np.int64))
        add(f"layers/{key}/s_shift", np.int64(lay.s_shift))
    add("output_noise", np.uint8(1 if chip.output_noise else 0))
    return out


def chip_digests(chip) -> tuple[str, dict[str, str]]:
    """(image_sha256 over all records, {record name: sha256 of that record})."""
    recs = chip_records(chip)
    h = hashlib.sha256()
    for _, b in recs:
        h.update(b)
    return h.hexdigest(), {n: hashlib.sha256(b).hexdigest() for n, b in recs}


@functools.lru_cache(maxsize=1)
def _git_describe() -> str:
    """``git describe --always --tags`` of the source tree, once per process ("" outside git)."""
    try:
        r = subprocess.run(["git", "describe", "--always", "--tags"], cwd=Path(__file__).resolve().parent,
                           capture_output=True, text=True, timeout=5)
        return r.stdout.strip() if r.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""
