"""SimCLR as a LightningModule: backbone, Lightly's projection head and NT-Xent loss.

SimCLR (Chen et al., 2020, "A Simple Framework for Contrastive Learning of Visual
Representations"): two augmented views of each image are pulled together and pushed away from
the other images of the batch. The head and the loss come from the ``lightly`` package; the
optimiser is plain SGD over all parameters, as in Lightly's CLI (``torch.optim.SGD(**optimizer)``).
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch import LightningModule
from torch import nn

from runner.embedding.datamodule import Batch
from runner.lightly_package import lightly_module
from runner.training.options import TrainingOptions


class SimCLRModule(LightningModule):
    """Trains ``backbone`` (``(B, 3, S, S) -> (B, D)``) with a SimCLR objective.

    The state_dict keys are ``backbone.*`` and ``projection_head.*``, so the checkpoint
    written from it uses Lightly's ``model.backbone.*`` layout once prefixed with ``model.``.

    Args:
        backbone: The feature extractor being trained (its features are the embeddings).
        feature_dim: ``D``, the backbone's output size.
        options: Loss, optimiser and head settings.
    """

    def __init__(self, backbone: nn.Module, *, feature_dim: int, options: TrainingOptions) -> None:
        super().__init__()
        heads = lightly_module("models.modules.heads")
        loss = lightly_module("loss")
        self.backbone = backbone
        self.projection_head = heads.SimCLRProjectionHead(
            input_dim=feature_dim, hidden_dim=feature_dim, output_dim=options.out_dim
        )
        self.criterion = loss.NTXentLoss(temperature=options.temperature)
        self.options = options
        self.epoch_losses: list[float] = []  # mean loss of each finished epoch
        self.step_losses: list[float] = []  # loss of each step, in order
        self._sum = 0.0
        self._count = 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Project ``(B, 3, S, S)`` images to ``(B, out_dim)``."""
        features = self.backbone(images).flatten(start_dim=1)  # (B, D)
        return self.projection_head(features)  # type: ignore[no-any-return]

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor | None:
        """NT-Xent loss over the two views of the batch's images (decode failures left out)."""
        del batch_idx
        keep = [i for i, error in enumerate(batch["errors"]) if not error]
        if len(keep) < 2:
            return None  # no pair of images to contrast: skip the step
        views = batch["images"][keep]  # (B, 2, 3, S, S)
        z0, z1 = self(views[:, 0]), self(views[:, 1])  # (B, out_dim) each
        loss: torch.Tensor = self.criterion(z0, z1)
        value = float(loss.detach())
        self.step_losses.append(value)
        self._sum += value * len(keep)
        self._count += len(keep)
        self.log("loss", loss, prog_bar=True, batch_size=len(keep))
        return loss

    def epoch_mean(self) -> float | None:
        """Mean loss of the running epoch so far (weighted by images per step), None before
        its first step."""
        return self._sum / self._count if self._count else None

    def on_train_epoch_end(self) -> None:
        """Record the epoch's mean loss."""
        mean = self.epoch_mean()
        if mean is not None:
            self.epoch_losses.append(mean)
        self._sum, self._count = 0.0, 0

    def configure_optimizers(self) -> Any:
        """Plain SGD, as Lightly's CLI: ``lr`` and ``weight_decay`` from ``lightly.optimizer``."""
        return torch.optim.SGD(
            self.parameters(), lr=self.options.lr, weight_decay=self.options.weight_decay
        )
