"""The predict DataLoader of the embedding pass: decoding runs in its worker processes."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypedDict

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader

from runner.config import LoaderConfig
from runner.datasource.sample import Sample, SampleKind
from runner.decode.spool import InputSpool
from runner.decode.video import VideoInfo
from runner.embedding.dataset import EmbeddingItem, SampleDataset
from runner.embedding.frame_dataset import (
    MIN_CHUNK_FRAMES,
    FrameChunk,
    FrameChunkDataset,
    plan_chunks,
)
from runner.embedding.frame_thumbnails import THUMBNAIL_SIZE
from runner.embedding.transforms import Preprocess
from runner.errors import ConfigError


class Batch(TypedDict):
    """A collated batch; ``keys`` and ``errors`` stay aligned with the rows of ``images``."""

    images: torch.Tensor  # (B, 3, S, S) float32
    keys: list[str]
    errors: list[str]


def collate(items: list[EmbeddingItem]) -> Batch:
    """Stack images; keep keys (identity travels with the data) and decode errors as lists."""
    return {
        "images": torch.stack([item["image"] for item in items]),  # (B, 3, S, S)
        "keys": [item["key"] for item in items],
        "errors": [item["error"] for item in items],
    }


def available_cpus() -> int:
    """CPUs this process may run on (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def resolve_num_workers(requested: int, *, n_batches: int) -> int:
    """``lightly.loader.num_workers``: -1 means one per CPU; never more workers than batches.

    Raises:
        ConfigError: A value below -1.
    """
    if requested < -1:
        raise ConfigError(f"lightly.loader.num_workers={requested}: use -1 (all CPUs) or >= 0")
    wanted = available_cpus() if requested == -1 else requested
    return max(0, min(wanted, n_batches))


class EmbeddingDataModule(LightningDataModule):
    """Serves samples for ``Trainer.predict`` in a fixed order.

    Lightly's training options ``loader.shuffle`` and ``loader.drop_last`` are ignored: the
    embedding pass must see every sample exactly once, and its order does not matter because
    keys travel with each batch.

    Video frames are served by :class:`~runner.embedding.frame_dataset.FrameChunkDataset`:
    each worker decodes whole chunks of consecutive frames of one video at a time.

    Args:
        samples: What to embed: images, or frames of videos (not both).
        loader: The ``lightly.loader`` slice (``batch_size``, ``num_workers``).
        preprocess: Resize and normalisation, run in the workers.
        pin_memory: Pin host batches (worth it when the model runs on CUDA).
        videos: Frame table of every video, by path; required for frame samples.
        thumbnails: Frame key -> where to write its thumbnail while it is decoded.
        thumbnail_size: Longest side of those thumbnails in pixels.
        content_hashes: Content hash by key (to find images in ``spool``).
        spool: Model inputs of images the inspection decoded already.

    Raises:
        ConfigError: Invalid batch size or worker count.
        ValueError: Images and frames mixed, or a frame's video has no frame table.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        *,
        loader: LoaderConfig,
        preprocess: Preprocess,
        pin_memory: bool,
        videos: Mapping[Path, VideoInfo] | None = None,
        thumbnails: Mapping[str, Path] | None = None,
        thumbnail_size: int = THUMBNAIL_SIZE,
        content_hashes: Mapping[str, str] | None = None,
        spool: InputSpool | None = None,
    ) -> None:
        super().__init__()
        self.content_hashes = content_hashes
        self.spool = spool
        self.thumbnails = dict(thumbnails or {})
        self.thumbnail_size = thumbnail_size
        if loader.batch_size < 1:
            raise ConfigError(f"lightly.loader.batch_size={loader.batch_size}: must be >= 1")
        self.samples = samples
        self.batch_size = loader.batch_size
        self.videos = dict(videos or {})
        self.chunks = self._plan_frames(samples)
        n_units = (
            len(self.chunks)
            if self.chunks is not None
            else math.ceil(len(samples) / loader.batch_size)
        )
        self.num_workers = resolve_num_workers(loader.num_workers, n_batches=n_units)
        self.preprocess = preprocess
        self.pin_memory = pin_memory

    def _plan_frames(self, samples: Sequence[Sample]) -> list[FrameChunk] | None:
        """Chunks of video frames, or None for images."""
        n_frames = sum(1 for s in samples if s.kind is SampleKind.VIDEO_FRAME)
        if n_frames == 0:
            return None
        if n_frames != len(samples):
            raise ValueError("cannot embed images and video frames in one pass")
        min_frames = max(self.batch_size, MIN_CHUNK_FRAMES)
        return plan_chunks(samples, self.videos, min_frames=min_frames)

    def predict_dataloader(self) -> DataLoader[Batch]:
        """All samples, unshuffled, last partial batch kept."""
        if self.chunks is not None:
            # An IterableDataset gets no DistributedSampler: each rank takes every n-th chunk.
            rank, world = (
                (self.trainer.global_rank, self.trainer.world_size)
                if self.trainer is not None
                else (0, 1)
            )
            frames = FrameChunkDataset(
                self.chunks[rank::world],
                infos=self.videos,
                preprocess=self.preprocess,
                batch_size=self.batch_size,
                num_workers=self.num_workers,
                thumbnails=self.thumbnails,
                thumbnail_size=self.thumbnail_size,
            )
            return DataLoader(
                frames,  # type: ignore[arg-type]
                batch_size=None,  # the dataset yields whole batches, one worker each
                num_workers=self.num_workers,
                collate_fn=collate,
                pin_memory=self.pin_memory,
            )
        dataset = SampleDataset(
            self.samples,
            preprocess=self.preprocess,
            content_hashes=self.content_hashes,
            spool=self.spool,
        )
        return DataLoader(
            dataset,  # type: ignore[arg-type]
            batch_size=self.batch_size,
            shuffle=False,
            drop_last=False,
            num_workers=self.num_workers,
            collate_fn=collate,
            pin_memory=self.pin_memory,
        )
