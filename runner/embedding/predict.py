"""``Trainer.predict`` over the samples the cache lacks: the part of embedding that needs torch.

:func:`runner.embedding.embed.embed` imports this module only when something must be embedded,
so a rerun over cached content never loads torch or Lightning. Each process (rank) streams its
rows into the cache through :class:`~runner.embedding.writer.ShardWriter`; the caller reads them
back from there, whichever rank computed them.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import lightning
from lightning.fabric.utilities.warnings import PossibleUserWarning
from lightning.pytorch import Trainer

from runner.datasource.sample import Sample
from runner.decode.spool import InputSpool
from runner.decode.video import VideoInfo
from runner.embedding.datamodule import EmbeddingDataModule
from runner.embedding.embed import EmbeddingJob
from runner.embedding.frame_thumbnails import THUMBNAIL_SIZE
from runner.embedding.fuse import optimize_for_inference
from runner.embedding.model import EmbeddingModule
from runner.embedding.models import build_backbone, load_checkpoint
from runner.embedding.transforms import Preprocess
from runner.embedding.writer import ProgressCallback, ShardWriter
from runner.progress import NO_PROGRESS, StageProgress


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence Lightning's start-up info lines and its num_workers hint for this block."""
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=".*does not have many workers.*", category=PossibleUserWarning
            )
            # Video frames come from an IterableDataset whose exact length is known (each
            # worker batches its own share) and whose batches carry their keys.
            warnings.filterwarnings("ignore", message=".*IterableDataset.*has `__len__` defined.*")
            warnings.filterwarnings("ignore", message=".*infer the batch indices.*")
            # Lightning 2.6 on torch >= 2.10 touches a deprecated pytree class: not ours to fix.
            warnings.filterwarnings(
                "ignore", message=r".*isinstance\(treespec, LeafSpec\).*", category=FutureWarning
            )
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def predict(
    samples: list[Sample],
    *,
    job: EmbeddingJob,
    folder: Path,
    content_hashes: Mapping[str, str],
    writer: str,
    videos: Mapping[Path, VideoInfo] | None = None,
    thumbnails: Mapping[str, Path] | None = None,
    thumbnail_size: int = THUMBNAIL_SIZE,
    spool: InputSpool | None = None,
    progress: StageProgress = NO_PROGRESS,
) -> None:
    """Embed ``samples`` into the cache folder ``folder``, one shard per filled buffer.

    Args:
        samples: One sample per content to embed.
        job: Model, weights, device and fingerprint.
        folder: The model's shard folder.
        content_hashes: Content hash by key.
        writer: This run's shard name prefix (each rank appends its rank).
        videos: Frame tables by path, for video frames.
        thumbnails: Frame key -> where to write its thumbnail while it is decoded.
        thumbnail_size: Longest side of those thumbnails.
        spool: Model inputs decoded by the inspection, by content hash.
        progress: Told when the model loads, then of every embedded sample.
    """
    cfg = job.cfg
    lightning.seed_everything(cfg.seed, verbose=False)
    backbone = build_backbone(
        job.model.name,
        job.model.weights,
        input_size=cfg.collate.input_size,
        architecture=job.model.architecture,
    )
    if job.checkpoint is not None:
        load_checkpoint(backbone.module, job.checkpoint)
    optimize_for_inference(backbone.module)  # after all weights are in: folds batch norms
    on_cuda = job.device.device_type == "cuda"
    # NHWC: tensor cores on CUDA; on the CPU oneDNN's depthwise convolutions (EfficientNet)
    # run about twice as fast in it (measured on 2 cores).
    module = EmbeddingModule(backbone.module, normalize=job.normalize, channels_last=True)
    preprocess = Preprocess(size=cfg.collate.input_size, mean=backbone.mean, std=backbone.std)
    data = EmbeddingDataModule(
        samples,
        loader=cfg.loader,
        preprocess=preprocess,
        pin_memory=on_cuda,
        videos=videos,
        thumbnails=thumbnails,
        thumbnail_size=thumbnail_size,
        content_hashes=content_hashes,
        spool=spool,
    )
    folder.mkdir(parents=True, exist_ok=True)
    with quiet_lightning():
        trainer = Trainer(
            accelerator=job.device.accelerator,
            devices=job.device.devices,
            num_nodes=job.device.num_nodes,
            strategy=job.device.strategy,
            precision=job.device.precision,  # type: ignore[arg-type]
            callbacks=[
                ShardWriter(folder, content_hashes, writer=writer),
                ProgressCallback(progress, len(samples)),
            ],
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=False,  # the stage's progress shows it, like every stage's
        )
        trainer.predict(module, datamodule=data, return_predictions=False)


__all__ = ["predict"]
