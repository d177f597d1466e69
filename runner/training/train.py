"""The training stage: fine-tune the embedding backbone on the run's candidates with SimCLR.

``train()`` runs Lightning's ``Trainer.fit`` over the candidates (images, video frames, or
the object crops of ``worker.training.task_name``), keeps the weights of the epoch with the
lowest mean loss (Lightly's checkpoint callback: ``monitor: loss``, ``save_top_k: 1``) and
writes them as a checkpoint; the embedding stage then loads that checkpoint like any
``worker.checkpoint``, so its fingerprint keys the embedding cache.
"""

from __future__ import annotations

import copy
import importlib.metadata
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning
import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from runner.config import LightlyConfig
from runner.datasource.sample import Sample
from runner.decode.video import VideoInfo
from runner.embedding.device import plan_device
from runner.embedding.models import build_backbone, feature_net, load_checkpoint
from runner.embedding.predict import quiet_lightning
from runner.embedding.specs import lightly_resnet
from runner.errors import ConfigError
from runner.progress import NO_PROGRESS, StageProgress
from runner.training.checkpoints import (
    checkpoint_bytes,
    write_checkpoint,
    write_last_checkpoint,
)
from runner.training.data import training_loader
from runner.training.finetune import prepare_finetune
from runner.training.module import SimCLRModule
from runner.training.options import TrainingOptions, training_options
from runner.training.start import starting_weights
from runner.training.views import SimCLRViews

log = logging.getLogger(__name__)
MAX_CURVE_POINTS = 500


@dataclass(frozen=True)
class TrainedBackbone:
    """What the training stage hands to the embedding stage.

    Attributes:
        checkpoint: ``.lightly/checkpoints/<run id>.ckpt``, the weights to embed with.
        summary: Facts for ``report.json["training"]``: method, epochs, losses, time,
            device, where training started from.
    """

    checkpoint: Path
    summary: dict[str, Any]


@dataclass
class _Snapshot:
    epoch: int
    step: int
    loss: float
    backbone: dict[str, torch.Tensor]
    head: dict[str, torch.Tensor]


def _snapshot(module: SimCLRModule, *, epoch: int, step: int, loss: float) -> _Snapshot:
    return _Snapshot(
        epoch,
        step,
        loss,
        copy.deepcopy(feature_net(module.backbone).state_dict()),
        copy.deepcopy(module.projection_head.state_dict()),
    )


class _Track(Callback):
    """Advances the stage's bar each step with the epoch's running mean loss beside it (as
    Lightning's bar shows the logged ``loss``), logs each epoch's loss, keeps the best epoch."""

    def __init__(self, progress: StageProgress, max_epochs: int) -> None:
        self.progress = progress
        self.max_epochs = max_epochs
        self.best: _Snapshot | None = None
        self.last: _Snapshot | None = None
        self.epoch_seconds: list[float] = []
        self._started = 0.0

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._started = time.perf_counter()

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, *args: Any, **kwargs: Any
    ) -> None:
        assert isinstance(pl_module, SimCLRModule)
        loss = pl_module.epoch_mean()
        if loss is not None:
            epoch = f"{trainer.current_epoch + 1}/{self.max_epochs}"
            self.progress.metrics({"epoch": epoch, "loss": loss})
        self.progress.advance()

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        assert isinstance(pl_module, SimCLRModule)
        self.epoch_seconds.append(time.perf_counter() - self._started)
        loss = pl_module.epoch_mean()
        epoch = trainer.current_epoch + 1
        if loss is None:
            return
        # a log line shows above the stage's bar on the console and lands in log.txt
        log.info("train: epoch %d/%d, loss %.4f", epoch, self.max_epochs, loss)
        snap = _snapshot(pl_module, epoch=epoch, step=trainer.global_step, loss=loss)
        if self.best is None or loss < self.best.loss:
            self.best = snap
        self.last = snap


def train(
    samples: Sequence[Sample],
    *,
    cfg: LightlyConfig,
    crop_task: str | None,
    start_from: Path | None,
    dot_lightly: Path,
    run_dir: Path,
    run_id: str,
    videos: Mapping[Path, VideoInfo] | None = None,
    progress: StageProgress = NO_PROGRESS,
) -> TrainedBackbone:
    """Train the backbone self-supervised (SimCLR) on ``samples``; write its checkpoint.

    Args:
        samples: What to train on: the run's images or video frames, or the object crops
            of ``crop_task`` (samples with a ``box``).
        cfg: The ``lightly`` slice: model, loader, trainer, collate, criterion, optimizer,
            checkpoint_callback, seed.
        crop_task: ``worker.training.task_name`` when ``samples`` are its object crops.
        start_from: A checkpoint to start from (``worker.checkpoint`` or
            ``worker.checkpoint_run_id``), else the model's pretrained weights.
        dot_lightly: ``<Lightly datasource>/.lightly`` (checkpoints go to ``checkpoints/``).
        run_dir: The run's folder (gets ``checkpoint.ckpt``).
        run_id: Names the checkpoint.
        videos: Frame tables by video path, for frame samples.
        progress: One unit per training step, with the epoch and its running mean loss.

    Raises:
        ConfigError: Fewer samples than one batch, bad training keys, or a checkpoint that
            does not fit the model.
    """
    options = training_options(cfg)
    if len(samples) < max(options.batch_size, 2):
        raise ConfigError(
            f"worker.enable_training: {len(samples)} samples are fewer than one batch "
            f"(lightly.loader.batch_size={options.batch_size}); lower the batch size or add data"
        )
    device = plan_device(cfg.trainer)
    weights = starting_weights(cfg.model, seed=cfg.seed, checkpoint=start_from)
    lightning.seed_everything(cfg.seed, workers=True, verbose=False)
    architecture = lightly_resnet(cfg.model)
    backbone = build_backbone(
        cfg.model.name, weights, input_size=cfg.collate.input_size, architecture=architecture
    )
    if start_from is not None:
        load_checkpoint(backbone.module, start_from)
    backbone.module.train()  # built for inference; batch norms learn from the batches here
    pretrained = start_from is not None or weights.path is not None
    plan = prepare_finetune(backbone.module, cfg.finetune, pretrained=pretrained)
    module = SimCLRModule(backbone.module, feature_dim=backbone.embedding_dim, options=options)
    views = SimCLRViews(cfg.collate, mean=backbone.mean, std=backbone.std)
    loader = training_loader(
        samples, loader=cfg.loader, options=options, views=views, seed=cfg.seed, videos=videos
    )
    track = _Track(progress, options.max_epochs)
    what = f"object crops of task '{crop_task}'" if crop_task else "samples"
    progress.note(f"SimCLR on {len(samples)} {what}, {device.device_type}")
    progress.expect(options.max_epochs * len(loader))
    started = time.perf_counter()
    with quiet_lightning():
        trainer = Trainer(
            accelerator=device.accelerator,
            devices=1,
            precision=device.precision,  # type: ignore[arg-type]
            max_epochs=options.max_epochs,
            callbacks=[track],
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=False,  # the stage's bar shows the steps, notes the losses
            deterministic=device.device_type == "cpu",
            num_sanity_val_steps=0,
        )
        trainer.fit(module, train_dataloaders=loader)
    seconds = time.perf_counter() - started
    best = track.best or _snapshot(module, epoch=0, step=0, loss=float("nan"))
    hyper = _hyper_parameters(cfg, options, weights.describe(), start_from)
    checkpoint = write_checkpoint(
        _serialise(best, hyper), dot_lightly=dot_lightly, run_dir=run_dir, run_id=run_id
    )
    last_path = None
    if options.save_last and track.last is not None and track.last.epoch != best.epoch:
        last_path = write_last_checkpoint(
            _serialise(track.last, hyper), dot_lightly=dot_lightly, run_id=run_id
        )
    log.info(
        "training: %d epochs in %.1f s; checkpoint %s",
        len(track.epoch_seconds),
        seconds,
        checkpoint,
    )
    summary = {
        "method": "SimCLR",
        "library": f"lightly {importlib.metadata.version('lightly')}",
        "samples": len(samples),
        "crops_of_task": crop_task,
        "batch_size": options.batch_size,
        "epochs": len(track.epoch_seconds),
        "max_epochs": options.max_epochs,
        "steps": trainer.global_step,
        "epoch_losses": [round(x, 6) for x in module.epoch_losses],
        "step_losses": _thin([round(x, 6) for x in module.step_losses]),
        "best_epoch": best.epoch,
        "seconds": round(seconds, 3),
        "epoch_seconds": [round(x, 3) for x in track.epoch_seconds],
        "device": device.device_type,
        "precision": device.precision,
        "started_from": str(start_from) if start_from else weights.describe(),
        "checkpoint": str(checkpoint),
        "last_checkpoint": str(last_path) if last_path else None,
        **{k: hyper[k] for k in ("temperature", "lr", "weight_decay", "out_dim")},
        "trainable_layers": f"{plan.trainable_layers} of {plan.layers}",
        "freeze_batch_norm": plan.freeze_batch_norm,
    }
    return TrainedBackbone(checkpoint=checkpoint, summary=summary)


def _serialise(snap: _Snapshot, hyper: Mapping[str, Any]) -> bytes:
    return checkpoint_bytes(
        backbone=snap.backbone,
        head=snap.head,
        epoch=snap.epoch,
        global_step=snap.step,
        hyper_parameters={**hyper, "loss": snap.loss},
    )


def _hyper_parameters(
    cfg: LightlyConfig, options: TrainingOptions, weights: str, start_from: Path | None
) -> dict[str, Any]:
    return {
        "method": "SimCLR",
        "model": cfg.model.name,
        "input_size": cfg.collate.input_size,
        "out_dim": options.out_dim,
        "temperature": options.temperature,
        "lr": options.lr,
        "weight_decay": options.weight_decay,
        "batch_size": options.batch_size,
        "max_epochs": options.max_epochs,
        "trainable_layers": cfg.finetune.trainable_layers,
        "freeze_batch_norm": cfg.finetune.freeze_batch_norm,
        "seed": cfg.seed,
        "started_from": str(start_from) if start_from else weights,
        **_architecture(cfg),
    }


def _architecture(cfg: LightlyConfig) -> dict[str, int]:
    """``num_ftrs`` and ``width`` when they shape Lightly's ResNet (absent otherwise)."""
    shape = lightly_resnet(cfg.model)
    return {} if shape is None else {"num_ftrs": shape.num_ftrs, "width": shape.width}


def _thin(values: list[float]) -> list[float]:
    """At most :data:`MAX_CURVE_POINTS` evenly spaced values (the report's loss curve)."""
    if len(values) <= MAX_CURVE_POINTS:
        return values
    step = len(values) / MAX_CURVE_POINTS
    return [values[int(i * step)] for i in range(MAX_CURVE_POINTS)]
