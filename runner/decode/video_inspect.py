"""Corruptness check of videos: can each one be opened, how many frames, which frames fail.

Every new or changed video is read once: hashed (SHA-256 of its bytes, for the embedding cache
and duplicate detection) and scanned by :func:`runner.decode.video_probe.scan_video` (decoding
every frame when the corruptness check is on, demuxing only when it is off). Results are cached
in a JSON file of their own, keyed by video key and validated by file size and mtime, so a
rerun over unchanged videos decodes nothing.

Corruption semantics (Lightly documents ``corruptness_check.corruption_threshold``, default
0.1, as the video-frame corruption threshold; the exact rule is not published):

- A video that cannot be opened, or in which no frame decodes, is a corrupt video.
- A video whose fraction of failed frames is *greater* than the threshold is a corrupt video:
  none of its frames is used, and it is listed in ``corrupt_videos`` only.
- Otherwise its failed frames are listed in ``corrupt_samples`` by frame name and all other
  frames are used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from runner.atomic import atomic_write_text
from runner.datasource.videos import VideoFile, frame_name
from runner.decode.errors import describe_exception
from runner.decode.video import VideoInfo, VideoOpenError
from runner.decode.video_cache import CACHE_FORMAT, Entry, entry_from_json, entry_to_json
from runner.decode.video_probe import VideoScan, scan_video
from runner.progress import NO_PROGRESS, StageProgress

log = logging.getLogger(__name__)

_HASH_CHUNK = 1 << 20  # bytes read at a time while hashing


@dataclass(frozen=True)
class VideoReport:
    """What the inspection established about one video.

    Attributes:
        sha256: Hex SHA-256 of the file bytes; empty if the file could not be read.
        scan: The frame table and failed frames; None when the video cannot be opened.
        error: Why the video cannot be opened or read, else None.
    """

    sha256: str
    scan: VideoScan | None
    error: str | None


@dataclass(frozen=True)
class VideoInspection:
    """Result of :func:`inspect_videos`.

    Attributes:
        reports: Video key -> report, in the order the videos were given.
        paths: Video key -> absolute path.
        corruption_threshold: Largest tolerated fraction of failed frames per video.
        cache_hits: Videos answered from the cache.
    """

    reports: dict[str, VideoReport]
    paths: dict[str, Path]
    corruption_threshold: float
    cache_hits: int

    def video_error(self, key: str) -> str | None:
        """Why the whole video ``key`` is unusable, or None if its good frames are used."""
        report = self.reports[key]
        if report.scan is None:
            return report.error or "VideoOpenError"
        scan = report.scan
        if scan.info.n_frames - len(scan.corrupt_frames) <= 0:
            return "EmptyVideoError: no frame decodes"
        if scan.n_failed and scan.corrupt_ratio > self.corruption_threshold:
            first = next(iter(scan.corrupt_frames.values()), None) or scan.unnamed_failures[0]
            return (
                f"CorruptVideoError: {scan.n_failed} of {scan.info.n_frames} frames "
                f"({scan.corrupt_ratio:.1%}) failed to decode, more than "
                f"corruption_threshold={self.corruption_threshold:g} (first: {first})"
            )
        return None

    def corrupt_videos(self) -> dict[str, str]:
        """``corrupt_videos`` of ``corruptness_check_information.json``: video key -> reason."""
        errors = {key: self.video_error(key) for key in self.reports}
        return {key: reason for key, reason in sorted(errors.items()) if reason is not None}

    def corrupt_samples(self) -> dict[str, str]:
        """``corrupt_samples`` for videos: frame name -> reason, for usable videos only."""
        samples: dict[str, str] = {}
        for key, report in self.reports.items():
            if report.scan is None or self.video_error(key) is not None:
                continue
            n_frames = report.scan.info.n_frames
            for index, reason in sorted(report.scan.corrupt_frames.items()):
                samples[frame_name(key, index, n_frames)] = reason
        return dict(sorted(samples.items()))

    def usable(self) -> dict[str, VideoInfo]:
        """Frame tables of the videos whose good frames are used, by video key."""
        return {
            key: report.scan.info
            for key, report in self.reports.items()
            if report.scan is not None and self.video_error(key) is None
        }

    def infos_by_path(self) -> dict[Path, VideoInfo]:
        """Frame tables of the usable videos by absolute path (what the readers need)."""
        return {self.paths[key]: info for key, info in self.usable().items()}


def inspect_videos(
    videos: Sequence[VideoFile],
    *,
    cache_file: Path | None,
    check_corruptness: bool,
    corruption_threshold: float,
    num_threads: int,
    progress: StageProgress = NO_PROGRESS,
) -> VideoInspection:
    """Hash and scan every video, reusing cached results for unchanged files.

    Args:
        videos: Videos from discovery (unique keys).
        cache_file: JSON cache (``<lightly datasource>/.lightly/cache/video_inspect.json``), or
            None for no cache. Never inside the input directory.
        check_corruptness: Decode every frame (``worker.enable_corruptness_check``); else only
            demux (fast; corrupt frames are then found only at a cut end of the file).
        corruption_threshold: ``worker.corruptness_check.corruption_threshold`` in [0, 1].
        num_threads: Videos scanned at once; ``<= 0`` means one per CPU.
        progress: Told of every video to scan (cache hits are not counted) as it is done.

    Returns:
        Per-video reports, independent of thread scheduling.
    """
    cached = _load_cache(cache_file) if cache_file is not None else {}
    entries: dict[str, Entry] = {}
    todo: list[VideoFile] = []
    for video in videos:
        entry = cached.get(video.key)
        if entry is not None and entry.reusable(video, check_corruptness=check_corruptness):
            entries[video.key] = entry
        else:
            todo.append(video)
    hits = len(entries)
    workers = num_threads if num_threads > 0 else (os.cpu_count() or 1)
    threads_per_video = len(todo) < workers  # few videos: let FFmpeg use the idle cores
    progress.expect(len(todo))
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(todo) or 1))) as pool:
        fresh = pool.map(
            lambda v: _inspect_one(v, decode=check_corruptness, threads=threads_per_video), todo
        )
        for video, entry in zip(todo, fresh, strict=True):
            progress.advance()
            entries[video.key] = entry
    if todo:
        log.info("videos: %d inspected, %d from cache", len(todo), hits)
    storable = {k: e for k, e in entries.items() if e.sha256}  # read errors may heal
    if cache_file is not None and storable != cached:
        _write_cache(cache_file, storable)
    return VideoInspection(
        reports={v.key: _report(entries[v.key]) for v in videos},
        paths={v.key: v.path for v in videos},
        corruption_threshold=corruption_threshold,
        cache_hits=hits,
    )


def _report(entry: Entry) -> VideoReport:
    return VideoReport(sha256=entry.sha256, scan=entry.scan, error=entry.error)


def _inspect_one(video: VideoFile, *, decode: bool, threads: bool) -> Entry:
    """Hash and scan one video; failures are recorded, never raised."""
    try:
        digest = _sha256(video.path)
    except OSError as exc:
        return Entry(video.size, video.mtime_ns, decode, "", None, describe_exception(exc))
    try:
        scan = scan_video(video.path, decode=decode, threads=threads)
    except VideoOpenError as exc:
        return Entry(video.size, video.mtime_ns, decode, digest, None, exc.reason)
    return Entry(video.size, video.mtime_ns, decode, digest, scan, None)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _load_cache(cache_file: Path) -> dict[str, Entry]:
    """Read the cache; a missing file is empty, a damaged one is ignored with a warning."""
    try:
        raw = json.loads(cache_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable video inspection cache %s: %s", cache_file, exc)
        return {}
    if not isinstance(raw, dict) or raw.get("format") != CACHE_FORMAT:
        log.info("ignoring video inspection cache %s: not format %d", cache_file, CACHE_FORMAT)
        return {}
    entries_raw = raw.get("entries")
    if not isinstance(entries_raw, dict):
        return {}
    entries = {k: e for k, v in entries_raw.items() if (e := entry_from_json(v)) is not None}
    if len(entries) != len(entries_raw):
        log.warning(
            "ignoring %d malformed entries of %s", len(entries_raw) - len(entries), cache_file
        )
    return entries


def _write_cache(cache_file: Path, entries: Mapping[str, Entry]) -> None:
    """Replace the cache atomically; a failure only costs the next run its cache hits."""
    content = {"format": CACHE_FORMAT, "entries": {k: entry_to_json(e) for k, e in entries.items()}}
    try:
        atomic_write_text(cache_file, json.dumps(content, sort_keys=True, separators=(",", ":")))
    except OSError as exc:
        log.warning("could not write video inspection cache %s: %s", cache_file, exc)
