"""Lightly's thumbnails in the Lightly datasource, one per candidate image.

Named with the datasource's ``thumbnail_suffix`` (Lightly's default
``.lightly/thumbnails/[filename]_thumb.[extension]``: ``[filename]`` is the input-relative path
without extension, ``[extension]`` its extension without the dot). The viewer and anything
that expects Lightly's layout load these instead of full images. A thumbnail newer than its
image is kept, so reruns only write what changed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image

from runner.atomic import atomic_path
from runner.datasource.sample import Sample
from runner.decode.errors import DecodeError
from runner.decode.image import open_image

log = logging.getLogger(__name__)

THUMBNAIL_SIZE = 256
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


@dataclass(frozen=True)
class ThumbnailStats:
    written: int
    kept: int
    failed: int


def thumbnail_relpath(key: str, suffix: str) -> str:
    """Where the thumbnail of ``key`` lives, relative to the Lightly datasource."""
    pure = PurePosixPath(key)
    stem = str(pure.with_suffix("")) if pure.suffix else key
    extension = pure.suffix.lstrip(".")
    return suffix.replace("[filename]", stem).replace("[extension]", extension)


def write_lightly_thumbnails(
    samples: Sequence[Sample],
    *,
    lightly_dir: Path,
    suffix: str,
    num_threads: int,
    size: int = THUMBNAIL_SIZE,
) -> ThumbnailStats:
    """Write missing or stale thumbnails; an empty ``suffix`` disables thumbnails."""
    if not suffix:
        return ThumbnailStats(0, 0, 0)
    workers = num_threads if num_threads > 0 else (os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(
            pool.map(
                lambda s: _one(s, lightly_dir / thumbnail_relpath(s.key, suffix), size), samples
            )
        )
    stats = ThumbnailStats(
        outcomes.count("written"), outcomes.count("kept"), outcomes.count("failed")
    )
    log.info("thumbnails: %d written, %d up to date, %d failed", *vars(stats).values())
    return stats


def _one(sample: Sample, target: Path, size: int) -> str:
    try:
        if target.exists() and target.stat().st_mtime_ns >= sample.mtime_ns:
            return "kept"
        image = open_image(sample.path, draft_size=size)
        image.thumbnail((size, size), Image.Resampling.BILINEAR)
        fmt = _SAVE_FORMAT.get(PurePosixPath(sample.key).suffix.lower(), "PNG")
        with atomic_path(target, suffix=target.suffix) as tmp:
            image.save(tmp, format=fmt, **({"quality": 85} if fmt in ("JPEG", "WEBP") else {}))
        return "written"
    except (DecodeError, OSError) as err:
        log.warning("thumbnail of %s failed: %s", sample.key, err)
        return "failed"
