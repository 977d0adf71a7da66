"""The argument parser: every command's options (``build_parser``)."""
from __future__ import annotations

import argparse

from .. import __version__
from ..options import chip_options, device_options, model_options
from ..options import common_options as _common
from ..options import nonneg_int as _nonneg_int
from ..options import pos_int as _pos_int


def _signal_list(text: str) -> frozenset[str]:
    """'spikes,adc' -> frozenset of run.SIGNALS groups; 'all' and 'none' allowed."""
    from ..run import SIGNALS

    items = [s.strip() for s in str(text).split(",") if s.strip()]
    if items == ["all"]:
        return frozenset(SIGNALS)
    if items == ["none"]:
        return frozenset()
    bad = [s for s in items if s not in SIGNALS]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"unknown signal group(s) {', '.join(bad) or repr(text)}: "
                                         f"choose all, none or a comma list of {', '.join(SIGNALS)}")
    return frozenset(items)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse prints usage too by default)
        from ..boundary import one_line

        self.exit(2, f"{self.prog}: error: {one_line(message)}\n")


def _data_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="digits",
                   help="digits (default), mimo (in-context MIMO detection, docs/mimo.md: prints SER versus SNR "
                        "beside float ICL and the classical detectors) or cifar10 (--data-dir and --model, "
                        "docs/cifar10.md)")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="cifar10: the extracted cifar-10-batches-bin folder (data_batch_1..5.bin, test_batch.bin)")
    p.add_argument("--split", default="test", choices=("train", "test", "all"), help="split (default test)")
    p.add_argument("--start", type=_nonneg_int, default=0, help="first sample (mimo: task) index (default 0)")
    p.add_argument("--limit", type=_pos_int, default=None, help="number of samples (default: all)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="bittrue", description="Bit-true emulator of the XPK-1 spiking-transformer accelerator.")
    p.add_argument("--version", action="version", version=f"bittrue {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    q = sub.add_parser("infer", help="run a dataset through the emulated chip; accuracy and throughput")
    model_options(q)
    device_options(q, with_float=True)
    chip_options(q)
    _data_opts(q)
    q.add_argument("--batch-size", type=_pos_int, default=64, help="samples per batch (default 64)")
    q.add_argument("--json", action="store_true", help="JSON on stdout, with per-sample predictions and logits")
    q.add_argument("--log", default=None, metavar="FILE.h5",
                   help="write an activation log (golden-file schema, docs/golden-schema.md), streamed per batch")
    q.add_argument("--log-signals", type=_signal_list, default=_signal_list("spikes,adc"), metavar="LIST",
                   help="signal groups to log: all, none or a comma list of input, seeds, encoder, spikes, membrane,"
                        " ssa, current, noise, adc, requant, residual, logits (default spikes,adc)")
    q.add_argument("--replayable", action="store_true",
                   help="refuse (exit 2) a --log-signals choice that an RTL replay (rtl check) could not use "
                        "(docs/golden-schema.md 5.2)")
    q.add_argument("--resume", action="store_true",
                   help="continue an interrupted --log run from its last complete batch (FILE.h5.partial)")
    q.add_argument("--force", action="store_true",
                   help="overwrite an existing --log file (or its partial file) or --plot file")
    q.add_argument("--tasks-per-snr", type=_pos_int, default=None, metavar="N",
                   help="mimo: the first N tasks per SNR of the test split (default 250; 10000 for the full "
                        "statistics, docs/mimo.md)")
    q.add_argument("--plot", default=None, metavar="FILE.png", help="mimo: write the SER-versus-SNR waterfall plot")
    from ..dist import add_dist_options

    add_dist_options(q)
    _common(q)

    e = sub.add_parser("golden", aliases=["export-golden"],
                       help="export golden vectors: every signal of a few samples (.h5, docs/golden-schema.md)")
    model_options(e)
    device_options(e, with_float=False)
    chip_options(e)
    e.add_argument("--dataset", default="digits",
                   help="digits (default), mimo or cifar10 (--data-dir and --model, docs/cifar10.md)")
    e.add_argument("--data-dir", default=None, metavar="DIR",
                   help="cifar10: the extracted cifar-10-batches-bin folder (data_batch_1..5.bin, test_batch.bin)")
    e.add_argument("--split", default="test", choices=("train", "test", "all"), help="split (default test)")
    e.add_argument("--start", type=_nonneg_int, default=0, help="first sample index (default 0)")
    e.add_argument("--samples", type=_pos_int, default=4, help="number of samples (default 4)")
    e.add_argument("--signals", type=_signal_list, default=_signal_list("all"), metavar="LIST",
                   help="signal groups to store (default all)")
    e.add_argument("--replayable", action="store_true",
                   help="refuse (exit 2) a --signals choice that an RTL replay (rtl check) could not use: every "
                        "stored block needs its companion groups (docs/golden-schema.md 5.2)")
    e.add_argument("--batch-size", type=_pos_int, default=64, help="samples per batch (default 64)")
    e.add_argument("-o", "--output", required=True, help="golden file to write")
    e.add_argument("--force", action="store_true", help="overwrite an existing output")
    _common(e)

    v = sub.add_parser("verify", help="replay a golden file on its own stored chip; first mismatch, exit 1")
    v.add_argument("file", help="golden file (or activation log) .h5")
    v.add_argument("--batch-size", type=_pos_int, default=64, help="samples per replay batch (default 64)")
    v.add_argument("--threads", type=_pos_int, default=None, help="Numba threads (default: all cores)")
    v.add_argument("--quiet", "-q", action="store_true", help="no progress bars or log lines on stderr")

    r = sub.add_parser("rtl", help="RTL reference of the digital blocks (docs/rtl.md): export the Verilog and "
                                   "cocotb testbenches, or replay a golden file through them")
    r.add_argument("action", choices=("export", "check"),
                   help="export: write hdl/ and tb/ to PATH; check: replay golden file PATH through the RTL "
                        "(needs iverilog and the rtl extra)")
    r.add_argument("path", help="export: output folder; check: golden file .h5 (schema >= 1.2)")
    r.add_argument("--rtl-dir", default=None, metavar="DIR",
                   help="check: sources laid out as export writes them (default: the shipped ones)")
    r.add_argument("--blocks", default=None, metavar="LIST",
                   help="check: comma list of encoder, ssa, colpath, lif (default: every block the file stores)")
    r.add_argument("--json", action="store_true", help="check: JSON on stdout")
    r.add_argument("--force", action="store_true", help="export: overwrite an existing folder")
    r.add_argument("--quiet", "-q", action="store_true", help="no log lines on stderr")

    c = sub.add_parser("compile", help="float model + hardware config -> hardware image (.h5)")
    model_options(c, by_dataset=False)
    c.add_argument("-o", "--output", required=True, help="hardware image file to write")
    c.add_argument("--force", action="store_true", help="overwrite an existing output")
    _common(c)

    g = sub.add_parser("program", help="hardware image -> programmed chip (conductance image, requant)")
    g.add_argument("image", help="hardware image .h5 from 'bittrue compile'")
    device_options(g, with_float=False)
    g.add_argument("-o", "--output", required=True, help="chip file to write")
    g.add_argument("--force", action="store_true", help="overwrite an existing output")
    _common(g)

    from ..energy import add_energy_parser

    add_energy_parser(sub)
    from ..plot import add_plot_parser
    from ..sweep import add_sweep_parser

    add_sweep_parser(sub)
    add_plot_parser(sub)

    i = sub.add_parser("info", help="versions, threads, cache directory, defaults")
    i.add_argument("--json", action="store_true")
    for q in [p] + list(dict.fromkeys(sub.choices.values())):  # global, and accepted after COMMAND too
        q.add_argument("--debug", action="store_true", default=argparse.SUPPRESS if q is not p else False,
                       help="show the Python traceback of an internal error instead of one line")
    return p
