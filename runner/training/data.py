"""The training DataLoader: the embedding pass's decoders, serving two views per sample."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from runner.config import LoaderConfig
from runner.datasource.sample import Sample, SampleKind
from runner.decode.video import VideoInfo
from runner.embedding.datamodule import Batch, collate, resolve_num_workers
from runner.embedding.dataset import SampleDataset
from runner.embedding.frame_dataset import MIN_CHUNK_FRAMES, FrameChunkDataset, plan_chunks
from runner.training.options import TrainingOptions
from runner.training.views import SimCLRViews


def training_loader(
    samples: Sequence[Sample],
    *,
    loader: LoaderConfig,
    options: TrainingOptions,
    views: SimCLRViews,
    seed: int,
    videos: Mapping[Path, VideoInfo] | None = None,
) -> DataLoader[Batch]:
    """Batches of ``(B, 2, 3, S, S)`` views with their keys, in a seeded order.

    Images honour ``loader.shuffle`` and ``loader.drop_last``. Video frames are decoded in
    chunks of consecutive frames (seeking per frame would cost a keyframe decode each); the
    chunks, not single frames, are what gets shuffled, so a batch holds runs of neighbouring
    frames.

    Raises:
        ConfigError: A bad worker count.
    """
    generator = torch.Generator().manual_seed(seed)
    if any(s.kind is SampleKind.VIDEO_FRAME for s in samples):
        chunks = plan_chunks(
            samples, dict(videos or {}), min_frames=max(options.batch_size, MIN_CHUNK_FRAMES)
        )
        if options.shuffle:
            order = torch.randperm(len(chunks), generator=generator).tolist()
            chunks = [chunks[i] for i in order]
        workers = resolve_num_workers(loader.num_workers, n_batches=len(chunks))
        frames = FrameChunkDataset(
            chunks,
            infos=dict(videos or {}),
            preprocess=views,
            batch_size=options.batch_size,
            num_workers=workers,
        )
        return DataLoader(
            frames,  # type: ignore[arg-type]
            batch_size=None,  # whole batches, one worker each
            num_workers=workers,
            collate_fn=collate,
        )
    n_batches = max(1, len(samples) // options.batch_size)
    workers = resolve_num_workers(loader.num_workers, n_batches=n_batches)
    return DataLoader(
        SampleDataset(samples, preprocess=views),  # type: ignore[arg-type]
        batch_size=options.batch_size,
        shuffle=options.shuffle,
        drop_last=options.drop_last,
        num_workers=workers,
        collate_fn=collate,
        generator=generator,
        persistent_workers=workers > 0,
    )
