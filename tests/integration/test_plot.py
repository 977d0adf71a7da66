"""``bittrue plot`` on a digits activation log and ``sweep --plot``: PNGs of a real size that are not blank."""
from __future__ import annotations

import numpy as np
import pytest

from bittrue.cli import main

pytest.importorskip("matplotlib")


def _check_png(path, min_w=400, min_h=300, black=False) -> None:
    """A PNG of at least min_w x min_h pixels with data drawn in it, not only empty axes.

    Empty axes with titles and tick labels have no coloured pixels and about 1.8 % near-black ones (measured on a
    grid of 15 empty panels); the data of a raster (black dots) are > 3 % near-black, the other plots' data
    (viridis maps, coloured bars, lines and markers) > 0.2 % coloured pixels.
    """
    from matplotlib.image import imread

    assert path.exists(), path
    img = imread(str(path))  # float RGBA in 0..1
    h, w = img.shape[:2]
    assert w >= min_w and h >= min_h, (path, img.shape)
    rgb = img[..., :3].reshape(-1, 3)
    if black:
        assert np.mean(np.all(rgb < 0.25, axis=1)) > 0.03, path
    else:
        assert np.mean(rgb.max(axis=1) - rgb.min(axis=1) > 0.2) > 0.002, path


@pytest.fixture(scope="module")
def digits_log(tmp_path_factory):
    p = tmp_path_factory.mktemp("log") / "run.h5"
    assert main(["infer", "--limit", "4", "--log", str(p), "--log-signals", "spikes,adc,ssa,membrane", "-q"]) == 0
    return p


def test_plot_log_writes_the_four_pngs(digits_log, tmp_path, capsys):
    out = tmp_path / "plots"
    capsys.readouterr()
    assert main(["plot", str(digits_log), "-o", str(out)]) == 0
    names = ["raster.png", "attention.png", "adc_hist.png", "membrane.png"]
    for n in names:
        _check_png(out / n, black=n == "raster.png")
    assert sorted(p.name for p in out.iterdir()) == sorted(names)  # nothing else left behind (no temp files)
    # never overwritten without --force: one line, exit 2
    assert main(["plot", str(digits_log), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pass --force" in err[0]


def test_plot_skips_what_the_log_lacks(tmp_path, capsys):
    p = tmp_path / "spikes.h5"
    assert main(["infer", "--limit", "2", "--timesteps", "2", "--log", str(p), "--log-signals", "spikes", "-q"]) == 0
    capsys.readouterr()
    assert main(["plot", str(p), "-o", str(tmp_path / "d")]) == 0
    assert [q.name for q in (tmp_path / "d").iterdir()] == ["raster.png"]
    err = capsys.readouterr().err
    assert "no 'ssa' signals" in err and "no 'adc' signals" in err and "no 'membrane' signals" in err
    assert main(["plot", str(tmp_path / "missing.h5"), "-o", str(tmp_path / "e")]) == 2


def test_sweep_plot(tmp_path):
    hw = tmp_path / "hw.toml"
    hw.write_text("[tile]\ncalibration_samples = 8\n")
    png = tmp_path / "s.png"
    assert main(["sweep", "--set", "tile.adc_bits=4,8", "--drift-time", "1s,1d", "--program-seeds", "0-1",
                 "--limit", "4", "--timesteps", "2", "--hardware", str(hw), "-o", str(tmp_path / "s.csv"),
                 "--plot", str(png), "-q"]) == 0
    _check_png(png, min_w=900)
