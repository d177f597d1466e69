"""Which YAML file, and which line of it, a config mistake comes from.

Hydra reports a bad value in a config file as ``In 'dataset/typo': ValidationError ...`` with
a key relative to the innermost typed node (``strategy.type``). A user who wrote
``./lightly_conf/dataset/typo.yaml`` wants that file, the line, and the key from the root
(``selection.strategies[0].strategy.type``). This module finds them by reading the YAML the
same way Hydra's search path does: the user's config dir first, then the packaged ``conf/``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from hydra_plugins.lightly_runner import user_config_dir
from runner.resources import config_dir

_PACKAGE = re.compile(r"^#\s*@package\s+(\S+)", re.MULTILINE)
_IN_CONFIG = re.compile(r"^In '([^']+)'")
_INDEX = re.compile(r"\[\d+\]")


@dataclass(frozen=True)
class Location:
    """A key in a config file.

    Attributes:
        path: The YAML file (relative to the current directory when below it).
        line: 1-based line of the key.
        key: The dotted key from the root of the config, with list indices
            (``selection.strategies[0].strategy.type``).
    """

    path: str
    line: int
    key: str

    def __str__(self) -> str:
        return f"{self.path}, line {self.line}"


def search_dirs() -> list[Path]:
    """Config dirs in Hydra's order for ``lightly-run``: the user's, then the packaged one."""
    user = user_config_dir()
    return [d for d in (user, config_dir()) if d is not None]


def config_file(config_path: str) -> Path | None:
    """The YAML file Hydra loads for ``group/name`` (``dataset/cam1``), or None."""
    for folder in search_dirs():
        candidate = folder / f"{config_path}.yaml"
        if candidate.is_file():
            return candidate
    return None


def config_in_error(message: str) -> str | None:
    """``dataset/typo`` from Hydra's ``In 'dataset/typo': ...`` composition message."""
    match = _IN_CONFIG.match(message)
    return match.group(1) if match else None


def chosen_configs(overrides: Sequence[str]) -> list[str]:
    """Config paths that group overrides pick (``+dataset=cam1`` -> ``dataset/cam1``)."""
    chosen = []
    for override in overrides:
        name, _, value = override.lstrip("+~").partition("=")
        if value and "." not in name and "," not in value and not name.startswith("hydra"):
            chosen.append(f"{name}/{value}")
    return chosen


def locate(config_path: str, key: str, value: object = None) -> Location | None:
    """Find ``key`` in the file of ``config_path``.

    Args:
        config_path: ``group/name`` as Hydra names it.
        key: A dotted key, from the root or (as OmegaConf reports it inside a list item)
            only its tail; list indices are optional.
        value: When given, the key's value must equal it (as text).

    Returns:
        The first matching key, or None if the file or the key is not found.
    """
    path = config_file(config_path)
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if root is None:
        return None
    want = _INDEX.sub("", key)
    for dotted, line, node in _walk(root, _package(text, config_path)):
        plain = _INDEX.sub("", dotted)
        if plain != want and not plain.endswith(f".{want}"):
            continue
        if value is not None and not (
            isinstance(node, yaml.ScalarNode) and node.value == str(value)
        ):
            continue
        return Location(_shown(path), line, dotted)
    return None


def _package(text: str, config_path: str) -> str:
    """The key prefix of a file's content: its ``@package`` header, else its group."""
    match = _PACKAGE.search(text)
    package = match.group(1) if match else config_path.rpartition("/")[0].replace("/", ".")
    return "" if package == "_global_" else package


def _walk(node: yaml.Node, prefix: str) -> Iterator[tuple[str, int, yaml.Node]]:
    """Every key below ``node`` as (dotted key, 1-based line of the key, value node)."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            dotted = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            yield dotted, key_node.start_mark.line + 1, value_node
            yield from _walk(value_node, dotted)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            dotted = f"{prefix}[{i}]"
            yield dotted, item.start_mark.line + 1, item
            yield from _walk(item, dotted)


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when it is below it, else absolute."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return os.fspath(path)
