"""Computed lightly.* metadata: formulas on synthetic images, caching, on-demand computation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from runner.datasource.discover import discover
from runner.decode.inspect import inspect_files
from runner.decode.metrics import ALL_METRICS, PIXEL_METRICS, header_metrics, pixel_metrics
from runner.errors import ConfigError, DataError
from runner.inputs.lightly_metadata import LIGHTLY_KEYS, lightly_values, metric_name

STRIPE_SHARPNESS = 510.0**2  # Laplacian of alternating 0/255 lines: +-2 * 255 everywhere


def rgb(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8))


def stripes(*, horizontal: bool, width: int = 40, height: int = 40) -> Image.Image:
    """Alternating black and white lines, one pixel wide."""
    rows, cols = np.indices((height, width))
    grey = ((rows if horizontal else cols) % 2 * 255).astype(np.uint8)
    return rgb(np.stack([grey] * 3, axis=-1))


def test_flat_image() -> None:
    metrics = pixel_metrics(rgb(np.full((48, 64, 3), 128)))

    assert metrics["sharpness"] == 0.0
    assert metrics["uniformRowRatio"] == 1.0
    assert metrics["contrast"] == 0.0
    assert metrics["snr"] == 0.0  # a constant image has no measurable signal-to-noise
    assert (metrics["meanRed"], metrics["meanGreen"], metrics["meanBlue"]) == (128, 128, 128)
    assert sorted(metrics) == sorted(PIXEL_METRICS)


def test_pure_red_image() -> None:
    pixels = np.zeros((20, 30, 3))
    pixels[..., 0] = 255

    metrics = pixel_metrics(rgb(pixels))

    assert (metrics["meanRed"], metrics["meanGreen"], metrics["meanBlue"]) == (255, 0, 0)
    assert metrics["sharpness"] == 0.0
    assert metrics["uniformRowRatio"] == 1.0


def test_horizontal_stripes_are_uniform_rows_with_maximal_contrast() -> None:
    metrics = pixel_metrics(stripes(horizontal=True))

    assert metrics["uniformRowRatio"] == 1.0
    assert metrics["sharpness"] == pytest.approx(STRIPE_SHARPNESS, rel=1e-5)
    assert metrics["contrast"] == pytest.approx(0.5, rel=1e-5)
    assert metrics["snr"] == pytest.approx(1.0, rel=1e-5)
    assert metrics["meanRed"] == pytest.approx(127.5)


def test_vertical_stripes_have_no_uniform_row() -> None:
    metrics = pixel_metrics(stripes(horizontal=False))

    assert metrics["uniformRowRatio"] == 0.0
    assert metrics["sharpness"] == pytest.approx(STRIPE_SHARPNESS, rel=1e-5)


def test_large_images_are_measured_on_a_sample() -> None:
    rng = np.random.default_rng(0)
    pixels = np.full((600, 1200, 3), 90.0)  # top half: uniform rows
    pixels[300:] = rng.integers(0, 256, (300, 1200, 3))  # bottom half: noise
    colours = np.zeros((600, 1200, 3))
    colours[:, :300, 0] = 255  # a red quarter, the rest blue
    colours[:, 300:, 2] = 255

    metrics = pixel_metrics(rgb(pixels))
    means = pixel_metrics(rgb(colours))

    assert metrics["uniformRowRatio"] == pytest.approx(0.5, abs=0.01)
    assert metrics["meanGreen"] == pytest.approx((90 + 127.5) / 2, abs=2)
    assert (means["meanRed"], means["meanBlue"]) == pytest.approx((255 / 4, 255 * 3 / 4), abs=1)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = stripes(horizontal=True, width=40, height=20)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated by 90 degrees: the stripes become vertical
    path = tmp_path / "rotated.png"
    image.save(path, exif=exif)

    with Image.open(path) as stored:
        stored.load()
        header = header_metrics(stored, size_in_bytes=123)
        pixels = pixel_metrics(stored)

    assert header == {"width": 20.0, "height": 40.0, "sizeInBytes": 123.0}
    assert pixels["uniformRowRatio"] == 0.0


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "I;16", "CMYK"])
def test_any_mode_is_measured(mode: str) -> None:
    image = Image.new(mode, (10, 8))

    metrics = pixel_metrics(image)

    assert metrics["sharpness"] == 0.0
    assert metrics["uniformRowRatio"] == 1.0


@pytest.fixture
def images(tmp_path: Path) -> Path:
    root = tmp_path / "input"
    root.mkdir()
    rgb(np.full((8, 12, 3), 200)).save(root / "flat.png")
    stripes(horizontal=True).save(root / "striped.png")
    return root


def test_metrics_travel_through_the_inspection_cache(images: Path, tmp_path: Path) -> None:
    samples = discover(images).samples
    cache = tmp_path / "inspect.json"

    first = inspect_files(samples, cache_file=cache, num_threads=1).infos
    second = inspect_files(samples, cache_file=cache, num_threads=1)

    assert second.cache_hits == 2
    assert second.infos == first
    assert sorted(second.infos["striped.png"].metrics) == sorted(ALL_METRICS)
    keys = ["striped.png", "flat.png"]
    sharpness = lightly_values("sharpness", keys=keys, infos=second.infos, paths={}, computed={})
    assert sharpness.computed_now == 0
    np.testing.assert_allclose(sharpness.values, [STRIPE_SHARPNESS, 0.0], rtol=1e-5)
    size = lightly_values("sizeInBytes", keys=keys, infos=second.infos, paths={}, computed={})
    assert size.values.tolist() == [(images / k).stat().st_size for k in keys]


def test_missing_pixel_metrics_are_computed_from_the_files(images: Path) -> None:
    samples = discover(images).samples
    infos = inspect_files(samples, cache_file=None, num_threads=1, check_corruptness=False).infos
    paths = {s.key: s.path for s in samples}
    computed: dict[str, dict[str, float]] = {}

    width = lightly_values("width", keys=["flat.png"], infos=infos, paths={}, computed=computed)
    rows = lightly_values(
        "uniformRowRatio", keys=["flat.png", "striped.png"], infos=infos, paths=paths,
        computed=computed,
    )  # fmt: skip
    again = lightly_values("snr", keys=["flat.png"], infos=infos, paths=paths, computed=computed)

    assert width.values.tolist() == [12.0] and width.computed_now == 0
    assert rows.values.tolist() == [1.0, 1.0] and rows.computed_now == 2
    assert again.computed_now == 0  # measured once for all metrics
    with pytest.raises(DataError, match=r"'flat\.png' is unknown"):
        lightly_values("sharpness", keys=["flat.png"], infos=infos, paths={}, computed={})


def test_unreadable_file_for_on_demand_metrics_is_a_data_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")

    with pytest.raises(DataError, match=r"cannot compute lightly\.\* metadata of 'bad\.png'"):
        lightly_values("snr", keys=["bad.png"], infos={}, paths={"bad.png": bad}, computed={})


def test_metric_names() -> None:
    assert "lightly.uniformRowRatio" in LIGHTLY_KEYS
    assert metric_name("lightly.sharpness") == "sharpness"
    with pytest.raises(ConfigError) as excinfo:
        metric_name("lightly.sharpnes", custom_keys=["weather.temperature"])
    message = str(excinfo.value)
    assert "known keys: weather.temperature, lightly.width" in message
    assert "did you mean 'lightly.sharpness'" in message
