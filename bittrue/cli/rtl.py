"""``bittrue rtl``: export the Verilog and cocotb benches, or replay a golden file through them."""
from __future__ import annotations

from ..progress import log


def cmd_rtl(args) -> int:
    from .. import rtl

    if args.action == "export":
        files = rtl.export(args.path, args.force)
        print(f"rtl export {args.path}: {len(files)} files (hdl/: Verilog, tb/: cocotb testbenches; docs/rtl.md)")
        return 0
    blocks = [b.strip() for b in args.blocks.split(",") if b.strip()] if args.blocks else None
    res = rtl.check(args.path, rtl_dir=args.rtl_dir, blocks=blocks, log=None if args.quiet else log.info)
    print(rtl.report(res, args.path, as_json=args.json))
    return 0 if res.ok else 1
