"""Selected video frames as PNG files in ``<lightly datasource>/.lightly/frames/<frame name>``.

Lightly materialises the selected frames there (``dog_running_ball-024-mp4.png``); whether it
deletes the frames of earlier runs is not known. Here ``.lightly/frames/`` always holds the
selection of the *latest* run of this Lightly datasource, and nothing else of ours:

- a manifest (``.lightly/frames/.manifest.json``) lists the frames the last run wrote, with
  the identity (size, mtime) of the video each one came from;
- a rerun writes the frames that are new or whose video changed, keeps the others untouched,
  and deletes the frames the previous manifest lists that are no longer selected;
- files we never wrote (not in a manifest) are never deleted;
- every PNG is written to a temp name and renamed, and the manifest first lists the union of
  the old and new frames, so a crash leaves no unlisted frame behind.

Frames are decoded with :class:`~runner.decode.video.VideoReader` (seek to the keyframe before
each frame, decode forward), so exporting a few frames of a long video decodes only their GOPs.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.atomic import atomic_path, atomic_write_json
from runner.datasource.lightly_dir import DOT_LIGHTLY
from runner.datasource.sample import Sample
from runner.decode.video import VideoError, VideoInfo, frame_to_image
from runner.decode.video_reader import VideoReader
from runner.progress import NO_PROGRESS, StageProgress
from runner.write_paths import contained

log = logging.getLogger(__name__)

MANIFEST_NAME = ".manifest.json"
MANIFEST_FORMAT = 1
PNG_COMPRESS_LEVEL = 1  # zlib level: ~3x faster than Pillow's default 6, files ~10 % larger


@dataclass(frozen=True)
class FrameExport:
    """What :func:`export_frames` did.

    Attributes:
        written: Frame names written by this run.
        kept: Frame names already present from an earlier run of the same video.
        removed: Frame names of the previous run deleted: no longer selected, or selected but
            failing now.
        failed: Frame name -> reason, for frames that could not be decoded or written.
    """

    written: list[str]
    kept: list[str]
    removed: list[str]
    failed: dict[str, str]


def frames_dir(lightly_dir: Path) -> Path:
    """``<lightly datasource>/.lightly/frames``."""
    return contained(lightly_dir, DOT_LIGHTLY, "frames")


def export_frames(
    samples: Sequence[Sample],
    *,
    lightly_dir: Path,
    videos: Mapping[Path, VideoInfo],
    run_id: str,
    num_threads: int = 1,
    progress: StageProgress = NO_PROGRESS,
) -> FrameExport:
    """Write the selected frames as PNG and drop the previous run's frames not selected now.

    Args:
        samples: The selected ``VIDEO_FRAME`` samples (keys are frame names).
        lightly_dir: The Lightly datasource.
        videos: Frame table of every video, by path.
        run_id: This run's id (recorded in the manifest).
        num_threads: Videos exported at once (PNG encoding releases the GIL).
        progress: Told of every frame, advanced video by video.

    Returns:
        Frames written, kept, removed and failed.

    Raises:
        ValueError: A sample is not a frame, or a frame name would leave the frames folder.
    """
    root = frames_dir(lightly_dir)
    for sample in samples:
        _target(root, sample.key)  # validate every name before touching anything
        if sample.frame_index is None:
            raise ValueError(f"{sample.key} is not a video frame")
    previous = _load_manifest(root)
    wanted = {s.key: {"size": s.size, "mtime_ns": s.mtime_ns} for s in samples}
    _write_manifest(root, run_id=run_id, frames={**previous, **wanted})  # crash-safe union
    by_video: defaultdict[Path, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_video[sample.path].append(sample)
    progress.expect(len(samples))
    outcomes = []
    with ThreadPoolExecutor(max_workers=max(1, num_threads)) as pool:
        for outcome in pool.map(
            lambda item: (_export_video(root, item[1], videos[item[0]], previous), len(item[1])),
            sorted(by_video.items()),
        ):
            outcomes.append(outcome[0])
            progress.advance(outcome[1])
    written = sorted(n for o in outcomes for n in o[0])
    kept = sorted(n for o in outcomes for n in o[1])
    failed = {n: r for o in outcomes for n, r in o[2].items()}
    # Not selected any more, or selected but now failing (the old file is of an old video).
    removed = sorted((set(previous) - set(wanted)) | (set(previous) & set(failed)))
    for name in removed:
        _remove(root, name)
    _write_manifest(
        root, run_id=run_id, frames={k: v for k, v in wanted.items() if k not in failed}
    )
    log.info(
        "frames: %d written, %d up to date, %d removed, %d failed",
        len(written),
        len(kept),
        len(removed),
        len(failed),
    )
    return FrameExport(
        written=written, kept=kept, removed=removed, failed=dict(sorted(failed.items()))
    )


def _export_video(
    root: Path, samples: list[Sample], info: VideoInfo, previous: Mapping[str, dict[str, int]]
) -> tuple[list[str], list[str], dict[str, str]]:
    """Write the frames of one video that are missing or stale; (written, kept, failed)."""
    written: list[str] = []
    kept: list[str] = []
    failed: dict[str, str] = {}
    todo: dict[int, Sample] = {}
    for sample in samples:
        before = previous.get(sample.key)
        same = before == {"size": sample.size, "mtime_ns": sample.mtime_ns}
        if same and _target(root, sample.key).is_file():
            kept.append(sample.key)
        else:
            todo[int(sample.frame_index or 0)] = sample
    if not todo:
        return written, kept, failed
    try:
        with VideoReader(samples[0].path, info) as reader:
            for index, result in reader.frames(todo):
                key = todo[index].key
                if isinstance(result, VideoError):
                    failed[key] = result.reason
                    continue
                with atomic_path(_target(root, key), suffix=".png") as tmp:
                    frame_to_image(result).save(
                        tmp, format="PNG", compress_level=PNG_COMPRESS_LEVEL
                    )
                written.append(key)
    except (VideoError, OSError) as exc:  # the video vanished or became unreadable
        reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
        failed.update({s.key: reason for s in todo.values() if s.key not in written})
    for key, reason in failed.items():
        log.warning("frame %s not exported: %s", key, reason)
    return written, kept, failed


def _target(root: Path, name: str) -> Path:
    """Where frame ``name`` goes; refuses names that would leave ``root``."""
    if name.startswith("/") or ".." in Path(name).parts or not name.endswith(".png"):
        raise ValueError(f"invalid frame name: {name!r}")
    return contained(root, name)


def _remove(root: Path, name: str) -> None:
    """Delete one frame and the folders it leaves empty (up to ``root``)."""
    target = _target(root, name)
    target.unlink(missing_ok=True)
    parent = target.parent
    while parent != root and parent.is_relative_to(root):
        try:
            parent.rmdir()  # only succeeds when empty
        except OSError:
            break
        parent = parent.parent


def _load_manifest(root: Path) -> dict[str, dict[str, int]]:
    """Frames listed by the previous run; empty if there is no readable manifest."""
    path = root / MANIFEST_NAME
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable frames manifest %s: %s", path, exc)
        return {}
    frames = raw.get("frames") if isinstance(raw, dict) else None
    if raw.get("format") != MANIFEST_FORMAT or not isinstance(frames, dict):
        log.warning("ignoring frames manifest %s: not format %d", path, MANIFEST_FORMAT)
        return {}
    valid: dict[str, dict[str, int]] = {}
    for name, identity in frames.items():
        try:
            _target(root, name)
        except ValueError:
            continue
        if isinstance(identity, dict) and set(identity) == {"size", "mtime_ns"}:
            valid[name] = {"size": int(identity["size"]), "mtime_ns": int(identity["mtime_ns"])}
    return valid


def _write_manifest(root: Path, *, run_id: str, frames: Mapping[str, dict[str, int]]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    content = {"format": MANIFEST_FORMAT, "run_id": run_id, "frames": dict(sorted(frames.items()))}
    atomic_write_json(contained(root, MANIFEST_NAME), content)
