"""Streams each process's predictions into the embedding cache as batches complete."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import BasePredictionWriter

from runner.embedding.cache import ShardSink
from runner.embedding.model import Prediction
from runner.progress import NO_PROGRESS, StageProgress


class ShardWriter(BasePredictionWriter):
    """Hands every batch's rows to a :class:`~runner.embedding.cache.ShardSink` of this rank.

    Nothing accumulates beyond one shard, so host memory stays flat in the number of samples,
    and a kill loses at most the shard being filled. Keys come from the batch itself
    (``batch_indices`` are not trusted: they are wrong or missing under some samplers).

    Args:
        folder: The model's shard folder in the embedding cache (shared by all ranks).
        content_hashes: Content hash of every key this pass may see.
        writer: This run's token; the rank is appended, so every process writes its own shards.
        rows_per_shard: Rows per committed shard (default ``cache.SHARD_ROWS``).
    """

    def __init__(
        self,
        folder: Path,
        content_hashes: Mapping[str, str],
        *,
        writer: str,
        rows_per_shard: int | None = None,
    ) -> None:
        super().__init__(write_interval="batch")
        self.folder = folder
        self.content_hashes = dict(content_hashes)
        self.writer = writer
        self.rows_per_shard = rows_per_shard
        self._sink: ShardSink | None = None

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Open this rank's sink."""
        self._sink = ShardSink(
            self.folder,
            writer=f"{self.writer}-r{trainer.global_rank}",
            rows_per_shard=self.rows_per_shard,
        )

    def write_on_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        prediction: Prediction,
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        """Add this batch's rows; a full shard is committed at once."""
        assert self._sink is not None
        hashes = [self.content_hashes[key] for key in prediction["keys"]]
        self._sink.add(hashes, prediction["embeddings"].numpy())  # (B, D) float32

    def on_predict_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Commit the last partial shard of this rank."""
        if self._sink is not None:
            self._sink.close()


class ProgressCallback(pl.Callback):
    """Reports embedded samples to a :class:`~runner.progress.StageProgress` (rank 0 only).

    It replaces Lightning's own bar, so the embedding stage is shown like every other stage
    (a bar on a terminal, one line otherwise).
    """

    def __init__(self, progress: StageProgress, n_samples: int) -> None:
        self.progress = progress
        self.n_samples = n_samples

    def __getstate__(self) -> dict[str, Any]:
        """Spawned processes (``ddp_spawn``) get a silent copy: the console stays the parent's,
        which shows the stage's start and end."""
        return {**self.__dict__, "progress": NO_PROGRESS}

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            self.progress.expect(self.n_samples)

    def on_predict_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if trainer.is_global_zero:
            # Every rank embeds a batch of about this size at the same time.
            self.progress.advance(len(batch["keys"]) * trainer.world_size)
