"""The unit of work: one image (or, later, one video frame) identified by its Lightly key."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class SampleKind(StrEnum):
    IMAGE = "IMAGE"
    VIDEO_FRAME = "VIDEO_FRAME"


@dataclass(frozen=True)
class Sample:
    """One sample, keyed exactly as Lightly names it.

    Attributes:
        key: POSIX path relative to the input datasource (``subdir/img.png``); for video
            frames the Lightly frame name (``subdir/clip-024-mp4.png``).
        path: Absolute path of the file to read (the video for a frame).
        kind: Image or video frame.
        size: File size in bytes (part of the file identity used by caches).
        mtime_ns: File modification time in ns (part of the file identity used by caches).
        frame_index: 0-based frame index in PyAV decode order, for video frames.
        box: For an object crop (:mod:`runner.crops`): ``(left, top, right, bottom)`` of the
            upright image to cut out before embedding; None for the whole image.
    """

    key: str
    path: Path
    kind: SampleKind
    size: int
    mtime_ns: int
    frame_index: int | None = None
    box: tuple[int, int, int, int] | None = None
