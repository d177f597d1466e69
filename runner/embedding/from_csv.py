"""``worker.embeddings``: the user's own embeddings, in Lightly's CSV format, instead of a model.

The file has the header ``filenames,embedding_0,...,embedding_{D-1},labels`` (Lightly's
``embeddings.csv``; optional ``masked`` and ``selected`` columns before ``labels`` are accepted
when all their values are 0). Every candidate needs a row, keyed by its sample key (the
relative path, or Lightly's frame name for video frames). Mistakes are one-line errors: a
selection that silently left out samples without a row would not be the selection asked for.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from runner.embedding.embed import EmbeddingResult
from runner.embedding.specs import file_sha256
from runner.errors import ConfigError

log = logging.getLogger(__name__)
SETTING = "worker.embeddings"
_OPTIONAL = ("masked", "selected")


def resolve_embeddings_file(value: str, *, lightly_dir: Path) -> Path:
    """The CSV path: absolute, or relative to the Lightly datasource.

    Raises:
        ConfigError: No such file.
    """
    given = Path(value).expanduser()
    path = given if given.is_absolute() else lightly_dir / given
    if not path.is_file():
        raise ConfigError(f"{SETTING}={value}: no such file ({path})")
    return path


def _names(items: Sequence[str], limit: int = 3) -> str:
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(repr(x) for x in items[:limit]) + more


def _check_header(header: list[str], path: Path) -> tuple[int, list[int]]:
    """Embedding dimension and the indices of optional flag columns; raises on a bad header."""
    expected = "filenames,embedding_0,...,embedding_{D-1},labels"
    if not header or header[0] != "filenames" or header[-1] != "labels":
        found = ",".join(header[:3]) + (",..." if len(header) > 3 else "")
        raise ConfigError(f"{SETTING}={path}: header must be {expected}; found {found!r}")
    middle = header[1:-1]
    flags = [i + 1 for i, name in enumerate(middle) if name in _OPTIONAL]
    dims = [name for name in middle if name not in _OPTIONAL]
    want = [f"embedding_{i}" for i in range(len(dims))]
    if not dims or dims != want or (flags and min(flags) <= len(dims)):
        wrong = next((d for d, w in zip(dims, want, strict=True) if d != w), "no embedding_0")
        raise ConfigError(
            f"{SETTING}={path}: header must be {expected} (masked/selected may come before "
            f"labels); found column {wrong!r}"
        )
    return len(dims), flags


def _read_rows(path: Path) -> tuple[int, dict[str, np.ndarray], list[int]]:
    """Dimension, rows by filename, and the flag column values seen (for the masked check)."""
    rows: dict[str, np.ndarray] = {}
    flag_values: list[int] = []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        dim, flags = _check_header(header, path)
        for line, record in enumerate(reader, start=2):
            if not record:
                continue
            if len(record) != len(header):
                raise ConfigError(
                    f"{SETTING}={path}: line {line} has {len(record) - 2 - len(flags)} "
                    f"embedding values, the header {dim}; every row needs the same dimension"
                )
            name = record[0]
            if name in rows:
                raise ConfigError(
                    f"{SETTING}={path}: filename {name!r} appears twice (line {line})"
                )
            try:
                rows[name] = np.asarray(record[1 : 1 + dim], dtype=np.float32)  # (D,)
                flag_values += [int(float(record[i])) for i in flags]
            except ValueError:
                raise ConfigError(
                    f"{SETTING}={path}: line {line} ({name!r}) holds a value that is not a number"
                ) from None
    return dim, rows, flag_values


def load_embeddings_csv(
    value: str, *, lightly_dir: Path, keys: Sequence[str], normalize: bool
) -> EmbeddingResult:
    """The embeddings of ``keys`` from the user's CSV, sorted by key.

    Args:
        value: ``worker.embeddings``: absolute, or relative to the Lightly datasource.
        lightly_dir: The Lightly datasource.
        keys: The candidates' sample keys.
        normalize: ``worker.normalize_embeddings``: L2-normalise each row.

    Returns:
        The rows of ``keys`` (extra rows in the file are ignored and counted in ``model``).

    Raises:
        ConfigError: Missing file, wrong columns, duplicate filenames, rows of another
            dimension, non-numeric, NaN or infinite values, a masked or selected row, or
            candidates without a row.
    """
    path = resolve_embeddings_file(value, lightly_dir=lightly_dir)
    dim, rows, flag_values = _read_rows(path)
    if any(flag_values):
        raise ConfigError(
            f"{SETTING}={path}: masked/selected values other than 0 are not supported; "
            "remove those columns or set them to 0"
        )
    ordered = sorted(keys)
    missing = [k for k in ordered if k not in rows]
    if missing:
        raise ConfigError(
            f"{SETTING}={path}: no row for {len(missing)} of {len(ordered)} candidates: "
            f"{_names(missing)}"
        )
    matrix = (
        np.stack([rows[k] for k in ordered]) if ordered else np.zeros((0, dim), np.float32)
    )  # (N, D)
    finite = np.all(np.isfinite(matrix), axis=1)  # (N,) bool
    bad = [k for k, ok in zip(ordered, np.atleast_1d(finite).tolist(), strict=True) if not ok]
    if bad:
        raise ConfigError(f"{SETTING}={path}: NaN or infinite values in the rows of {_names(bad)}")
    extra = len(rows) - len(ordered)
    log.info(
        "embeddings: %d rows read from %s (%d rows of other files ignored)",
        len(ordered),
        path,
        extra,
    )
    return EmbeddingResult(
        keys=ordered,
        embeddings=_l2_normalize(matrix) if normalize else matrix,
        model={
            "source": "file",
            "path": str(path),
            "embedding_dim": dim,
            "rows_used": len(ordered),
            "rows_ignored": extra,
            "fingerprint": file_sha256(path),
            "normalize": normalize,
        },
        cache_hits=0,
        cache_misses=0,
    )


def _l2_normalize(rows: np.ndarray) -> np.ndarray:
    """Unit rows in float32 (zero rows stay zero). (N, D) -> (N, D)."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)  # (N, 1)
    normalized: np.ndarray = rows / np.maximum(norms, np.float32(1e-12))
    return normalized
