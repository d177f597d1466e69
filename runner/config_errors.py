"""Turn Hydra/OmegaConf composition failures into one line a user can act on.

Hydra's own messages span several lines and talk about structs and ``object_type``; users want
"unknown key 'selection.n_sample' (did you mean 'selection.n_samples'?)" or the allowed values
of an enum.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Sequence
from enum import Enum
from typing import Any

from hydra.errors import OverrideParseException
from omegaconf import DictConfig, ListConfig
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    MissingMandatoryValue,
    OmegaConfBaseException,
    ValidationError,
)

from runner.config import RunConfig
from runner.config_source import Location, chosen_configs, config_in_error, locate

_INDEX = re.compile(r"\[(\d+|\*)\]")


def _unwrap(tp: Any) -> Any:
    """The dataclass (or list element dataclass) behind an annotation, else the annotation."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else tp
    if origin is list:
        return _unwrap(typing.get_args(tp)[0])
    return tp


def schema_node(dotted: str) -> Any:
    """The schema type at a dotted path (list indices ignored), or None if there is none."""
    node: Any = RunConfig
    for part in [p for p in _INDEX.sub("", dotted).split(".") if p]:
        if not dataclasses.is_dataclass(node):
            return None
        hints = typing.get_type_hints(node)
        if part not in hints:
            return None
        node = _unwrap(hints[part])
    return node


def known_keys(parent: str) -> list[str]:
    """Field names of the schema node at ``parent`` (empty if it is not a dataclass)."""
    node = schema_node(parent)
    if node is None or not dataclasses.is_dataclass(node):
        return []
    return [f.name for f in dataclasses.fields(node)]


def did_you_mean(full_key: str) -> str:
    """A "did you mean" suffix for an unknown dotted key, searching siblings then all keys."""
    parent, _, leaf = full_key.rpartition(".")
    siblings = known_keys(parent)
    match = difflib.get_close_matches(leaf, siblings, n=1, cutoff=0.6)
    if match:
        suggestion = f"{parent}.{match[0]}" if parent else match[0]
        return f" (did you mean '{suggestion}'?)"
    everywhere = _all_keys()
    match = difflib.get_close_matches(_INDEX.sub("", full_key), everywhere, n=1, cutoff=0.75)
    if not match:
        leaf_matches = [k for k in everywhere if k.rsplit(".", 1)[-1] == leaf]
        match = leaf_matches[:1]
    if match:
        return f" (did you mean '{match[0]}'?)"
    if siblings:
        return f" (known keys under '{parent or '<root>'}': {', '.join(siblings)})"
    return ""


def _all_keys(node: Any = RunConfig, prefix: str = "") -> list[str]:
    keys: list[str] = []
    if not dataclasses.is_dataclass(node):
        return keys
    hints = typing.get_type_hints(node)
    for f in dataclasses.fields(node):
        dotted = f"{prefix}{f.name}"
        keys.append(dotted)
        keys.extend(_all_keys(_unwrap(hints[f.name]), f"{dotted}."))
    return keys


def _enum_values(full_key: str) -> list[str]:
    node = schema_node(full_key)
    if isinstance(node, type) and issubclass(node, Enum):
        return [str(m.value) for m in node]
    return []


def _first_line(text: str) -> str:
    return " ".join(line.strip() for line in str(text).splitlines() if line.strip())


_MERGING = re.compile(r"(?:Error merging override|Could not override) '?([^=\s']+)")


def _full_key(omega: OmegaConfBaseException, chain: list[BaseException]) -> str:
    """The dotted key from the root; list items merged from an override lose their prefix."""
    full_key = str(getattr(omega, "full_key", "") or getattr(omega, "key", "") or "")
    if not full_key or schema_node(full_key.rpartition(".")[0]) is not None:
        return full_key
    for exc in chain:
        match = _MERGING.search(str(exc))
        if match and typing.get_origin(_list_type(match.group(1))) is list:
            return f"{match.group(1)}[*].{full_key}"
    return full_key


def _list_type(dotted: str) -> Any:
    parent, _, leaf = dotted.rpartition(".")
    node = schema_node(parent)
    if node is None or not dataclasses.is_dataclass(node):
        return None
    return typing.get_type_hints(node).get(leaf)


def unknown_keys(cfg: DictConfig) -> list[str]:
    """Keys present in a composed config that the schema does not know.

    Hydra's ``+key=value`` opens the struct flag, so a typo added with ``+`` (or in a YAML
    under ``# @package _global_``) would otherwise be dropped silently by ``to_object``.
    """
    found: list[str] = []
    _collect_unknown(cfg, RunConfig, "", found)
    return found


def _collect_unknown(node: Any, schema: Any, prefix: str, found: list[str]) -> None:
    if isinstance(node, DictConfig | ListConfig) and (node._is_none() or node._is_missing()):
        return
    if isinstance(node, ListConfig):
        for i, item in enumerate(node):
            _collect_unknown(item, schema, f"{prefix}[{i}]", found)
        return
    if not isinstance(node, DictConfig) or not dataclasses.is_dataclass(schema):
        return
    hints = typing.get_type_hints(schema)
    for key in node:
        dotted = f"{prefix}.{key!s}" if prefix else str(key)
        if key not in hints:
            found.append(dotted)
            continue
        _collect_unknown(node._get_node(key), _unwrap(hints[str(key)]), dotted, found)


def describe(exc: BaseException) -> str:
    """One line describing a composition/validation failure, with hints where we have them.

    A mistake inside a config file (``./lightly_conf/dataset/NAME.yaml``) is prefixed with the
    file and line, and its key is given from the root, exactly as on the command line.

    Args:
        exc: What composing or converting the config raised.
    """
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    grammar = next((e for e in chain if isinstance(e, OverrideParseException)), None)
    if grammar is not None and "target" in str(grammar.override or ""):
        return _target_grammar(str(grammar.override))
    omega = next((e for e in chain if isinstance(e, OmegaConfBaseException)), None)
    if omega is None:
        return _first_line(str(exc)).replace("Set the environment variable HYDRA_FULL_ERROR=1", "")
    full_key = _full_key(omega, chain)
    value = getattr(omega, "value", None)
    where = _where(chain, full_key, value if isinstance(omega, ValidationError) else None)
    if where is not None:
        full_key = where.key
    prefix = f"{where}: " if where is not None else ""
    if isinstance(omega, MissingMandatoryValue):
        return (
            f"{prefix}missing required value '{full_key}' "
            "(set it on the command line or in a +dataset config)"
        )
    if isinstance(omega, ConfigKeyError | ConfigAttributeError) and full_key:
        return f"{prefix}unknown config key '{full_key}'{did_you_mean(full_key)}"
    if isinstance(omega, ValidationError) and full_key:
        return prefix + invalid_value(full_key, value, _first_line(_own_message(omega)))
    return prefix + _first_line(_own_message(omega))


def _target_grammar(override: str) -> str:
    """The line for a BALANCE ``target`` Hydra's override grammar cannot read (a class name
    with quotes, parentheses, commas or non-ASCII letters)."""
    key = override.split("=", 1)[0]
    return (
        f"the override {key}=... cannot hold this BALANCE target: on the command line class "
        "names are written without quotes and may hold only ASCII letters, digits, spaces and "
        "- _ / . ({traffic light: 0.5}); for other names put the strategy in a YAML config "
        "(selection: strategies: [...], see docs/config.md)"
    )


def describe_unknown_key(full_key: str, *, overrides: Sequence[str] = ()) -> str:
    """The line for a key the schema does not know, with the file it is in when it is in one."""
    where = next(
        (loc for c in chosen_configs(overrides) if (loc := locate(c, full_key)) is not None),
        None,
    )
    prefix = f"{where}: " if where is not None else ""
    return f"{prefix}unknown config key '{full_key}'{did_you_mean(full_key)}"


def invalid_value(full_key: str, value: object, detail: str) -> str:
    """``invalid value 'x' for 'key'``, then a suggestion and the allowed values or type."""
    shown = f" '{value}'" if value is not None else ""
    allowed = _enum_values(full_key)
    if allowed:
        close = difflib.get_close_matches(str(value).upper(), allowed, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"invalid value{shown} for '{full_key}'{hint}; allowed: {', '.join(allowed)}"
    expected = _expected_type(full_key)
    if expected is not None:
        return f"invalid value{shown} for '{full_key}': expected {expected}"
    return f"invalid value{shown} for '{full_key}': {detail}"


def _where(chain: list[BaseException], full_key: str, value: object) -> Location | None:
    """The file and line of a mistake made in a config file, when Hydra names the file."""
    for exc in chain:
        config_path = config_in_error(str(exc))
        if config_path is not None and full_key:
            return locate(config_path, full_key, value)
    return None


def _own_message(omega: OmegaConfBaseException) -> str:
    """OmegaConf's message without its ``full_key``/``reference_type`` diagnostics."""
    text = str(getattr(omega, "msg", "") or omega)
    return "\n".join(line for line in text.splitlines() if not _DIAGNOSTIC.match(line))


_DIAGNOSTIC = re.compile(r"^\s*(full_key|reference_type|object_type|object_type_str)\s*[:=]")

_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _expected_type(full_key: str) -> str | None:
    """What a scalar key holds, in words (``an integer``), or None for other types."""
    node = schema_node(full_key)
    return _TYPE_WORDS.get(node) if isinstance(node, type) else None
