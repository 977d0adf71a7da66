"""``bittrue compile`` and ``bittrue program``: the pipeline's stages as files."""
from __future__ import annotations

from ..options import fmt_time as _fmt_time
from ..pipeline import compile_image, device_settings, load_config, load_model


def cmd_compile(args) -> int:
    from ..fileio import atomic_output, check_output, write_h5_file
    from ..hwfile import write_image

    cfg = load_config(args)
    check_output(args.output, args.force)
    model = load_model(args.model, cfg=cfg)
    image = compile_image(model, cfg, args.model, args.quiet)
    with atomic_output(args.output, args.force) as tmp:
        write_h5_file(tmp, lambda f: write_image(f, image))
    print(f"hardware image {args.output}: {len(image.layers)} layers, "
          f"ADC full scales {[int(x) for lay in image.layers for x in lay.i_fs_code]}")
    return 0


def cmd_program(args) -> int:
    from ..fileio import atomic_output, check_output, write_h5_file
    from ..hwfile import write_chip
    from ..pipeline import read_image_file
    from ..program import program

    check_output(args.output, args.force)
    device_settings(args)
    image = read_image_file(args.image, "image", "infer --chip (it is programmed already)")
    chip = program(image, args.device, t_inference_s=args.drift_time,
                   drift_compensation=False if args.no_drift_compensation else None, program_seed=args.program_seed)
    with atomic_output(args.output, args.force) as tmp:
        write_h5_file(tmp, lambda f: write_chip(f, chip))
    print(f"chip {args.output}: device {chip.device}, t = {_fmt_time(chip.t_inference_s)}, "
          f"drift compensation {'on' if chip.drift_compensation else 'off'}, "
          f"alpha {[round(float(a), 4) for lay in chip.layers for a in lay.alpha]}")
    return 0
