"""Small thumbnails of every embedded video frame, written while the frame is decoded anyway.

A video run decodes each frame once, in the embedding pass; the thumbnails of every frame (not
only the selected ones) come from that decode, so the report's example pages and the viewer's
"Not selected" tab show real frames and nothing decodes a video a second time for them.

The cache is content-addressed like the embeddings (``<lightly datasource>/.lightly/cache/
frame_thumbnails/<hash[:2]>/<hash>.png``, the hash being the frame's content hash), so
reruns, sweeps and identical copies of a video reuse it. PNG at the size of Lightly's
thumbnails, so the thumbnails stage copies files instead of re-encoding them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from runner.atomic import atomic_path
from runner.write_paths import contained

if TYPE_CHECKING:
    from av.video.frame import VideoFrame
    from av.video.reformatter import VideoReformatter

THUMBNAIL_SIZE = 256
"""Longest side in pixels, of these and of Lightly's thumbnails (which are copied from these)."""


@dataclass(frozen=True)
class FrameThumbnailCache:
    """Where the thumbnail of a frame with a given content hash lives.

    Attributes:
        directory: ``<lightly datasource>/.lightly/cache/frame_thumbnails``.
        size: Longest side in pixels.
    """

    directory: Path
    size: int = THUMBNAIL_SIZE

    def path(self, content_hash: str) -> Path:
        """The PNG of the frame whose content hash is ``content_hash``."""
        return contained(self.directory, content_hash[:2], f"{content_hash}.png")

    def paths(self, content_hashes: Mapping[str, str]) -> dict[str, Path]:
        """Key -> thumbnail path, for every key given (whether written yet or not)."""
        return {key: self.path(digest) for key, digest in content_hashes.items()}

    def missing(self, keys: Iterable[str], content_hashes: Mapping[str, str]) -> set[str]:
        """The keys whose thumbnail has not been written yet."""
        return {key for key in keys if not self.path(content_hashes[key]).is_file()}


def thumbnail_shape(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) scaled so the longest side is at most ``size``; never enlarged."""
    scale = min(1.0, size / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def write_frame_thumbnail(
    frame: VideoFrame, target: Path, *, size: int, scaler: VideoReformatter
) -> None:
    """Scale ``frame`` (FFmpeg, while converting to RGB) and save it as PNG atomically.

    Args:
        frame: A decoded frame, any pixel format.
        target: Where the PNG goes (its folder is created).
        size: Longest side in pixels.
        scaler: A reformatter kept for thumbnails only (FFmpeg caches its tables per size).
    """
    width, height = thumbnail_shape(frame.width, frame.height, size)
    small = scaler.reformat(frame, width=width, height=height, format="rgb24", interpolation="AREA")
    image = Image.fromarray(small.to_ndarray())  # (h, w, 3) uint8
    with atomic_path(target, suffix=".png") as tmp:
        image.save(tmp, format="PNG")
