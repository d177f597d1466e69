"""Thumbnails: upright, RGB, bounded, positional names, bad files skipped."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from PIL import Image

from runner.report.thumbnails import make_thumbnails


@pytest.fixture
def input_dir(tmp_path: Path) -> Path:
    root = tmp_path / "input"
    (root / "sub").mkdir(parents=True)
    Image.new("RGB", (400, 200), (200, 30, 30)).save(root / "wide.png")
    Image.new("L", (90, 300), 128).save(root / "sub" / "tall.jpg")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    return root


def test_thumbnails_are_bounded_jpegs_with_positional_names(
    input_dir: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "run" / "thumbnails"

    written = make_thumbnails(
        keys=["wide.png", "sub/tall.jpg"], input_dir=input_dir, out_dir=out_dir, size=100
    )

    assert written == {"wide.png": "thumbnails/0000.jpg", "sub/tall.jpg": "thumbnails/0001.jpg"}
    with Image.open(out_dir.parent / written["wide.png"]) as wide:
        assert (wide.format, wide.mode, wide.size) == ("JPEG", "RGB", (100, 50))
    with Image.open(out_dir.parent / written["sub/tall.jpg"]) as tall:
        assert (tall.mode, tall.size) == ("RGB", (30, 100))
    assert sorted(p.name for p in out_dir.iterdir()) == ["0000.jpg", "0001.jpg"]  # no temp files


def test_broken_and_missing_files_are_skipped_and_logged(
    input_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out_dir = tmp_path / "thumbnails"

    with caplog.at_level(logging.WARNING, logger="runner.report.thumbnails"):
        written = make_thumbnails(
            keys=["broken.jpg", "gone.png", "wide.png"],
            input_dir=input_dir,
            out_dir=out_dir,
            size=64,
        )

    assert written == {"wide.png": "thumbnails/0002.jpg"}  # names stay positional
    assert "broken.jpg" in caplog.text and "gone.png" in caplog.text
    assert [p.name for p in out_dir.iterdir()] == ["0002.jpg"]


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    input_dir = tmp_path / "input"
    input_dir.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    Image.new("RGB", (200, 100), (10, 120, 10)).save(input_dir / "rot.jpg", exif=exif)

    written = make_thumbnails(
        keys=["rot.jpg"], input_dir=input_dir, out_dir=tmp_path / "thumbnails", size=50
    )

    with Image.open(tmp_path / written["rot.jpg"]) as thumb:
        assert thumb.size == (25, 50)


def test_transparency_is_laid_over_white(tmp_path: Path) -> None:
    input_dir = tmp_path / "input"
    input_dir.mkdir()
    Image.new("RGBA", (20, 20), (0, 0, 0, 0)).save(input_dir / "clear.png")

    written = make_thumbnails(
        keys=["clear.png"], input_dir=input_dir, out_dir=tmp_path / "thumbnails", size=20
    )

    with Image.open(tmp_path / written["clear.png"]) as thumb:
        pixel = thumb.getpixel((10, 10))
    assert isinstance(pixel, tuple) and min(pixel) > 245


def test_size_must_be_positive(input_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="positive"):
        make_thumbnails(keys=["wide.png"], input_dir=input_dir, out_dir=tmp_path, size=0)
