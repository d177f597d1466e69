"""Reading weights files and checkpoints into modules, with one-line errors; file hashes."""

from __future__ import annotations

import collections
import logging
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from runner.errors import ConfigError

log = logging.getLogger(__name__)

# Keys of classifier heads: the backbones drop them, so weights files may carry them.
_HEAD_PREFIXES = ("fc.", "_fc.")


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def safe_checkpoint_globals() -> list[Any]:
    """The non-tensor types a Lightning checkpoint may hold, allowed by ``weights_only=True``.

    Lightning stores ``hyper_parameters`` as a plain dict or, for Hydra users, as OmegaConf
    containers; these restore plain data and run no code of the file's choosing.
    """
    import typing

    from omegaconf import DictConfig, ListConfig
    from omegaconf.base import ContainerMetadata, Metadata
    from omegaconf.nodes import AnyNode, BooleanNode, FloatNode, IntegerNode, StringNode

    return [
        DictConfig,
        ListConfig,
        ContainerMetadata,
        Metadata,
        AnyNode,
        BooleanNode,
        FloatNode,
        IntegerNode,
        StringNode,
        typing.Any,
        collections.defaultdict,
        dict,
        list,
        int,
    ]


def _torch_load(path: Path, *, setting: str) -> Any:
    """Read a torch file on the CPU with ``weights_only=True``: nothing in it runs as code.

    Raises:
        ConfigError: The file holds other objects (named, with how to re-save it), or it is
            not a torch file.
    """
    try:
        with torch.serialization.safe_globals(safe_checkpoint_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ConfigError(_refusal(str(exc), setting=setting, path=path)) from None
    except (OSError, RuntimeError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"{setting}={path}: not a readable torch file ({_first_line(exc)})"
        ) from None


def _refusal(message: str, *, setting: str, path: Path) -> str:
    """One line for a file ``weights_only`` refused: what is in it and how to re-save it."""
    resave = "re-save the weights only: torch.save(model.state_dict(), path)"
    # the file's own type names, e.g. posix.system for a pickle that would run a command
    found = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) (\S+)", message)
    if found or "SETITEM" in message or "BUILD" in message:
        what = f"objects of type {found.group(1)}" if found else "objects that are not weights"
        return (
            f"{setting}={path} holds {what}, which are never unpickled (they could run "
            f"code); {resave}"
        )
    after = message.split("WeightsUnpickler error:", 1)[-1]
    detail = next((line.strip() for line in after.splitlines() if line.strip()), "unknown")
    return (
        f"{setting}={path}: not a readable torch file of weights ({detail}); it was not "
        f"unpickled (that could run code): if it is a pickle or a whole model, {resave}"
    )


def _keys_note(label: str, keys: list[str]) -> str:
    more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
    return f"{label} {', '.join(keys[:3])}{more}"


def apply_state(module: nn.Module, state: Mapping[str, Any], *, setting: str, path: Path) -> None:
    """Load ``state`` into ``module`` strictly, except for classifier-head keys it lacks.

    Raises:
        ConfigError: Missing or unexpected keys (the first few named), or wrong shapes.
    """
    expected = set(module.state_dict())
    state = {k: v for k, v in state.items() if k in expected or not k.startswith(_HEAD_PREFIXES)}
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - expected)
    if missing or unexpected:
        notes = [_keys_note("missing", missing)] if missing else []
        notes += [_keys_note("unexpected", unexpected)] if unexpected else []
        raise ConfigError(f"{setting}={path} does not fit the model: {'; '.join(notes)}")
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = next((line.strip() for line in str(exc).splitlines()[1:] if line.strip()), "")
        raise ConfigError(f"{setting}={path} does not fit the model: {first}") from exc


def _state_dict_of(obj: Any, *, setting: str, path: Path) -> Mapping[str, Any]:
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(k, str) for k in obj):
        raise ConfigError(f"{setting}={path}: expected a state_dict or a Lightning .ckpt")
    return obj


def read_state_dict(path: Path, *, setting: str) -> Mapping[str, Any]:
    """The state_dict in a torch file: a plain one, or a Lightning checkpoint's ``state_dict``.

    Args:
        path: The file.
        setting: The config key that named it, for error messages.

    Raises:
        ConfigError: Unreadable file, or no state_dict in it.
    """
    return _state_dict_of(_torch_load(path, setting=setting), setting=setting, path=path)


def load_state_dict_file(module: nn.Module, path: Path) -> None:
    """Load a pretrained weights file (``lightly.model.weights``) into ``module``."""
    setting = "lightly.model.weights"
    apply_state(module, read_state_dict(path, setting=setting), setting=setting, path=path)
