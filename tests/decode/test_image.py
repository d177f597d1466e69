"""open_image: upright, 8-bit RGB, loaded; failures become DecodeError with a Lightly reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from runner.decode.errors import DecodeError
from runner.decode.image import open_image

RED = (255, 0, 0)
BLUE = (0, 0, 255)


def _left_red_right_blue(width: int, height: int) -> Image.Image:
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, : width // 2] = RED
    pixels[:, width // 2 :] = BLUE
    return Image.fromarray(pixels)


def _pixel(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    value = image.getpixel(xy)
    assert isinstance(value, tuple)
    return value


def _close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def test_plain_rgb_png_is_returned_unchanged(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (6, 9, 3), dtype=np.uint8)
    path = tmp_path / "a.png"
    Image.fromarray(pixels).save(path)

    image = open_image(path)

    assert image.mode == "RGB"
    assert image.size == (9, 6)
    np.testing.assert_array_equal(np.asarray(image), pixels)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    _left_red_right_blue(40, 20).save(path, format="JPEG", exif=exif.tobytes(), quality=95)

    image = open_image(path)

    assert image.size == (20, 40)
    assert _close(_pixel(image, (10, 2)), RED)  # the left half is now on top
    assert _close(_pixel(image, (10, 37)), BLUE)


def test_palette_with_transparency_becomes_rgb(tmp_path: Path) -> None:
    path = tmp_path / "palette.png"
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    palette.save(path, transparency=0)

    image = open_image(path)

    assert image.mode == "RGB"
    assert image.getpixel((0, 0)) == (10, 200, 30)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "L", "1", "CMYK"])
def test_other_modes_become_rgb(tmp_path: Path, mode: str) -> None:
    path = tmp_path / f"image_{mode}.{'jpg' if mode == 'CMYK' else 'png'}"
    Image.new("RGB", (5, 3), (255, 255, 255)).convert(mode).save(path)

    image = open_image(path)

    assert image.mode == "RGB"
    assert image.size == (5, 3)
    assert _close(_pixel(image, (0, 0)), (255, 255, 255), tolerance=5)


def test_sixteen_bit_grayscale_is_scaled_not_clipped(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    values = np.array([[0, 257 * 64, 257 * 128, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(path)

    image = open_image(path)

    assert image.mode == "RGB"
    assert [_pixel(image, (x, 0))[0] for x in range(4)] == [0, 64, 128, 255]


def test_draft_size_downscales_large_jpegs_but_not_below_the_request(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    _left_red_right_blue(800, 600).save(path, format="JPEG")

    image = open_image(path, draft_size=100)

    assert image.mode == "RGB"
    assert image.width < 800
    assert min(image.size) >= 100


def test_returned_image_outlives_the_file(tmp_path: Path) -> None:
    path = tmp_path / "gone.png"
    _left_red_right_blue(4, 4).save(path)

    image = open_image(path)
    path.unlink()

    assert image.getpixel((0, 0)) == RED


def test_truncated_jpeg_raises_decode_error(tmp_path: Path) -> None:
    path = tmp_path / "truncated.jpg"
    pixels = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="JPEG")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(DecodeError) as excinfo:
        open_image(path)

    assert excinfo.value.reason.startswith("OSError: image file is truncated")


def test_random_bytes_raise_decode_error(tmp_path: Path) -> None:
    path = tmp_path / "noise.png"
    path.write_bytes(np.random.default_rng(2).bytes(500))

    with pytest.raises(DecodeError) as excinfo:
        open_image(path)

    assert excinfo.value.reason.startswith("UnidentifiedImageError: cannot identify image file")


def test_missing_file_raises_decode_error(tmp_path: Path) -> None:
    with pytest.raises(DecodeError, match=r"^FileNotFoundError: "):
        open_image(tmp_path / "missing.png")
