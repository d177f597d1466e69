"""Lightly's ``relevant_filenames_file``: which files of the input datasource a run may use.

The file holds one path per line, relative to the input datasource root. A line whose first
whitespace-separated token contains ``*`` is a *prefix rule*: the text before the first ``*``
is a path prefix, and the remaining tokens are gitignore-style patterns that exclude (or, with
``!``, re-include) files under that prefix, last match wins. Every other line is an exact path.

Where the file must live (inside ``<lightly datasource>/.lightly/``) is checked elsewhere; this
module only parses and matches.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pathspec import GitIgnoreSpec

from runner.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[/\\]")  # C:/data or C:\data


@dataclass(frozen=True)
class PrefixRule:
    """One wildcard line: a path prefix plus gitignore-style exclusions.

    Attributes:
        prefix: Text before the first ``*`` of the line's first token (``subdir/``).
        excludes: Patterns evaluated in order on the relative path, last match wins; a match
            of a plain pattern excludes the file, a match of ``!pattern`` re-includes it.
    """

    prefix: str
    excludes: GitIgnoreSpec

    def matches(self, rel_posix_path: str) -> bool:
        """Whether the rule includes a file.

        Args:
            rel_posix_path: POSIX path relative to the input datasource root.

        Returns:
            True when the path starts with the prefix and no exclusion has the last word.
        """
        if not rel_posix_path.startswith(self.prefix):
            return False
        return not self.excludes.match_file(rel_posix_path)


@dataclass(frozen=True)
class RelevantFilenames:
    """The parsed rules of one ``relevant_filenames_file``.

    Attributes:
        exact_paths: Paths listed verbatim (lines without ``*`` in their first token).
        prefix_rules: Wildcard lines, in file order.
    """

    exact_paths: frozenset[str]
    prefix_rules: tuple[PrefixRule, ...]

    def matches(self, rel_posix_path: str) -> bool:
        """Whether a file is relevant: listed exactly or included by any prefix rule.

        Args:
            rel_posix_path: POSIX path relative to the input datasource root.

        Returns:
            True when the file belongs to the run.
        """
        if rel_posix_path in self.exact_paths:
            return True
        return any(rule.matches(rel_posix_path) for rule in self.prefix_rules)


def load_relevant_filenames(path: Path) -> RelevantFilenames:
    """Read and parse a ``relevant_filenames_file``.

    Args:
        path: The file to read (UTF-8 text).

    Returns:
        The parsed rules.

    Raises:
        ConfigError: The file does not exist, or a line is absolute, starts with ``./`` or
            ``../``, or contains a ``..`` component.
        DataError: The file exists but cannot be read as UTF-8 text.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM from a Windows editor is dropped
    except FileNotFoundError as exc:
        raise ConfigError(f"relevant_filenames_file not found: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read relevant_filenames_file {path}: {exc}") from exc
    return parse_relevant_filenames(text.splitlines(), source=str(path))


def parse_relevant_filenames(lines: Iterable[str], *, source: str) -> RelevantFilenames:
    """Parse the lines of a ``relevant_filenames_file``.

    Args:
        lines: The file's lines, without line endings.
        source: Name of the file, for messages.

    Returns:
        The parsed rules; duplicate lines are kept once, with a warning.

    Raises:
        ConfigError: A line is absolute, starts with ``./`` or ``../``, or contains ``..``.
    """
    exact: set[str] = set()
    rules: list[PrefixRule] = []
    seen: set[str] = set()
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line in seen:
            logger.warning("%s line %d: duplicate line %r ignored", source, number, line)
            continue
        seen.add(line)
        tokens = line.split()
        if "*" in tokens[0]:
            for token in tokens:
                _check_relative(token.removeprefix("!"), number=number, line=line, source=source)
            rules.append(_prefix_rule(tokens))
        else:
            _check_relative(line, number=number, line=line, source=source)
            exact.add(line)
    return RelevantFilenames(exact_paths=frozenset(exact), prefix_rules=tuple(rules))


def _prefix_rule(tokens: list[str]) -> PrefixRule:
    """Build the rule of a wildcard line from its whitespace-separated tokens."""
    prefix = tokens[0].split("*", 1)[0]
    return PrefixRule(prefix=prefix, excludes=GitIgnoreSpec.from_lines(tokens[1:]))


def _check_relative(entry: str, *, number: int, line: str, source: str) -> None:
    """Reject paths that leave, or do not start at, the input datasource root.

    Raises:
        ConfigError: Naming the file, line number and line.
    """
    problem = None
    if entry.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(entry):
        problem = "absolute paths are not allowed"
    elif entry.startswith(("./", "../")):
        problem = "paths must not start with './' or '../'"
    elif ".." in PurePosixPath(entry).parts:
        problem = "paths must not contain '..'"
    elif any(unicodedata.category(char) == "Cc" for char in entry):
        problem = "paths must not contain control characters (such as NUL or ESC)"
    if problem is not None:
        raise ConfigError(
            f"relevant_filenames_file {source} line {number}: {problem}; write paths relative "
            f"to the input datasource root: {line!r}"
        )
