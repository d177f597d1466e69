"""Lightly's thumbnails in the Lightly datasource, one per candidate image.

Named as :func:`runner.decode.thumbnail.thumbnail_relpath` says. The viewer and anything that
expects Lightly's layout load these instead of full images. A thumbnail newer than its image is
kept, so reruns only write what changed, and so are the ones the inspection already wrote from
its decode of each new image: this stage decodes an image only when that did not happen.

Video frames get thumbnails too, named from the frame name (``clip-024-mp4.png`` ->
``.lightly/thumbnails/clip-024-mp4_thumb.png``), one per candidate frame. Each is copied from
the thumbnail the embedding pass wrote while it decoded the frame (``cached``); only a frame
without one is decoded again, video by video with a :class:`~runner.decode.video.VideoReader`
(seek to the keyframe before each frame).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from runner.atomic import atomic_path
from runner.datasource.sample import Sample, SampleKind
from runner.decode.errors import DecodeError
from runner.decode.image import open_image
from runner.decode.thumbnail import save_image, save_thumbnail, thumbnail_relpath
from runner.decode.video import VideoError, VideoInfo, frame_to_image
from runner.decode.video_reader import VideoReader
from runner.embedding.frame_thumbnails import THUMBNAIL_SIZE  # video frames are copied from there
from runner.progress import NO_PROGRESS, StageProgress
from runner.write_paths import contained

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThumbnailStats:
    written: int
    kept: int
    failed: int


def write_lightly_thumbnails(
    samples: Sequence[Sample],
    *,
    lightly_dir: Path,
    suffix: str,
    num_threads: int,
    size: int = THUMBNAIL_SIZE,
    videos: Mapping[Path, VideoInfo] | None = None,
    cached: Mapping[str, Path] | None = None,
    progress: StageProgress = NO_PROGRESS,
) -> ThumbnailStats:
    """Write missing or stale thumbnails; an empty ``suffix`` disables thumbnails.

    Args:
        samples: Images and/or video frames.
        lightly_dir: The Lightly datasource.
        suffix: ``datasource.thumbnail_suffix``.
        num_threads: Images (or videos) processed at once; ``<= 0`` means one per CPU.
        size: Longest side of a thumbnail in pixels.
        videos: Frame table of every video by path; required for frame samples.
        cached: Frame key -> a thumbnail already made of it (PNG); copied when it exists.
        progress: Told of every sample, advanced per image and per video.

    Returns:
        How many thumbnails were written, kept and failed.
    """
    if not suffix:
        return ThumbnailStats(0, 0, 0)
    workers = num_threads if num_threads > 0 else (os.cpu_count() or 1)
    images = [s for s in samples if s.kind is not SampleKind.VIDEO_FRAME]
    frames: defaultdict[Path, list[Sample]] = defaultdict(list)
    for sample in samples:
        if sample.kind is SampleKind.VIDEO_FRAME:
            frames[sample.path].append(sample)
    tables = videos or {}
    copies = cached or {}
    progress.expect(len(samples))
    outcomes: list[str] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for outcome in pool.map(
            lambda s: _one(s, contained(lightly_dir, thumbnail_relpath(s.key, suffix)), size),
            images,
        ):
            outcomes.append(outcome)
            progress.advance()
        for video_outcomes in pool.map(
            lambda item: _frames_of_video(
                item[1], tables.get(item[0]), lightly_dir, suffix, size, copies
            ),
            sorted(frames.items()),
        ):
            outcomes.extend(video_outcomes)
            progress.advance(len(video_outcomes))
    stats = ThumbnailStats(
        outcomes.count("written"), outcomes.count("kept"), outcomes.count("failed")
    )
    log.info("thumbnails: %d written, %d up to date, %d failed", *vars(stats).values())
    return stats


def thumbnail_paths(
    keys: Sequence[str], *, lightly_dir: Path, suffix: str, size: int = THUMBNAIL_SIZE
) -> dict[str, Path]:
    """The Lightly thumbnails (longest side ``size``) that exist for ``keys``, by key.

    Later consumers of small images (the report's grid) read these instead of decoding the
    full image again.
    """
    if not suffix:
        return {}
    found = {k: contained(lightly_dir, thumbnail_relpath(k, suffix)) for k in keys}
    return {k: path for k, path in found.items() if path.is_file()}


def _frames_of_video(
    samples: list[Sample],
    info: VideoInfo | None,
    lightly_dir: Path,
    suffix: str,
    size: int,
    cached: Mapping[str, Path],
) -> list[str]:
    """Thumbnails of some frames of one video: copies of cached ones, the rest decoded in one
    forward pass with seeks."""
    outcomes: list[str] = []
    todo: dict[int, Path] = {}
    for sample in samples:
        target = contained(lightly_dir, thumbnail_relpath(sample.key, suffix))
        source = cached.get(sample.key)
        if target.exists() and target.stat().st_mtime_ns >= sample.mtime_ns:
            outcomes.append("kept")
        elif source is not None and source.is_file():
            outcomes.append(_copy(source, target))
        else:
            todo[int(sample.frame_index or 0)] = target
    if not todo:
        return outcomes
    if info is None:
        log.warning("thumbnails of %s failed: no frame table", samples[0].path)
        return outcomes + ["failed"] * len(todo)
    try:
        with VideoReader(samples[0].path, info) as reader:
            for index, result in reader.frames(todo):
                if isinstance(result, VideoError):
                    log.warning(
                        "thumbnail of frame %d of %s failed: %s", index, reader.path, result
                    )
                    outcomes.append("failed")
                    continue
                image = frame_to_image(result)
                image.thumbnail((size, size), Image.Resampling.BILINEAR)
                save_image(image, todo[index], "PNG")
                outcomes.append("written")
    except (VideoError, OSError) as err:
        log.warning("thumbnails of %s failed: %s", samples[0].path, err)
        outcomes.extend(["failed"] * (len(samples) - len(outcomes)))
    return outcomes


def _copy(source: Path, target: Path) -> str:
    """Copy a ready thumbnail into place atomically."""
    try:
        with atomic_path(target, suffix=target.suffix) as tmp:
            shutil.copyfile(source, tmp)
    except OSError as err:
        log.warning("thumbnail %s not copied: %s", target, err)
        return "failed"
    return "written"


def _one(sample: Sample, target: Path, size: int) -> str:
    try:
        if target.exists() and target.stat().st_mtime_ns >= sample.mtime_ns:
            return "kept"
        image = open_image(sample.path, draft_size=size)
        save_thumbnail(image, target, key=sample.key, size=size)
        return "written"
    except (DecodeError, OSError) as err:
        log.warning("thumbnail of %s failed: %s", sample.key, err)
        return "failed"
