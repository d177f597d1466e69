"""The JSON form of one video's inspection, for ``.lightly/cache/video_inspect.json``.

Timestamps and keyframe lists are stored as runs ``[first, step, count]`` (a constant frame
rate video of any length is one run), so the cache stays small for long videos.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from runner.datasource.videos import VideoFile
from runner.decode.video import VideoInfo
from runner.decode.video_probe import VideoScan

CACHE_FORMAT = 1


@dataclass(frozen=True)
class Entry:
    """One cached video: its identity when inspected, and what was found.

    Attributes:
        size: File size in bytes when inspected.
        mtime_ns: Modification time in ns when inspected.
        decoded: Whether every frame was decoded (the corruptness check ran).
        sha256: Hex SHA-256 of the bytes; empty if the file could not be read.
        scan: Frame table and failures; None if the video cannot be opened.
        error: Why the video cannot be read or opened.
    """

    size: int
    mtime_ns: int
    decoded: bool
    sha256: str
    scan: VideoScan | None
    error: str | None

    def reusable(self, video: VideoFile, *, check_corruptness: bool) -> bool:
        """Whether this entry still describes ``video`` and answers the question asked."""
        same_file = self.size == video.size and self.mtime_ns == video.mtime_ns
        return same_file and (self.decoded or not check_corruptness)


def encode_runs(values: tuple[int, ...] | list[int]) -> list[list[int]]:
    """``[0, 512, 1024, 1536, 9000]`` -> ``[[0, 512, 4], [9000, 0, 1]]``."""
    runs: list[list[int]] = []
    i = 0
    while i < len(values):
        if i + 1 == len(values):
            runs.append([values[i], 0, 1])
            break
        step = values[i + 1] - values[i]
        j = i + 1
        while j + 1 < len(values) and values[j + 1] - values[j] == step:
            j += 1
        runs.append([values[i], step, j - i + 1])
        i = j + 1
    return runs


def decode_runs(runs: list[list[int]]) -> tuple[int, ...]:
    """Inverse of :func:`encode_runs`."""
    return tuple(first + step * k for first, step, count in runs for k in range(count))


def entry_to_json(entry: Entry) -> dict[str, Any]:
    """A JSON-ready dict of ``entry``."""
    scan: dict[str, Any] | None = None
    if entry.scan is not None:
        info = entry.scan.info
        scan = {
            "n_frames": info.n_frames,
            "fps": info.fps,
            "time_base": [info.time_base.numerator, info.time_base.denominator],
            "width": info.width,
            "height": info.height,
            "codec": info.codec,
            "pts": encode_runs(info.pts) if info.pts is not None else None,
            "keyframes": encode_runs(info.keyframes),
            "corrupt_frames": {str(i): r for i, r in sorted(entry.scan.corrupt_frames.items())},
            "unnamed_failures": list(entry.scan.unnamed_failures),
        }
    return {
        "size": entry.size,
        "mtime_ns": entry.mtime_ns,
        "decoded": entry.decoded,
        "sha256": entry.sha256,
        "error": entry.error,
        "scan": scan,
    }


def entry_from_json(raw: object) -> Entry | None:
    """Parse one cached entry; None if it is malformed (it is then inspected again)."""
    try:
        assert isinstance(raw, dict)
        scan = _scan_from_json(raw["scan"], decoded=bool(raw["decoded"]))
        entry = Entry(
            size=_int(raw["size"]),
            mtime_ns=_int(raw["mtime_ns"]),
            decoded=bool(raw["decoded"]),
            sha256=str(raw["sha256"]),
            scan=scan,
            error=None if raw["error"] is None else str(raw["error"]),
        )
    except (AssertionError, KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    return entry


def _int(value: object) -> int:
    if type(value) is not int:
        raise TypeError(f"expected int, got {value!r}")
    return value


def _scan_from_json(raw: object, *, decoded: bool) -> VideoScan | None:
    if raw is None:
        return None
    assert isinstance(raw, dict)
    pts = None if raw["pts"] is None else decode_runs(raw["pts"])
    info = VideoInfo(
        n_frames=_int(raw["n_frames"]),
        fps=float(raw["fps"]),
        time_base=Fraction(_int(raw["time_base"][0]), _int(raw["time_base"][1])),
        width=_int(raw["width"]),
        height=_int(raw["height"]),
        codec=str(raw["codec"]),
        pts=pts,
        keyframes=decode_runs(raw["keyframes"]),
    )
    if pts is not None and len(pts) != info.n_frames:
        raise ValueError("pts table does not match n_frames")
    corrupt = {int(i): str(r) for i, r in raw["corrupt_frames"].items()}
    unnamed = tuple(str(r) for r in raw["unnamed_failures"])
    return VideoScan(info=info, corrupt_frames=corrupt, unnamed_failures=unnamed, decoded=decoded)
