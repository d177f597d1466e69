"""Checks of the training, checkpoint and user-embeddings keys before any work starts."""

from __future__ import annotations

from pathlib import Path

from runner.config import FinetuneConfig, RunConfig
from runner.crops.plan import object_task
from runner.embedding.from_csv import resolve_embeddings_file
from runner.embedding.ranks import launched_processes
from runner.embedding.specs import lightly_resnet
from runner.errors import ConfigError
from runner.training.checkpoints import checkpoint_to_load
from runner.training.on_crops import check_crop_training
from runner.training.options import training_options
from runner.training.start import starting_weights

# Lightly's training keys that change nothing without ``worker.enable_training``.
TRAINING_KEYS = (
    "worker.training.task_name",
    "lightly.loader.shuffle",
    "lightly.loader.drop_last",
    "lightly.model.out_dim",
    "lightly.trainer.max_epochs",
    "lightly.criterion",
    "lightly.optimizer",
    "lightly.checkpoint_callback",
    "lightly.finetune",
)

# The layers :func:`runner.training.finetune.backbone_layers` finds (kept here, torch-free:
# this module is imported by every run, also by reruns that never import torch).
_EFFICIENTNET_LAYERS = 9
_RESNET_LAYERS = 5


def layer_count(model_name: str) -> int:
    """How many layers :func:`backbone_layers` finds in the model ``model_name``."""
    return _EFFICIENTNET_LAYERS if model_name.startswith("efficientnet") else _RESNET_LAYERS


def check_finetune(cfg: FinetuneConfig, model_name: str) -> None:
    """Refuse a ``lightly.finetune.trainable_layers`` the model does not have, in one line.

    Raises:
        ConfigError: ``trainable_layers`` below -1 or above the model's layer count.
    """
    count = layer_count(model_name)
    if not -1 <= cfg.trainable_layers <= count:
        raise ConfigError(
            f"lightly.finetune.trainable_layers={cfg.trainable_layers}: {model_name} has "
            f"{count} layers; use 0-{count}, or -1 for all"
        )


def check_model_sources(cfg: RunConfig, *, lightly_dir: Path, dot_lightly: Path) -> Path | None:
    """Check where the embeddings come from; return the checkpoint to load, if any.

    Exactly one source applies: ``worker.embeddings`` (a CSV, no model), or the model with
    its pretrained weights, a checkpoint (``worker.checkpoint`` / ``checkpoint_run_id``) and
    optional training on the run's data. Lightly's ResNet (``num_ftrs`` / ``width``) has no
    pretrained weights, so it needs training, a checkpoint, or ``pretrained: false``.

    Raises:
        ConfigError: Conflicting keys, missing files, or bad training keys.
    """
    worker, lightly = cfg.worker, cfg.lightly
    checkpoint = checkpoint_to_load(worker, lightly_dir=lightly_dir, dot_lightly=dot_lightly)
    if worker.embeddings:
        if worker.enable_training or checkpoint is not None:
            other = "worker.enable_training" if worker.enable_training else "the checkpoint"
            raise ConfigError(
                f"worker.embeddings replaces the model, so {other} would have no effect; "
                "remove one of them"
            )
        resolve_embeddings_file(worker.embeddings, lightly_dir=lightly_dir)
        return None
    architecture = lightly_resnet(lightly.model)
    untrained = not worker.enable_training and checkpoint is None
    if architecture is not None and lightly.model.pretrained and untrained:
        raise ConfigError(
            f"{architecture.describe(lightly.model.name)} has no pretrained weights: train it "
            "(worker.enable_training=true), load its checkpoint (worker.checkpoint or "
            "worker.checkpoint_run_id), or set lightly.model.pretrained=false for random weights"
        )
    if worker.enable_training:
        check_crop_training(worker.training.task_name, object_task(cfg))
        training_options(lightly)
        check_finetune(lightly.finetune, lightly.model.name)
        starting_weights(lightly.model, seed=lightly.seed, checkpoint=checkpoint)
    return checkpoint


def check_launched_run(cfg: RunConfig) -> None:
    """A run of launched processes (torchrun, SLURM, several nodes) embeds whole images only.

    Its helper processes (:func:`runner.pipeline.embed_share`) start embedding their share at
    once, with the model as configured: they cannot wait for rank 0's training, nor plan its
    crops, so their shards would be wasted and rank 0 would embed everything again. Every
    process refuses such a run in the same line before any work, so none is left waiting.

    Raises:
        ConfigError: Training or a crop selection in a launched run, naming the alternative.
    """
    task = object_task(cfg)
    if not (cfg.worker.enable_training or task) or not launched_processes(cfg.lightly.trainer):
        return
    what = "worker.enable_training" if cfg.worker.enable_training else f"crop selection ({task})"
    raise ConfigError(
        f"{what} cannot run in launched processes (torchrun, SLURM or "
        "lightly.trainer.num_nodes > 1) yet: their helpers would embed whole images with the "
        "untrained model; on one machine use lightly.trainer.devices=N (the default ddp_spawn "
        "strategy), which trains once and embeds with every device"
    )
