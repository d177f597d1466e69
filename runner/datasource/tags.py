"""Local tags: named lists of filenames, as Lightly's dataset tags.

In Lightly the dataset holds what runs selected: the first run's selection is the tag
``initial-tag`` and each later run adds a tag. Here a Lightly datasource is one dataset and its
tags are, in this order of precedence:

- ``.lightly/tags/<name>.txt``: written by you, one input-relative filename per line;
- ``initial-tag``: the selection of the first (oldest) published run in ``.lightly/runs/``;
- ``<run id>``: the selection of that run (``.lightly/runs/<run id>/selected_filenames.txt``;
  ``latest`` names the newest run).

They are read by SIMILARITY (``input.tag_name``), by the Python client's tag and export calls
and by ``lightly-serve``'s viewer. ``dataset_id`` is ignored locally.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from runner.artifacts.run_dir import finished_run_ids
from runner.config import SelectionInput
from runner.errors import ConfigError, DataError

INITIAL_TAG = "initial-tag"
SELECTED = "selected_filenames.txt"


@dataclass(frozen=True)
class TagData:
    """A tag with the attribute names of Lightly's ``TagData``; ``id`` is the tag's name.

    Attributes:
        run_id: The run whose selection the tag is (None for your own tags).
        tot_size: Number of filenames in the tag.
        created_at: Unix milliseconds (the file's modification time).
        path: The file the tag is read from (beyond Lightly).
    """

    id: str
    name: str
    dataset_id: str | None
    run_id: str | None
    tot_size: int
    created_at: int
    path: Path
    prev_tag_id: str | None = None


class TagNotFoundError(ConfigError):
    """No tag of that name (Lightly's ``TagDoesNotExistError``)."""


def list_tags(dot_lightly: Path, dataset_id: str | None = None) -> list[TagData]:
    """Every tag of a Lightly datasource: run tags oldest first, then your own by name."""
    own_dir = dot_lightly / "tags"
    own = sorted(p for p in own_dir.glob("*.txt") if p.is_file()) if own_dir.is_dir() else []
    mine = {p.stem for p in own}
    tags: list[TagData] = []
    runs = dot_lightly / "runs"
    previous: str | None = None
    for i, run_id in enumerate(finished_run_ids(runs)):
        path = runs / run_id / SELECTED
        name = INITIAL_TAG if i == 0 else run_id
        if path.is_file() and name not in mine:
            tags.append(_tag(name, path, dataset_id, run_id, previous))
            previous = name
    tags += [_tag(p.stem, p, dataset_id, None, None) for p in own]
    return tags


def is_tag_name(name: str) -> bool:
    """Whether ``name`` can name a tag (not empty, no path separator, not hidden, printable)."""
    return (
        bool(name)
        and not ({"/", "\\"} & set(name))
        and not name.startswith(".")
        and (name.isprintable())
    )


def tag_path(dot_lightly: Path, name: str) -> Path:
    """The file of tag ``name``.

    Raises:
        ConfigError: The name cannot be a tag (empty, a path, hidden, unprintable).
        TagNotFoundError: No such tag, naming where to write one.
    """
    if not is_tag_name(name):
        raise ConfigError(f"not a tag name: {name!r}")
    runs = dot_lightly / "runs"
    candidates = [dot_lightly / "tags" / f"{name}.txt"]
    if name == INITIAL_TAG:
        first = finished_run_ids(runs)[:1]
        candidates += [runs / run_id / SELECTED for run_id in first]
    else:
        candidates.append(runs / name / SELECTED)
    for path in candidates:
        if path.is_file():
            return path
    raise TagNotFoundError(
        f"tag {name!r} not found: write {dot_lightly / 'tags' / (name + '.txt')} "
        f"(one input-relative filename per line), name an earlier run id, or use "
        f"{INITIAL_TAG!r} (the first run's selection) once a run has finished"
    )


def read_tag(dot_lightly: Path, name: str) -> list[str]:
    """The filenames of tag ``name``, in file order.

    Raises:
        ConfigError: See :func:`tag_path`.
        DataError: The tag's file cannot be read.
    """
    path = tag_path(dot_lightly, name)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read tag {name!r} from {path}: {exc}") from None
    return [line.strip() for line in lines if line.strip()]


def tag_resolver(dot_lightly: Path) -> Callable[[SelectionInput], Sequence[str]]:
    """The ``query_keys`` callback of the selection engine for this Lightly datasource."""

    def query_keys(selection_input: SelectionInput) -> Sequence[str]:
        name = selection_input.tag_name or ""
        if not is_tag_name(name):
            raise ConfigError(f"SIMILARITY needs input.tag_name naming a tag, got {name!r}")
        return read_tag(dot_lightly, name)

    return query_keys


def _tag(
    name: str, path: Path, dataset_id: str | None, run_id: str | None, previous: str | None
) -> TagData:
    lines = [line for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    created = int(path.stat().st_mtime * 1000)
    return TagData(name, name, dataset_id, run_id, len(lines), created, path, previous)
