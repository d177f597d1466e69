"""Lightly's thumbnails: where each lives and how one is saved from a decoded image.

Named with the datasource's ``thumbnail_suffix`` (Lightly's default
``.lightly/thumbnails/[filename]_thumb.[extension]``: ``[filename]`` is the input-relative path
without extension, ``[extension]`` its extension without the dot). The inspection writes an
image's thumbnail from the decode it makes anyway (see :mod:`runner.decode.uses`); the
thumbnails stage (:mod:`runner.artifacts.lightly_thumbnails`) only fills what is missing.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from PIL import Image

from runner.atomic import atomic_path

_SAVE_FORMAT = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".gif": "PNG",
    ".bmp": "PNG",
    ".tif": "PNG",
    ".tiff": "PNG",
    ".ppm": "PNG",
    ".pgm": "PNG",
}


def thumbnail_relpath(key: str, suffix: str) -> str:
    """Where the thumbnail of ``key`` lives, relative to the Lightly datasource."""
    pure = PurePosixPath(key)
    stem = str(pure.with_suffix("")) if pure.suffix else key
    extension = pure.suffix.lstrip(".")
    return suffix.replace("[filename]", stem).replace("[extension]", extension)


def save_format(key: str) -> str:
    """The Pillow format a thumbnail of ``key`` is saved in (its own, or PNG)."""
    return _SAVE_FORMAT.get(PurePosixPath(key).suffix.lower(), "PNG")


def save_image(image: Image.Image, target: Path, fmt: str) -> None:
    """Save an image atomically in ``fmt`` (JPEG and WebP at quality 85)."""
    with atomic_path(target, suffix=target.suffix) as tmp:
        image.save(tmp, format=fmt, **({"quality": 85} if fmt in ("JPEG", "WEBP") else {}))


def save_thumbnail(image: Image.Image, target: Path, *, key: str, size: int) -> None:
    """Shrink an upright RGB image to fit ``size`` x ``size`` and save it as ``key``'s thumbnail.

    ``image`` is not modified.
    """
    small = image.copy()
    small.thumbnail((size, size), Image.Resampling.BILINEAR)
    save_image(small, target, save_format(key))
