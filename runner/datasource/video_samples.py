"""Video frames as samples: which frames of each video are candidates, and their identities.

Every frame of a usable video is a sample (kind ``VIDEO_FRAME``, key = Lightly's frame name,
path = the video, ``frame_index`` = its index), except the frames that failed to decode.
Beyond Lightly, long videos can be thinned out before anything is embedded:

- ``target_fps``: keep the first frame at or after every tick of a ``1 / target_fps`` grid
  starting at the video's first frame (a 30 fps video at ``target_fps=5`` keeps frames
  0, 6, 12, ...; a value at or above the video's rate keeps every frame);
- ``frame_stride``: then keep every ``frame_stride``-th of those frames.

Frame keys keep the original indices and padding (``clip-0006-mp4.png``), so predictions,
metadata and exported frames keep their Lightly names whatever the thinning.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from runner.datasource.duplicates import find_exact_duplicates
from runner.datasource.sample import Sample, SampleKind
from runner.datasource.videos import VideoFile, frame_name
from runner.decode.video import VideoInfo
from runner.decode.video_inspect import VideoInspection, inspect_videos
from runner.errors import ConfigError
from runner.progress import NO_PROGRESS, StageProgress

log = logging.getLogger(__name__)

_EPS = 1e-9  # seconds: tolerance of the fps grid against rounded timestamps


def check_video_options(*, frame_stride: int, target_fps: float | None) -> None:
    """Validate ``worker.video.frame_stride`` and ``worker.video.target_fps``.

    Raises:
        ConfigError: A stride below 1 or a non-positive frame rate.
    """
    if frame_stride < 1:
        raise ConfigError(f"worker.video.frame_stride={frame_stride}: must be >= 1")
    if target_fps is not None and not (target_fps > 0 and math.isfinite(target_fps)):
        raise ConfigError(f"worker.video.target_fps={target_fps}: must be a positive number")


def subsample_indices(
    info: VideoInfo, *, frame_stride: int = 1, target_fps: float | None = None
) -> list[int]:
    """Frame indices of one video kept by ``target_fps`` and then ``frame_stride``.

    Args:
        info: The video's frame table.
        frame_stride: Keep every n-th frame (after ``target_fps``).
        target_fps: Keep at most this many frames per second of video; None keeps all.

    Returns:
        Sorted frame indices (corrupt frames included: the caller drops them).
    """
    indices = list(range(info.n_frames))
    if target_fps is not None and indices:
        if info.pts is None and info.fps <= 0:
            log.warning("target_fps ignored for a video without timestamps or frame rate")
        else:
            indices = _on_grid(info, 1.0 / target_fps)
    return indices[::frame_stride]


def _on_grid(info: VideoInfo, period: float) -> list[int]:
    """The first frame at or after each multiple of ``period`` seconds after frame 0."""
    start = info.timestamp_sec(0)
    kept: list[int] = []
    next_tick = 0.0
    for index in range(info.n_frames):
        elapsed = info.timestamp_sec(index) - start
        if elapsed + _EPS >= next_tick:
            kept.append(index)
            next_tick = (math.floor((elapsed + _EPS) / period) + 1) * period
    return kept


def frame_samples(
    videos: Sequence[VideoFile],
    inspection: VideoInspection,
    *,
    frame_stride: int = 1,
    target_fps: float | None = None,
) -> list[Sample]:
    """The candidate frames of the usable videos, sorted by key.

    Args:
        videos: Videos from discovery.
        inspection: Their inspection (frame tables, corrupt frames and videos).
        frame_stride: ``worker.video.frame_stride``.
        target_fps: ``worker.video.target_fps``.

    Returns:
        One ``VIDEO_FRAME`` sample per kept frame that decodes; none for corrupt videos.

    Raises:
        ConfigError: Invalid stride or frame rate.
    """
    check_video_options(frame_stride=frame_stride, target_fps=target_fps)
    usable = inspection.usable()
    samples: list[Sample] = []
    for video in videos:
        info = usable.get(video.key)
        if info is None:
            continue
        report = inspection.reports[video.key]
        corrupt = report.scan.corrupt_frames if report.scan is not None else {}
        for index in subsample_indices(info, frame_stride=frame_stride, target_fps=target_fps):
            if index in corrupt:
                continue
            samples.append(
                Sample(
                    key=frame_name(video.key, index, info.n_frames),
                    path=video.path,
                    kind=SampleKind.VIDEO_FRAME,
                    size=video.size,
                    mtime_ns=video.mtime_ns,
                    frame_index=index,
                )
            )
    samples.sort(key=lambda sample: sample.key)
    return samples


def frame_content_hash(video_sha256: str, index: int) -> str:
    """Content identity of one frame: its video's bytes and its index.

    The same frame of a copied or renamed video keeps its hash (the embedding cache and
    exact-duplicate detection see it as the same content).
    """
    return hashlib.sha256(f"{video_sha256}:{index}".encode()).hexdigest()


def frame_content_hashes(samples: Sequence[Sample], inspection: VideoInspection) -> dict[str, str]:
    """Content hash of every frame sample, by key (what ``embed(content_hashes=...)`` needs).

    Raises:
        ValueError: A sample is not a frame of an inspected video.
    """
    by_path = {path: inspection.reports[key].sha256 for key, path in inspection.paths.items()}
    hashes: dict[str, str] = {}
    for sample in samples:
        if sample.frame_index is None or sample.path not in by_path:
            raise ValueError(f"{sample.key} is not a frame of an inspected video")
        hashes[sample.key] = frame_content_hash(by_path[sample.path], sample.frame_index)
    return hashes


@dataclass(frozen=True)
class FrameHash:
    """A frame's content identity in the shape duplicate detection expects.

    Attributes:
        sha256: From :func:`frame_content_hash`.
        error: Always None (corrupt frames are never candidates).
    """

    sha256: str
    error: str | None = None


def frame_hash_infos(hashes: Mapping[str, str]) -> dict[str, FrameHash]:
    """``find_exact_duplicates(keys, frame_hash_infos(hashes))``: frames of byte-identical
    videos are duplicates of the first such frame in key order."""
    return {key: FrameHash(sha256=digest) for key, digest in hashes.items()}


@dataclass(frozen=True)
class VideoCandidates:
    """Everything the pipeline needs about the frames of a ``VIDEOS`` datasource.

    Attributes:
        inspection: Per-video frame tables and failures (``inspection.infos_by_path()`` for
            ``embed``, frame export and thumbnails; ``inspection.usable()`` by video key for
            sequences and the timeline).
        samples: Candidate frames (usable, not duplicates), sorted by key.
        content_hashes: Content hash of every frame in ``samples``, by key.
        corrupt_samples: Frame name -> reason (``corrupt_samples`` of the corruptness file).
        corrupt_videos: Video key -> reason (``corrupt_videos`` of the corruptness file).
        duplicates: Frame key -> the kept frame it duplicates (copies of a video).
    """

    inspection: VideoInspection
    samples: list[Sample]
    content_hashes: dict[str, str]
    corrupt_samples: dict[str, str]
    corrupt_videos: dict[str, str]
    duplicates: dict[str, str]


def prepare_frames(
    videos: Sequence[VideoFile],
    *,
    cache_file: Path | None,
    check_corruptness: bool,
    corruption_threshold: float,
    num_threads: int,
    frame_stride: int = 1,
    target_fps: float | None = None,
    remove_exact_duplicates: bool = True,
    progress: StageProgress = NO_PROGRESS,
) -> VideoCandidates:
    """Inspect the videos and list their candidate frames: the video half of ``prepare``.

    Args:
        videos: ``Discovery.videos``.
        cache_file: ``<lightly datasource>/.lightly/cache/video_inspect.json``.
        check_corruptness: ``worker.enable_corruptness_check``.
        corruption_threshold: ``worker.corruptness_check.corruption_threshold``.
        num_threads: Videos inspected at once (``lightly.loader.num_workers``; -1: all CPUs).
        frame_stride: ``worker.video.frame_stride``.
        target_fps: ``worker.video.target_fps``.
        remove_exact_duplicates: ``worker.remove_exact_duplicates`` (frames of copies).
        progress: Told of every video scanned.

    Returns:
        The inspection, the candidate frames and their hashes, and what was left out.

    Raises:
        ConfigError: Invalid stride or frame rate.
    """
    check_video_options(frame_stride=frame_stride, target_fps=target_fps)
    inspection = inspect_videos(
        videos,
        cache_file=cache_file,
        check_corruptness=check_corruptness,
        corruption_threshold=corruption_threshold,
        num_threads=num_threads,
        progress=progress,
    )
    frames = frame_samples(videos, inspection, frame_stride=frame_stride, target_fps=target_fps)
    hashes = frame_content_hashes(frames, inspection)
    duplicates = (
        find_exact_duplicates(list(hashes), frame_hash_infos(hashes))
        if remove_exact_duplicates
        else {}
    )
    kept = [s for s in frames if s.key not in duplicates]
    return VideoCandidates(
        inspection=inspection,
        samples=kept,
        content_hashes={s.key: hashes[s.key] for s in kept},
        corrupt_samples=inspection.corrupt_samples(),
        corrupt_videos=inspection.corrupt_videos(),
        duplicates=duplicates,
    )
