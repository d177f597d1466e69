"""Build a video's frame table by demuxing (fast) or decoding (the corruptness check).

What is counted, and why:

- Container metadata (``stream.frames``) is not trusted for the count: it is missing in
  Matroska/WebM and MPEG, and counts packets that the decoder drops (edit lists).
- Demuxing (``decode=False``) reads every packet without decoding: packets of the video stream
  that are neither empty nor marked *discard* are frames, and their timestamps, sorted, are
  the presentation (= PyAV decode output) order. This needs unique packet timestamps; raw
  elementary streams (``.hevc``) have none, and are then decoded and counted.
- Decoding (``decode=True``) also checks every frame. A frame whose packet fails to decode, or
  that never comes out of the decoder, keeps its slot and index (so the names of the frames
  after it do not shift) and is reported as corrupt. Frames the container's index lists
  beyond the end of a cut file are corrupt too (timestamps extrapolated).
- If decoded timestamps are missing or not increasing, frames are numbered in decode order
  (``info.pts`` is None) and failures that cannot be tied to a frame are counted only.

Memory is one frame plus one int per frame.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from runner.decode.video import (
    MissingFrameError,
    OpenVideo,
    VideoInfo,
    av_reason,
    import_av,
    open_video,
)

TRUNCATED_REASON = "MissingFrameError: listed by the container but missing from the file"
if TYPE_CHECKING:
    from av.packet import Packet
    from av.video.stream import VideoStream

NOT_DECODED_REASON = "MissingFrameError: frame did not decode"


@dataclass(frozen=True)
class VideoScan:
    """What one pass over a video found.

    Attributes:
        info: The frame table.
        corrupt_frames: Frame index -> Lightly-style reason, for frames that failed.
        unnamed_failures: Reasons of failures that cannot be tied to a frame index (streams
            without usable timestamps).
        decoded: Whether every frame was decoded (the corruptness check ran).
    """

    info: VideoInfo
    corrupt_frames: dict[int, str]
    unnamed_failures: tuple[str, ...]
    decoded: bool

    @property
    def n_failed(self) -> int:
        """Frames that failed, named or not."""
        return len(self.corrupt_frames) + len(self.unnamed_failures)

    @property
    def corrupt_ratio(self) -> float:
        """Failed frames over all frames (1.0 for a video without frames)."""
        total = self.info.n_frames + len(self.unnamed_failures)
        return self.n_failed / total if total else 1.0


@dataclass
class _Pass:
    """Accumulates packets and frames of one pass."""

    packet_pts: list[int | None] = field(default_factory=list)
    keyframe_pts: set[int] = field(default_factory=set)
    failures: dict[int | None, str] = field(default_factory=dict)
    unnamed: list[str] = field(default_factory=list)
    decoded_pts: list[int | None] = field(default_factory=list)
    decoded_keys: list[bool] = field(default_factory=list)
    n_discarded: int = 0
    demux_error: str | None = None


def scan_video(path: Path, *, decode: bool, threads: bool = False) -> VideoScan:
    """Describe every frame of a video, decoding each one if asked.

    Args:
        path: The video file.
        decode: Decode every frame (the corruptness check) rather than only demux.
        threads: Multi-threaded decoding.

    Returns:
        The frame table and the frames that failed.

    Raises:
        VideoOpenError: The container cannot be opened or has no video stream.
    """
    with open_video(path, threads=threads) as video:
        acc = _run_pass(video, decode=decode)
        if decode or _packet_pts_usable(acc):
            return _build(video, acc, decoded=decode)
    with open_video(path, threads=threads) as video:  # no usable timestamps: count by decoding
        return _build(video, _run_pass(video, decode=True), decoded=True)


def _run_pass(video: OpenVideo, *, decode: bool) -> _Pass:
    """Demux (and decode) the whole stream once."""
    av = import_av()
    acc = _Pass()
    try:
        for packet in video.container.demux(video.stream):
            if packet.size == 0:  # the final empty packet flushes the decoder
                if decode:
                    _decode_packet(packet, acc, av)
                continue
            if packet.is_discard:
                acc.n_discarded += 1
            else:
                acc.packet_pts.append(packet.pts)
                if packet.is_keyframe and packet.pts is not None:
                    acc.keyframe_pts.add(packet.pts)
            if decode:
                _decode_packet(packet, acc, av)
    except av.error.FFmpegError as exc:  # damaged container: keep what was read, flush
        acc.demux_error = av_reason(exc)
        if decode:
            _flush(video, acc, av)
    return acc


def _decode_packet(packet: Packet[VideoStream], acc: _Pass, av: ModuleType) -> None:
    """Decode one packet into ``acc``; a failure is recorded under the packet's timestamp."""
    try:
        frames = packet.decode()
    except av.error.FFmpegError as exc:
        pts = packet.pts
        if pts is None or pts in acc.failures:
            acc.unnamed.append(av_reason(exc))
        else:
            acc.failures[pts] = av_reason(exc)
        return
    for frame in frames:
        acc.decoded_pts.append(frame.pts)
        acc.decoded_keys.append(bool(frame.key_frame))


def _flush(video: OpenVideo, acc: _Pass, av: ModuleType) -> None:
    """Drain the decoder after the demuxer gave up."""
    try:
        frames = video.stream.codec_context.decode(None)
    except av.error.FFmpegError:
        return
    for frame in frames:
        acc.decoded_pts.append(frame.pts)
        acc.decoded_keys.append(bool(frame.key_frame))


def _packet_pts_usable(acc: _Pass) -> bool:
    """Whether the packets alone give a frame table: every packet timestamped, all unique."""
    values = acc.packet_pts
    return all(p is not None for p in values) and len(set(values)) == len(values)


def _increasing(values: list[int | None]) -> bool:
    """Whether every value is set and each is larger than the one before."""
    present = [v for v in values if v is not None]
    return len(present) == len(values) and all(a < b for a, b in itertools.pairwise(present))


def _build(video: OpenVideo, acc: _Pass, *, decoded: bool) -> VideoScan:
    """Turn one pass into the frame table and its failures."""
    decoded_pts = acc.decoded_pts
    by_packets = _packet_pts_usable(acc) and (
        not decoded or (_increasing(decoded_pts) and set(decoded_pts) <= set(acc.packet_pts))
    )
    if by_packets:
        table = sorted(p for p in acc.packet_pts if p is not None)
        present = set(decoded_pts) if decoded else set(table)
        # With frame threads FFmpeg reports an error a few packets late: a missing frame
        # without an error of its own gets the pass's first error.
        fallback = next(iter(acc.failures.values()), NOT_DECODED_REASON)
        corrupt = {
            i: acc.failures.get(p, fallback) for i, p in enumerate(table) if p not in present
        }
        keyframe_pts = (
            {p for p, key in zip(decoded_pts, acc.decoded_keys, strict=True) if key}
            if decoded
            else acc.keyframe_pts
        )
        keys = [i for i, p in enumerate(table) if p in keyframe_pts]
        table, corrupt, unnamed = _add_missing_tail(video, acc, table, corrupt)
        return _scan(video, table, keys, corrupt, unnamed, decoded=decoded)
    # Frames numbered in decode order; failures cannot be tied to a frame.
    unnamed = (*acc.failures.values(), *acc.unnamed, *_demux_failure(acc))
    keys = [i for i, key in enumerate(acc.decoded_keys) if key]
    if _increasing(decoded_pts):
        table = [p for p in decoded_pts if p is not None]
        return _scan(video, table, keys, {}, unnamed, decoded=True)
    return _scan(video, None, keys, {}, unnamed, decoded=True, n_frames=len(decoded_pts))


def _demux_failure(acc: _Pass) -> tuple[str, ...]:
    return (acc.demux_error,) if acc.demux_error is not None else ()


def _add_missing_tail(
    video: OpenVideo, acc: _Pass, table: list[int], corrupt: dict[int, str]
) -> tuple[list[int], dict[int, str], tuple[str, ...]]:
    """Frames the container lists but the file lacks (a cut file) become corrupt frames.

    Returns:
        The extended table, the corrupt frames, and the failures without a frame (a demux
        error that cost no listed frame).
    """
    listed = int(video.stream.frames or 0) - acc.n_discarded
    missing = listed - len(table)
    if missing <= 0 or not table:
        return table, corrupt, (*acc.unnamed, *_demux_failure(acc))
    steps = [b - a for a, b in itertools.pairwise(table)]
    step = max(1, int(statistics.median(steps))) if steps else 1
    tail = [table[-1] + step * (k + 1) for k in range(missing)]
    reason = TRUNCATED_REASON if acc.demux_error is None else acc.demux_error
    corrupt = dict(corrupt)
    for offset in range(missing):
        corrupt[len(table) + offset] = reason
    return table + tail, corrupt, tuple(acc.unnamed)


def _scan(
    video: OpenVideo,
    table: list[int] | None,
    keys: list[int],
    corrupt: dict[int, str],
    unnamed: tuple[str, ...],
    *,
    decoded: bool,
    n_frames: int | None = None,
) -> VideoScan:
    stream = video.stream
    rate = stream.average_rate or stream.guessed_rate
    info = VideoInfo(
        n_frames=len(table) if table is not None else int(n_frames or 0),
        fps=float(rate) if rate else 0.0,
        time_base=stream.time_base or Fraction(1, 1),
        width=int(stream.codec_context.width),
        height=int(stream.codec_context.height),
        codec=str(stream.codec_context.name),
        pts=tuple(table) if table is not None else None,
        keyframes=tuple(keys),
    )
    return VideoScan(info=info, corrupt_frames=corrupt, unnamed_failures=unnamed, decoded=decoded)


def probe_video(path: Path) -> VideoInfo:
    """The frame table of a video from its packets (decodes only if timestamps are missing).

    Raises:
        VideoOpenError: The container cannot be opened or has no video stream.
    """
    return scan_video(path, decode=False).info


__all__ = ["MissingFrameError", "VideoScan", "probe_video", "scan_video"]
