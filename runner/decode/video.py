"""PyAV helpers: open a video, describe its frames, typed errors.

A video's frames are described by a :class:`VideoInfo` (the *frame table*, built once per file
by :mod:`runner.decode.video_probe`): frame ``i`` is the ``i``-th frame in PyAV decode order,
and, when the stream has usable timestamps, ``info.pts[i]`` is its presentation timestamp.
Readers map every decoded frame back to its index through that timestamp, so a seek that lands
somewhere unexpected can never shift the numbering.

:class:`runner.decode.video_reader.VideoReader` reads any set of frames of one video with as
little decoding as possible: it decodes forward while the next wanted frame is closer than the
next keyframe, and otherwise seeks to the keyframe at or before it (verified: if the demuxer
lands after the frame, it backs off to earlier keyframes, and finally decodes from the start).
Only the current frame is held in memory, whatever the length of the video.

PyAV is imported lazily (``--help`` stays fast) with an actionable message if it is missing.
"""

from __future__ import annotations

import bisect
import importlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING

from PIL import Image

from runner.datasource.videos import frame_name
from runner.decode.errors import DecodeError, describe_exception
from runner.errors import MissingDependencyError

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

__all__ = [
    "EmptyVideoError",
    "MissingFrameError",
    "UnseekableFrameError",
    "VideoError",
    "VideoInfo",
    "VideoOpenError",
    "av_reason",
    "frame_name",
    "frame_to_image",
    "import_av",
    "open_video",
]


class VideoError(DecodeError):
    """A video, or one of its frames, cannot be read."""


class VideoOpenError(VideoError):
    """The container cannot be opened or has no video stream."""


class EmptyVideoError(VideoError):
    """The video has no frame that decodes."""


class UnseekableFrameError(VideoError):
    """The stream ends before the frame: neither seeking nor decoding forward reaches it."""


class MissingFrameError(VideoError):
    """The decoder went past the frame without producing it (the frame is corrupt)."""


def import_av() -> ModuleType:
    """Import PyAV, or explain how to install it.

    Raises:
        MissingDependencyError: PyAV is not installed.
    """
    try:
        return importlib.import_module("av")
    except ImportError as exc:  # pragma: no cover - av is a dependency of the package
        raise MissingDependencyError(
            "videos need PyAV (the 'av' package, which bundles FFmpeg): pip install av"
        ) from exc


def frame_to_image(frame: VideoFrame) -> Image.Image:
    """A decoded frame as a full-size 8-bit RGB Pillow image."""
    return Image.fromarray(frame.to_ndarray(format="rgb24"))  # (H, W, 3) uint8


def av_reason(exc: BaseException) -> str:
    """Lightly-style reason for a PyAV failure, without the file name.

    FFmpeg errors carry the path in their message; the reason must be the same wherever the
    file lies, so only the class name and FFmpeg's error text are kept.
    """
    strerror = getattr(exc, "strerror", None)
    if isinstance(strerror, str) and strerror:
        return f"{type(exc).__name__}: {strerror}"
    return describe_exception(exc)


@dataclass(frozen=True)
class VideoInfo:
    """The frame table of one video.

    Attributes:
        n_frames: Number of frames (including corrupt ones that keep their slot).
        fps: Average frame rate from the container (0.0 when unknown).
        time_base: Unit of ``pts`` in seconds.
        width: Coded width in pixels.
        height: Coded height in pixels.
        codec: FFmpeg codec name (``h264``, ``mpeg4``, ...).
        pts: Presentation timestamp of each frame, strictly increasing; None when the stream
            has no usable timestamps (frames are then counted from the start, and reading a
            frame decodes from the start).
        keyframes: Sorted indices of keyframes (seek points); may be empty.
    """

    n_frames: int
    fps: float
    time_base: Fraction
    width: int
    height: int
    codec: str
    pts: tuple[int, ...] | None
    keyframes: tuple[int, ...]

    def timestamp_pts(self, index: int) -> int:
        """Timestamp of frame ``index`` in ``time_base`` units (the index when unknown)."""
        return self.pts[index] if self.pts is not None else index

    def timestamp_sec(self, index: int) -> float:
        """Timestamp of frame ``index`` in seconds (``index / fps`` when unknown)."""
        if self.pts is not None:
            return float(self.pts[index] * self.time_base)
        return index / self.fps if self.fps > 0 else 0.0

    def index_of_pts(self, pts: int | None) -> int | None:
        """Frame index of a decoded frame's timestamp, or None if it is not in the table."""
        if self.pts is None or pts is None:
            return None
        position = bisect.bisect_left(self.pts, pts)
        return position if position < len(self.pts) and self.pts[position] == pts else None

    def keyframe_before(self, index: int) -> int:
        """Index of the last keyframe at or before ``index`` (0 when none is known)."""
        position = bisect.bisect_right(self.keyframes, index) - 1
        return self.keyframes[position] if position >= 0 else 0


class OpenVideo:
    """An open container and its first video stream; closes the container on exit."""

    def __init__(self, path: Path, *, threads: bool) -> None:
        av = import_av()
        try:
            self.container: InputContainer = av.open(str(path), mode="r")
        except Exception as exc:  # FFmpegError, OSError, UnicodeDecodeError on odd metadata
            raise VideoOpenError(av_reason(exc)) from exc
        if not self.container.streams.video:
            self.container.close()
            raise VideoOpenError("VideoOpenError: no video stream")
        self.stream: VideoStream = self.container.streams.video[0]
        if threads:
            self.stream.codec_context.thread_type = "AUTO"
        else:
            self.stream.codec_context.thread_count = 1  # DataLoader workers already run in parallel

    def __enter__(self) -> OpenVideo:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.container.close()


def open_video(path: Path, *, threads: bool = False) -> OpenVideo:
    """Open ``path`` for reading its first video stream (use as a context manager).

    Args:
        path: The video file.
        threads: Let FFmpeg decode with several threads (frame and slice threading). Leave it
            off where many videos are decoded in parallel already (DataLoader workers).

    Raises:
        VideoOpenError: The file cannot be opened or has no video stream.
    """
    return OpenVideo(path, threads=threads)
