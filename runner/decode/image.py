"""Open one image as the model sees it: upright (EXIF orientation applied), 8-bit RGB, loaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from runner.decode.errors import DecodeError

# Grayscale modes with more than 8 bits per pixel; Pillow's own convert("RGB") clips them at 255.
_HIGH_BIT_DEPTH_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


def open_image(path: Path, *, draft_size: int | None = None) -> Image.Image:
    """Decode an image file into an upright RGB image.

    Args:
        path: The image file.
        draft_size: When set, let the JPEG decoder downscale by a power of two while keeping
            both sides at least this many pixels (much faster for large JPEGs; ignored by other
            formats).

    Returns:
        A fully loaded ``RGB`` image, independent of the file (which is closed). Animated
        formats give their first frame. Alpha is dropped, as Lightly's loader does.

    Raises:
        DecodeError: The file cannot be opened, decoded or converted; the reason names the
            exception class and message, e.g. ``"OSError: image file is truncated"``.
    """
    try:
        with Image.open(path) as image:
            if draft_size is not None:
                image.draft("RGB", (draft_size, draft_size))
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
            return to_rgb(image)
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, ...
        raise DecodeError.from_exception(exc) from exc


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB, always returning a new image.

    Palette images with transparency go through RGBA (as Pillow recommends); 16-bit and
    floating-point grayscale is scaled to 8 bits instead of being clipped.

    Args:
        image: A loaded image in any mode.

    Returns:
        A new ``RGB`` image.
    """
    if image.mode in _HIGH_BIT_DEPTH_MODES:
        return _high_bit_depth_to_l(image).convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        return image.convert("RGBA").convert("RGB")
    return image.convert("RGB")


def _high_bit_depth_to_l(image: Image.Image) -> Image.Image:
    """Map 16-bit (or 32-bit int / float) grayscale to 8-bit ``L``.

    Values that already fit in 0..255 are kept; otherwise the 16-bit range 0..65535 is mapped
    to 0..255 (the usual meaning of 16-bit PNG/TIFF), clipping anything outside it.
    """
    pixels = np.asarray(image, dtype=np.float64)  # (H, W)
    if pixels.size and float(np.nanmax(pixels)) > 255.0:
        pixels = pixels / 257.0  # 65535 -> 255
    pixels = np.nan_to_num(pixels, nan=0.0)
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))  # (H, W) -> L
