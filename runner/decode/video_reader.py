"""Read frames of one video by index, seeking only when a keyframe lies in between.

See :mod:`runner.decode.video` for the frame table the reader relies on.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from runner.decode.video import (
    MissingFrameError,
    OpenVideo,
    UnseekableFrameError,
    VideoError,
    VideoInfo,
    import_av,
    open_video,
)

if TYPE_CHECKING:
    from av.video.frame import VideoFrame

_BACKOFF_KEYFRAMES = (0, 1, 3, 7, 15)  # earlier keyframes tried when a seek overshoots


class VideoReader:
    """Reads frames of one video by index, seeking only when a keyframe lies in between.

    Use as a context manager; not thread-safe (one reader per worker).

    Args:
        path: The video file.
        info: Its frame table (from :func:`runner.decode.video_probe.scan_video`).
        threads: Multi-threaded decoding (see :func:`open_video`).
    """

    def __init__(self, path: Path, info: VideoInfo, *, threads: bool = False) -> None:
        self.path = path
        self.info = info
        self.threads = threads
        self._video: OpenVideo | None = None
        self._decoder: Iterator[VideoFrame] | None = None
        self._pending: tuple[int, VideoFrame] | None = None
        self._last = -1  # index of the last frame taken from the decoder
        self._ordinal = 0  # frames decoded since the start (streams without timestamps)

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the decoder and the file."""
        self._decoder = None
        self._pending = None
        if self._video is not None:
            self._video.container.close()
            self._video = None

    def frames(self, indices: Iterable[int]) -> Iterator[tuple[int, VideoFrame | VideoError]]:
        """Decode the given frames, in ascending index order.

        Args:
            indices: Frame indices (any order, duplicates ignored).

        Yields:
            ``(index, frame)``, or ``(index, error)`` for a frame that cannot be produced
            (:class:`MissingFrameError`, :class:`UnseekableFrameError`).

        Raises:
            ValueError: An index outside ``[0, n_frames)``.
            VideoOpenError: The file cannot be opened (any more).
        """
        wanted = sorted(set(indices))
        if wanted and (wanted[0] < 0 or wanted[-1] >= self.info.n_frames):
            raise ValueError(f"frame indices must be in [0, {self.info.n_frames}): {self.path}")
        for target in wanted:
            if not self._can_continue(target):
                self._reposition(target)
            yield target, self._advance(target)

    def frame(self, index: int) -> VideoFrame:
        """Decode one frame.

        Raises:
            VideoError: The frame cannot be produced.
        """
        for _, result in self.frames([index]):
            if isinstance(result, VideoError):
                raise result
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    # --- positioning ----------------------------------------------------------------------

    def _head(self) -> int:
        """Index of the next frame the decoder is expected to give."""
        return self._pending[0] if self._pending is not None else self._last + 1

    def _can_continue(self, target: int) -> bool:
        """Whether decoding forward from here is no slower than seeking."""
        if self._decoder is None or self._head() > target:
            return False
        return self.info.pts is None or self.info.keyframe_before(target) <= self._head()

    def _reposition(self, target: int) -> None:
        """Get the decoder to a point at or before ``target``: seek, else restart."""
        keyframes = self.info.keyframes
        position = bisect.bisect_right(keyframes, target) - 1
        if self.info.pts is not None:
            for step in _BACKOFF_KEYFRAMES:
                if position - step < 0 or keyframes[position - step] == 0:
                    break
                if self._seek(self.info.pts[keyframes[position - step]], target):
                    return
        self._restart()

    def _seek(self, pts: int, target: int) -> bool:
        """Seek to the keyframe at or before ``pts``; True if decoding resumes at or before
        ``target`` (a demuxer may land later than asked: MPEG-PS seeks by bytes)."""
        video = self._open()
        self._decoder, self._pending = None, None
        try:
            video.container.seek(pts, stream=video.stream, backward=True, any_frame=False)
        except Exception:  # an FFmpegError: this container cannot seek there
            return False
        self._decoder = self._decode(video)
        self._last = -1
        first = self._next_indexed()
        if first is None or first[0] > target:
            return False
        self._pending = first
        return True

    def _restart(self) -> None:
        """Decode from the very start: reopen the file (always lands on frame 0)."""
        self.close()
        self._decoder = self._decode(self._open())
        self._last, self._ordinal = -1, 0

    def _open(self) -> OpenVideo:
        if self._video is None:
            self._video = open_video(self.path, threads=self.threads)
        return self._video

    # --- decoding -------------------------------------------------------------------------

    @staticmethod
    def _decode(video: OpenVideo) -> Iterator[VideoFrame]:
        """Frames in decode order; a packet that fails to decode is skipped."""
        av = import_av()
        try:
            for packet in video.container.demux(video.stream):
                try:
                    yield from packet.decode()
                except av.error.FFmpegError:
                    continue  # its frame never comes out: reported as missing
        except av.error.FFmpegError:
            return  # a damaged container: the rest of the file cannot be demuxed

    def _next_indexed(self) -> tuple[int, VideoFrame] | None:
        """The next decoded frame that maps to a frame index, or None at the end."""
        assert self._decoder is not None
        for frame in self._decoder:
            if self.info.pts is None:
                index: int | None = self._ordinal
                self._ordinal += 1
            else:
                index = self.info.index_of_pts(frame.pts)
            if index is not None and index < self.info.n_frames:
                return index, frame
        return None

    def _advance(self, target: int) -> VideoFrame | VideoError:
        """Decode forward to ``target``; keep a frame past it for the next request."""
        while True:
            item = self._pending if self._pending is not None else self._next_indexed()
            self._pending = None
            if item is None:
                self._decoder = None
                return UnseekableFrameError(
                    f"UnseekableFrameError: the stream ended before frame {target}"
                )
            index, frame = item
            if index < target:
                self._last = index
                continue
            if index == target:
                self._last = index
                return frame
            self._pending = item
            return MissingFrameError(f"MissingFrameError: frame {target} did not decode")
