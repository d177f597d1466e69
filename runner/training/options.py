"""Lightly's training keys, read once into typed options with one-line errors.

``lightly.criterion``, ``lightly.optimizer`` and ``lightly.checkpoint_callback`` are Lightly's
free-form dicts; their defaults here are those of the Lightly CLI's ``config.yaml`` (NT-Xent
temperature 0.5, SGD weight decay 1e-5, ``save_last: true``) except the learning rate: 0.1
instead of Lightly's 1.0, which suits training from scratch but made a pretrained backbone's
features worse for selection within one epoch (see :mod:`runner.training.finetune` and
docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.config import LightlyConfig
from runner.errors import ConfigError

# key -> (default, allowed types); keys Lightly's CLI accepts but that change nothing here
# (``memory_bank_size`` 0, ``save_top_k`` 1, ``dirpath``) are allowed at those values only.
_KNOWN: dict[str, dict[str, Any]] = {
    "criterion": {"temperature": 0.5, "memory_bank_size": 0},
    "optimizer": {"lr": 0.1, "weight_decay": 1e-5},
    "checkpoint_callback": {"save_last": True, "save_top_k": 1, "dirpath": None},
}
_FIXED = {"memory_bank_size", "save_top_k", "dirpath"}


@dataclass(frozen=True)
class TrainingOptions:
    """The training settings of one run.

    Attributes:
        max_epochs: ``lightly.trainer.max_epochs`` (0: no training step, the checkpoint holds
            the starting weights).
        batch_size: ``lightly.loader.batch_size``; a batch holds this many samples, two
            views each.
        shuffle: ``lightly.loader.shuffle``.
        drop_last: ``lightly.loader.drop_last``.
        temperature: ``lightly.criterion.temperature`` of the NT-Xent loss.
        lr: ``lightly.optimizer.lr`` (plain SGD, as Lightly's CLI; default 0.1, Lightly's 1.0).
        weight_decay: ``lightly.optimizer.weight_decay``.
        out_dim: ``lightly.model.out_dim``: output size of the projection head.
        save_last: ``lightly.checkpoint_callback.save_last``: also keep the last epoch's
            weights when another epoch had the lowest loss.
    """

    max_epochs: int
    batch_size: int
    shuffle: bool
    drop_last: bool
    temperature: float
    lr: float
    weight_decay: float
    out_dim: int
    save_last: bool


def _section(cfg: LightlyConfig, name: str) -> dict[str, Any]:
    """One of Lightly's free-form dicts merged over its defaults; unknown keys refused."""
    raw = getattr(cfg, name)
    given: Mapping[str, Any] = raw if isinstance(raw, Mapping) else vars(raw)
    defaults = _KNOWN[name]
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ConfigError(
            f"lightly.{name}.{unknown[0]} is unknown; known keys: {', '.join(defaults)}"
        )
    merged = {**defaults, **{k: v for k, v in given.items() if v is not None}}
    for key in _FIXED & set(given):
        if given[key] is not None and given[key] != defaults[key]:
            raise ConfigError(
                f"lightly.{name}.{key}={given[key]!r} is not supported; leave it at "
                f"{defaults[key]!r}"
            )
    return merged


def _number(value: object, key: str, *, low: float, strict: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key}={value!r}: expected a number")
    if value < low or (strict and value == low):
        raise ConfigError(f"{key}={value}: must be {'>' if strict else '>='} {low:g}")
    return float(value)


def training_options(cfg: LightlyConfig) -> TrainingOptions:
    """Read and check the training keys of the ``lightly`` slice.

    Raises:
        ConfigError: An unknown key or an out-of-range value, as one line.
    """
    criterion = _section(cfg, "criterion")
    optimizer = _section(cfg, "optimizer")
    callback = _section(cfg, "checkpoint_callback")
    if cfg.trainer.max_epochs < 0:
        raise ConfigError(f"lightly.trainer.max_epochs={cfg.trainer.max_epochs}: must be >= 0")
    if cfg.model.out_dim < 1:
        raise ConfigError(f"lightly.model.out_dim={cfg.model.out_dim}: must be >= 1")
    if not isinstance(callback["save_last"], bool):
        raise ConfigError(
            f"lightly.checkpoint_callback.save_last={callback['save_last']!r}: expected true "
            "or false"
        )
    return TrainingOptions(
        max_epochs=cfg.trainer.max_epochs,
        batch_size=cfg.loader.batch_size,
        shuffle=cfg.loader.shuffle,
        drop_last=cfg.loader.drop_last,
        temperature=_number(criterion["temperature"], "lightly.criterion.temperature", low=0),
        lr=_number(optimizer["lr"], "lightly.optimizer.lr", low=0),
        weight_decay=_number(
            optimizer["weight_decay"], "lightly.optimizer.weight_decay", low=0, strict=False
        ),
        out_dim=cfg.model.out_dim,
        save_last=callback["save_last"],
    )
