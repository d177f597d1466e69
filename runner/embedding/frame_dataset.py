"""Video frames for the embedding pass: contiguous chunks decoded sequentially in the workers.

Frames are grouped by video and cut into *chunks* of consecutive wanted frames that start at
a keyframe, so a chunk decodes from its first frame without waste. DataLoader worker ``w`` of
``W`` takes chunks ``w, w + W, ...``, opens one :class:`~runner.decode.video.VideoReader` at a
time, decodes its chunks forward (seeking over gaps longer than a GOP, e.g. with a frame
stride) and yields ready batches; keys travel with every batch. Each frame is scaled to the
model's input size by FFmpeg while it is converted to RGB, which is several times cheaper than
converting the full frame first. Memory per worker: one frame and one batch, whatever the video
length or count.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image
from torch.utils.data import IterableDataset, get_worker_info

from runner.datasource.sample import Sample
from runner.decode.video import VideoError, VideoInfo, import_av
from runner.decode.video_reader import VideoReader
from runner.embedding.dataset import EmbeddingItem
from runner.embedding.frame_thumbnails import THUMBNAIL_SIZE, write_frame_thumbnail
from runner.embedding.transforms import Preprocess

if TYPE_CHECKING:
    from av.video.frame import VideoFrame
    from av.video.reformatter import VideoReformatter

log = logging.getLogger(__name__)

MIN_CHUNK_FRAMES = 128  # a chunk ends at the first keyframe after this many frames


@dataclass(frozen=True)
class FrameChunk:
    """Consecutive wanted frames of one video, starting at (or after) a keyframe.

    Attributes:
        path: The video file.
        indices: Frame indices, ascending.
        keys: Sample keys, aligned with ``indices``.
    """

    path: Path
    indices: tuple[int, ...]
    keys: tuple[str, ...]


def plan_chunks(
    samples: Sequence[Sample], infos: Mapping[Path, VideoInfo], *, min_frames: int
) -> list[FrameChunk]:
    """Group frame samples by video and cut them into chunks at keyframes.

    Args:
        samples: ``VIDEO_FRAME`` samples (any order).
        infos: Frame table of every video, by path.
        min_frames: A chunk is cut at the first keyframe after this many frames; videos
            without timestamps are never cut (they can only be read from the start).

    Returns:
        Chunks in a deterministic order (by video path, then frame index).

    Raises:
        ValueError: A sample without a frame index or without a frame table.
    """
    by_video: defaultdict[Path, list[tuple[int, str]]] = defaultdict(list)
    for sample in samples:
        if sample.frame_index is None or sample.path not in infos:
            raise ValueError(f"{sample.key}: not a frame of a video with a frame table")
        by_video[sample.path].append((sample.frame_index, sample.key))
    chunks: list[FrameChunk] = []
    for path in sorted(by_video):
        info = infos[path]
        frames = sorted(by_video[path])
        start = 0
        for i in range(1, len(frames) + 1):
            at_end = i == len(frames)
            if at_end or (
                info.pts is not None
                and i - start >= min_frames
                and info.keyframe_before(frames[i][0]) > frames[i - 1][0]
            ):
                part = frames[start:i]
                chunks.append(
                    FrameChunk(path, tuple(f[0] for f in part), tuple(f[1] for f in part))
                )
                start = i
    return chunks


def worker_share(chunks: Sequence[FrameChunk], worker: int, n_workers: int) -> list[FrameChunk]:
    """The chunks DataLoader worker ``worker`` of ``n_workers`` decodes."""
    return list(chunks[worker::n_workers])


class FrameChunkDataset(IterableDataset[list[EmbeddingItem]]):
    """Yields ready batches (lists of items) of decoded, preprocessed frames.

    Use with ``DataLoader(batch_size=None, collate_fn=collate)``: batching happens here, per
    worker, so a batch never waits on two workers.

    Args:
        chunks: From :func:`plan_chunks`.
        infos: Frame table of every video, by path.
        preprocess: Resize and normalisation for the model.
        batch_size: Frames per batch (the last batch of each worker may be smaller).
        num_workers: DataLoader workers that will share the chunks (0: the main process).
        thumbnails: Frame key -> PNG path: frames whose thumbnail to write as they are decoded.
        thumbnail_size: Longest side of those thumbnails in pixels.
    """

    def __init__(
        self,
        chunks: Sequence[FrameChunk],
        *,
        infos: Mapping[Path, VideoInfo],
        preprocess: Preprocess,
        batch_size: int,
        num_workers: int,
        thumbnails: Mapping[str, Path] | None = None,
        thumbnail_size: int = THUMBNAIL_SIZE,
    ) -> None:
        self.chunks = list(chunks)
        self.thumbnails = dict(thumbnails or {})
        self.thumbnail_size = thumbnail_size
        self.infos = {path: infos[path] for path in {c.path for c in self.chunks}}
        self.preprocess = preprocess
        self.batch_size = batch_size
        self.num_workers = num_workers

    def __len__(self) -> int:
        """Number of batches over all workers (exact: each worker batches its own share)."""
        n = max(1, self.num_workers)
        shares = (worker_share(self.chunks, w, n) for w in range(n))
        return sum(math.ceil(sum(len(c.indices) for c in s) / self.batch_size) for s in shares)

    def __iter__(self) -> Iterator[list[EmbeddingItem]]:
        info = get_worker_info()
        worker, n_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        batch: list[EmbeddingItem] = []
        for item in self._items(worker_share(self.chunks, worker, n_workers), info is None):
            batch.append(item)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _items(self, chunks: list[FrameChunk], in_main: bool) -> Iterator[EmbeddingItem]:
        """Decode the chunks in order, reusing one reader while the video stays the same."""
        # One scaler for the whole pass: FFmpeg keeps its filter tables between frames of the
        # same size (a new one per frame costs more than decoding a 720p frame).
        av = import_av()
        scaler = av.video.reformatter.VideoReformatter()
        thumb_scaler = av.video.reformatter.VideoReformatter()  # its own size: its own tables
        reader: VideoReader | None = None
        try:
            for chunk in chunks:
                if reader is None or reader.path != chunk.path:
                    if reader is not None:
                        reader.close()
                    # In the main process FFmpeg may use threads; workers run in parallel.
                    reader = VideoReader(chunk.path, self.infos[chunk.path], threads=in_main)
                keys = dict(zip(chunk.indices, chunk.keys, strict=True))
                for index, result in reader.frames(chunk.indices):
                    if isinstance(result, VideoError):
                        result = self._retry(chunk.path, index, result)
                    key = keys[index]
                    if key in self.thumbnails and not isinstance(result, VideoError):
                        self._thumbnail(key, result, thumb_scaler)
                    yield self._item(key, result, scaler)
        finally:
            if reader is not None:
                reader.close()

    def _thumbnail(self, key: str, frame: VideoFrame, scaler: VideoReformatter) -> None:
        """Write the frame's thumbnail; a failure costs only the thumbnail, never the run."""
        try:
            write_frame_thumbnail(
                frame, self.thumbnails[key], size=self.thumbnail_size, scaler=scaler
            )
        except Exception as exc:  # FFmpeg, Pillow or the disk: the embedding goes on
            log.warning("thumbnail of frame %s not written: %s", key, exc)

    def _retry(self, path: Path, index: int, error: VideoError) -> VideoFrame | VideoError:
        """Read a frame that did not come out again, alone, with a fresh single-thread reader."""
        try:
            with VideoReader(path, self.infos[path]) as reader:
                return reader.frame(index)
        except VideoError:
            return error

    def _item(
        self, key: str, result: VideoFrame | VideoError, scaler: VideoReformatter
    ) -> EmbeddingItem:
        if isinstance(result, VideoError):
            return {"image": self.preprocess.blank(), "key": key, "error": result.reason}
        size = self.preprocess.size
        small = scaler.reformat(
            result, width=size, height=size, format="rgb24", interpolation="BILINEAR"
        )
        pixels = small.to_ndarray()  # (S, S, 3) uint8
        return {"image": self.preprocess(Image.fromarray(pixels)), "key": key, "error": ""}
