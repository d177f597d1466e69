"""Local tags: the query sets of SIMILARITY (Lightly's ``dataset_id`` + ``tag_name``).

A tag is a list of input-relative filenames, one per line. ``tag_name`` resolves, in order, to
``.lightly/tags/<tag_name>.txt`` (written by you) or the selection of an earlier run in this
Lightly datasource: ``.lightly/runs/<tag_name>/selected_filenames.txt`` (``latest`` works).
``dataset_id`` is ignored locally: there is one dataset per Lightly datasource.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from runner.config import SelectionInput
from runner.errors import ConfigError, DataError


def tag_resolver(dot_lightly: Path) -> Callable[[SelectionInput], Sequence[str]]:
    """The ``query_keys`` callback of the selection engine for this Lightly datasource."""

    def query_keys(selection_input: SelectionInput) -> Sequence[str]:
        name = selection_input.tag_name or ""
        if not name or "/" in name or name.startswith(".") or not name.isprintable():
            raise ConfigError(f"SIMILARITY needs input.tag_name naming a tag, got {name!r}")
        for path in (
            dot_lightly / "tags" / f"{name}.txt",
            dot_lightly / "runs" / name / "selected_filenames.txt",
        ):
            if path.is_file():
                try:
                    lines = path.read_text(encoding="utf-8-sig").splitlines()
                except (OSError, UnicodeDecodeError) as exc:
                    raise DataError(f"cannot read tag {name!r} from {path}: {exc}") from None
                return [line.strip() for line in lines if line.strip()]
        raise ConfigError(
            f"tag {name!r} not found: write {dot_lightly / 'tags' / (name + '.txt')} "
            "(one input-relative filename per line) or name an earlier run id"
        )

    return query_keys
