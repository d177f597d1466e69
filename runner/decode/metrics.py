"""Lightly's computed metadata (``lightly.<name>``) from the pixels of one decoded image.

The corruptness check decodes every new image once; these metrics are computed from that
decode and cached with it (see :mod:`runner.decode.inspect`), so selecting on
``lightly.sharpness`` costs no second decode. Formulas and their reasons: ``docs/inputs.md``.

All metrics are computed on the upright image (EXIF orientation applied) in 8-bit RGB. Pixel
metrics use a nearest-neighbour sample whose longer side is at most ``MAX_SIDE`` pixels (the
centre pixel of every k x k cell): its cost does not grow with the image (a box filter would
read every pixel and add ~40 % to the corruptness check of 12 MP photos), it keeps the pixel
values (the noise of a row, the grey levels of a uniform row) and its means are unbiased
estimates of the full image's.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageStat

from runner.decode.image import to_rgb

MAX_SIDE = 512
"""Longer side (px) of the copy the pixel metrics are computed on."""

UNIFORM_ROW_STD = 1.0
"""A row is uniform when the standard deviation of its grey values (0-255) is below this."""

HEADER_METRICS = ("width", "height", "sizeInBytes")
"""Known without decoding the pixels."""

PIXEL_METRICS = (
    "sharpness",
    "snr",
    "contrast",
    "meanRed",
    "meanGreen",
    "meanBlue",
    "uniformRowRatio",
)
"""Need the decoded pixels."""

ALL_METRICS = HEADER_METRICS + PIXEL_METRICS

_ORIENTATION_TAG = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_MEANS = ("meanRed", "meanGreen", "meanBlue")


def orientation(image: Image.Image) -> int:
    """The EXIF orientation (1-8) of an opened image; 1 when absent or invalid."""
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # a damaged EXIF block must not fail the inspection
        return 1
    return value if isinstance(value, int) and value in _TRANSPOSE else 1


def header_metrics(image: Image.Image, *, size_in_bytes: int) -> dict[str, float]:
    """``width``, ``height`` (upright, after EXIF orientation) and ``sizeInBytes``.

    Args:
        image: An opened image (its pixels need not be loaded).
        size_in_bytes: Size of the file.

    Returns:
        The three header metrics.
    """
    width, height = image.size
    if orientation(image) in (5, 6, 7, 8):  # rotated by 90 degrees: sides swap
        width, height = height, width
    return {"width": float(width), "height": float(height), "sizeInBytes": float(size_in_bytes)}


def pixel_metrics(image: Image.Image) -> dict[str, float]:
    """The pixel metrics of a loaded image (any mode), on a sample of at most ``MAX_SIDE`` px.

    Args:
        image: A fully loaded Pillow image; not modified.

    Returns:
        ``sharpness`` = variance of the 4-neighbour Laplacian of the grey image (valid region,
        0 under 3x3 px); ``snr`` = mean / std of grey (0 for a constant image); ``contrast`` =
        std of grey / 255 (RMS contrast, 0-0.5); ``meanRed``, ``meanGreen``, ``meanBlue`` =
        channel means (0-255); ``uniformRowRatio`` = fraction of rows whose grey values have a
        std below ``UNIFORM_ROW_STD``. Grey is BT.601 luma (Pillow's ``F`` conversion, unrounded).
    """
    sample = to_rgb(_sample(image))  # sample first: converting the full image costs a copy
    transpose = _TRANSPOSE.get(orientation(image))
    if transpose is not None:
        sample = sample.transpose(transpose)
    width, height = sample.size
    grey = np.asarray(sample.convert("F"), dtype=np.float32).reshape(height, width)
    if grey.size == 0:
        return dict.fromkeys(PIXEL_METRICS, 0.0)
    std = float(grey.std(dtype=np.float64))
    mean = float(grey.mean(dtype=np.float64))
    channel_means = ImageStat.Stat(sample).mean  # exact, from the histograms
    uniform_rows = grey.std(axis=1, dtype=np.float64) < UNIFORM_ROW_STD  # (H,)
    return {
        "sharpness": _laplacian_variance(grey),
        "snr": mean / std if std > 1e-6 else 0.0,
        "contrast": std / 255.0,
        **{name: float(value) for name, value in zip(_MEANS, channel_means, strict=True)},
        "uniformRowRatio": float(uniform_rows.mean()),
    }


def _laplacian_variance(grey: npt.NDArray[np.float32]) -> float:
    """Variance of ``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]`` applied inside the borders."""
    if grey.shape[0] < 3 or grey.shape[1] < 3:
        return 0.0
    centre = grey[1:-1, 1:-1]
    laplacian = grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4 * centre
    return float(laplacian.var(dtype=np.float64))


def _sample(image: Image.Image) -> Image.Image:
    """A nearest-neighbour copy with the longer side at most ``MAX_SIDE``, or the image."""
    factor = math.ceil(max(image.size) / MAX_SIDE)
    if factor <= 1:
        return image
    width, height = image.size
    size = (max(1, round(width / factor)), max(1, round(height / factor)))
    return image.resize(size, Image.Resampling.NEAREST)
