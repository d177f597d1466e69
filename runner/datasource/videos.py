"""Video files and Lightly's frame names: pure string rules, no decoding.

A frame of ``subdir/clip.mp4`` is named like an extracted PNG,
``<video path without ext>-<index zero-padded to len(str(n_frames))>-<ext>.png`` (spec §2.4,
§8), e.g. ``subdir/clip-024-mp4.png`` for frame 24 of a 290-frame video. Indices are 0-based
in PyAV decode order. Per-frame prediction and metadata files use the same name with ``.json``
(``subdir/clip-024-mp4.json``); a video-level metadata file (``subdir/clip.json``) applies to
all frames of the video. The extension keeps its case, as in Lightly's own naming function.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

FRAME_SUFFIX = ".png"


@dataclass(frozen=True)
class VideoFile:
    """One video found by discovery.

    Attributes:
        key: POSIX path relative to the input datasource (``subdir/clip.mp4``).
        path: Absolute path of the file.
        size: File size in bytes (part of the file identity used by caches).
        mtime_ns: Modification time in ns (part of the file identity used by caches).
    """

    key: str
    path: Path
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class FrameName:
    """A frame name taken apart.

    Attributes:
        video_key: Input-relative path of the video (``subdir/clip.mp4``).
        index: 0-based frame index.
        width: Number of digits of the index as written (the padding).
    """

    video_key: str
    index: int
    width: int


def frame_name(video_key: str, index: int, n_frames: int) -> str:
    """Lightly's name of frame ``index`` of a video with ``n_frames`` frames.

    Args:
        video_key: Input-relative POSIX path of the video, with its extension.
        index: 0-based frame index in PyAV decode order.
        n_frames: Number of frames in the video (sets the zero padding).

    Returns:
        ``<video without ext>-<index padded to len(str(n_frames))>-<ext>.png``.

    Raises:
        ValueError: The video key has no extension, or ``index`` is outside ``[0, n_frames)``.
    """
    stem, extension = split_video_key(video_key)
    if not 0 <= index < n_frames:
        raise ValueError(f"frame index {index} outside [0, {n_frames}) for {video_key}")
    return f"{stem}-{index:0{len(str(n_frames))}d}-{extension}{FRAME_SUFFIX}"


def split_video_key(video_key: str) -> tuple[str, str]:
    """``subdir/clip.mp4`` -> (``subdir/clip``, ``mp4``).

    Raises:
        ValueError: The file name has no extension.
    """
    pure = PurePosixPath(video_key)
    if not pure.suffix or pure.suffix == ".":
        raise ValueError(f"video file without extension: {video_key!r}")
    return str(pure.with_suffix("")), pure.suffix[1:]


def parse_frame_name(name: str) -> FrameName:
    """Take a frame name apart: the inverse of :func:`frame_name`.

    Unambiguous even when the video name contains dashes: the index and the extension are the
    last two dash-separated fields.

    Args:
        name: A frame name such as ``subdir/my-clip-024-mp4.png``.

    Returns:
        The video key (``subdir/my-clip.mp4``), the index and its written width.

    Raises:
        ValueError: ``name`` is not a frame name.
    """
    if not name.endswith(FRAME_SUFFIX):
        raise ValueError(f"not a frame name (no {FRAME_SUFFIX}): {name!r}")
    parts = name[: -len(FRAME_SUFFIX)].rsplit("-", 2)
    if len(parts) != 3 or not parts[0] or not parts[1].isdigit() or not parts[2]:
        raise ValueError(f"not a frame name (<video>-<index>-<ext>.png): {name!r}")
    stem, digits, extension = parts
    if "/" in extension:
        raise ValueError(f"not a frame name (<video>-<index>-<ext>.png): {name!r}")
    return FrameName(video_key=f"{stem}.{extension}", index=int(digits), width=len(digits))


def per_sample_json(key: str) -> str:
    """Prediction/metadata file of an image or frame, relative to its task or metadata folder.

    ``subdir/clip-024-mp4.png`` -> ``subdir/clip-024-mp4.json``; ``a/b.jpg`` -> ``a/b.json``.
    """
    pure = PurePosixPath(key)
    return str(pure.with_suffix(".json")) if pure.suffix else f"{key}.json"


def video_metadata_json(frame_key: str) -> str:
    """The video-level metadata file that applies to every frame of the video.

    ``subdir/clip-024-mp4.png`` -> ``subdir/clip.json``.

    Raises:
        ValueError: ``frame_key`` is not a frame name.
    """
    return per_sample_json(parse_frame_name(frame_key).video_key)


def metadata_files(frame_key: str) -> tuple[str, str]:
    """Metadata files that may describe a frame, most specific first: (frame, video)."""
    return per_sample_json(frame_key), video_metadata_json(frame_key)
