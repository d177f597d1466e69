"""Collects predictions per rank and saves them as one shard file per rank."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from runner.atomic import atomic_path
from runner.embedding.model import Prediction
from runner.progress import StageProgress
from runner.write_paths import contained


def shard_path(directory: Path, rank: int) -> Path:
    """Where rank ``rank`` saves its shard."""
    return contained(directory, f"shard-{rank}.npz")


def save_shard(path: Path, *, keys: list[str], embeddings: np.ndarray) -> None:
    """Write ``keys`` (N,) and ``embeddings`` (N, D) float32 atomically (temp name, rename)."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, keys=np.asarray(keys, dtype=np.str_), embeddings=embeddings)


def load_shard(path: Path) -> tuple[list[str], np.ndarray]:
    """Read a shard back: keys and their ``(N, D)`` float32 rows."""
    with np.load(path, allow_pickle=False) as data:
        return [str(k) for k in data["keys"]], np.asarray(data["embeddings"], dtype=np.float32)


class ShardWriter(BasePredictionWriter):
    """Accumulates each batch's keys and embeddings; saves ``shard-<rank>.npz`` at epoch end.

    Keys come from the batch itself (``batch_indices`` are not trusted: they are wrong or
    missing under some samplers). Memory is O(N * D) floats per rank; images are never kept.

    Args:
        directory: Existing folder shared by all ranks (shards are merged from there).
    """

    def __init__(self, directory: Path) -> None:
        super().__init__(write_interval="batch")
        self.directory = directory
        self._keys: list[str] = []
        self._rows: list[torch.Tensor] = []

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Start empty, even if this writer was used before."""
        self._keys, self._rows = [], []

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
        """Keep this batch's rows with their keys."""
        self._keys.extend(prediction["keys"])
        self._rows.append(prediction["embeddings"])  # (B, D) float32, CPU

    def on_predict_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Save everything this rank saw; an idle rank saves an empty shard."""
        if self._rows:
            embeddings = torch.cat(self._rows).numpy()  # (N_rank, D)
        else:
            embeddings = np.zeros((0, 0), dtype=np.float32)
        save_shard(
            shard_path(self.directory, trainer.global_rank), keys=self._keys, embeddings=embeddings
        )
        self._keys, self._rows = [], []


class ProgressCallback(pl.Callback):
    """Reports embedded samples to a :class:`~runner.progress.StageProgress` (rank 0 only).

    It replaces Lightning's own bar, so the embedding stage is shown like every other stage
    (a bar on a terminal, one line otherwise).
    """

    def __init__(self, progress: StageProgress, n_samples: int) -> None:
        self.progress = progress
        self.n_samples = n_samples

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
