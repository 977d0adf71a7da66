"""Parts shared by the commands: input errors, threads, chip size bound, HDF5 readers, the float SNN's logits."""
from __future__ import annotations

import numpy as np

from ..config import ConfigError, HardwareConfig
from ..dist import DistError
from ..fileio import OutputError
from ..model import ModelError
from ..options import UsageError
from ..progress import bar


INPUT_ERRORS = (ConfigError, DistError, ModelError, OutputError, UsageError)


def set_threads(n: int | None) -> None:
    if n is None:
        return
    import numba

    n = min(n, numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(n)


def check_user_dataset(args) -> None:
    """cifar10 (no shipped model, the user's data): ``--data-dir`` must hold its files and a model must be given,
    checked before any work; a UsageError (one line, exit 2) otherwise.  Other datasets need neither."""
    from ..workloads import check_data_dir

    if args.dataset != "cifar10":
        return
    try:
        check_data_dir(args.dataset, args.data_dir)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.model is None and not (getattr(args, "chip", None) or getattr(args, "image", None)):
        raise UsageError("--dataset cifar10: no model ships; give --model M.h5 (tools/train.py cifar10, "
                         "docs/cifar10.md)")


def check_loggable(cfg, option: str | None) -> None:
    """Golden vectors and activation logs hold the rate encoder's signals only: refuse ``encoder.mode = bitserial``
    (its per-pass currents and ADC codes have no place in the schema yet, docs/golden-schema.md)."""
    from ..modes import EncoderMode

    if cfg.encoder.mode == EncoderMode.BITSERIAL:
        lead = f"{option}: " if option else ""
        raise UsageError(f"{lead}golden vectors and logs are not written for encoder.mode = bitserial yet "
                         f"(docs/golden-schema.md); run without it or with encoder.mode = rate")


def check_replayable_option(signals, option: str) -> None:
    """``--replayable``: a UsageError unless an RTL replay could use every stored block (golden-schema 5.2)."""
    from ..golden import check_replayable

    try:
        check_replayable(signals)
    except ValueError as exc:
        raise UsageError(f"{option} with --replayable: {exc}") from None


def float_logits(model, cfg: HardwareConfig, x: np.ndarray, T: int, batch: int, quiet: bool) -> np.ndarray:
    """Logits of the float SNN (``--device float``): one rng seeded with the root seed, in batches."""
    from ..floatmodel import float_forward

    arch = model.arch
    rng = np.random.default_rng(cfg.run.root_seed)
    logits = np.zeros((len(x),) + ((arch.readout_tokens,) if arch.readout_tokens else ()) + (arch.n_classes,))
    with bar(len(x), "float SNN", quiet) as b:
        for i in range(0, len(x), batch):
            logits[i:i + batch] = float_forward(
                model, x[i:i + batch], timesteps=T, rng=rng, k_s=cfg.resolved_k_s(arch.d_k),
                k_o=cfg.resolved_k_o(arch.n_tokens), leak_shift=cfg.lif.leak_shift, reset=cfg.lif.reset,
                encoder_mode=cfg.encoder.mode, encoder_bits=cfg.encoder.bits)
            b.update(min(batch, len(x) - i))
    return logits


def no_complete_batch(part) -> bool:
    """True for a readable partial log that records no complete batch yet (nothing to keep: start it over).

    That includes ``samples_done = 0``: a run interrupted in its first batch may have left groups or datasets
    created but not yet described (a signal between ``create_group`` and its attributes).
    """
    from ..golden import GoldenError
    from ..h5safe import open_h5

    try:
        with open_h5(part, "partial log", GoldenError, complete=False) as f:
            return "samples_done" not in f.attrs or int(f.attrs["samples_done"]) == 0 or \
                not all(g in f for g in ("chip", "inputs", "layers", "outputs"))
    except GoldenError:
        return False  # unreadable: the resume path reports it


def chip_bytes(chip) -> int:
    """Upper bound of the bytes a chip group takes in an HDF5 file (uncompressed conductance images + slack)."""
    return sum(2 * lay.g_pos_code.nbytes + 64 * lay.m_code.size for lay in chip.layers) + (256 << 10)
