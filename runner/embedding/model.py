"""The LightningModule of the embedding pass: a batch of images to float32 embeddings."""

from __future__ import annotations

from typing import TypedDict

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from torch import nn

from runner.embedding.datamodule import Batch
from runner.errors import DataError


class Prediction(TypedDict):
    """What ``predict_step`` hands to the writer: rows aligned with keys."""

    keys: list[str]
    embeddings: torch.Tensor  # (B, D) float32, on the CPU


class EmbeddingModule(LightningModule):
    """Runs a backbone over batches; mixed precision comes from the Trainer's ``precision``.

    Args:
        backbone: Maps ``(B, 3, S, S)`` to ``(B, D)``.
        normalize: L2-normalise each embedding (``worker.normalize_embeddings``).
        channels_last: Use the NHWC layout (faster convolutions on CUDA tensor cores and, for
            depthwise convolutions, on the CPU).
    """

    def __init__(self, backbone: nn.Module, *, normalize: bool, channels_last: bool) -> None:
        super().__init__()
        self.backbone = (
            backbone.to(memory_format=torch.channels_last) if channels_last else backbone
        )
        self.normalize = normalize
        self.channels_last = channels_last

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Embed ``(B, 3, S, S)`` images to float32 ``(B, D)``, normalised if configured."""
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        features = self.backbone(images).float()  # (B, D); autocast may give bf16
        return F.normalize(features, dim=1) if self.normalize else features

    def predict_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> Prediction:
        """Embed one batch, keeping its keys.

        Raises:
            DataError: A file in the batch could not be decoded. Corrupt files are filtered
                before embedding, so it changed or vanished during the run.
        """
        del batch_idx, dataloader_idx  # identity comes from the keys, never from indices
        failed = [(k, e) for k, e in zip(batch["keys"], batch["errors"], strict=True) if e]
        if failed:
            key, reason = failed[0]
            others = f" (and {len(failed) - 1} more in this batch)" if len(failed) > 1 else ""
            raise DataError(
                f"{key}: changed or became unreadable during the run ({reason}){others}"
            )
        embeddings = self(batch["images"]).cpu()  # (B, D) float32
        return {"keys": list(batch["keys"]), "embeddings": embeddings}
