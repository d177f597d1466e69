"""Writers for the run files in Lightly's formats (all atomic, see :mod:`runner.atomic`)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from runner.atomic import atomic_write_json, atomic_write_text

__all__ = ["atomic_write_json", "atomic_write_text", "write_embeddings_csv", "write_lines"]


def write_lines(path: Path, lines: Sequence[str]) -> None:
    """One entry per line, newline-terminated (empty file for no entries).

    Raises:
        ValueError: An entry holds a line break (discovery skips such names, so this is a bug).
    """
    broken = next((line for line in lines if "\n" in line or "\r" in line), None)
    if broken is not None:
        raise ValueError(f"entry with a line break cannot be written one per line: {broken!r}")
    atomic_write_text(path, "".join(f"{line}\n" for line in lines))


def write_embeddings_csv(path: Path, keys: Sequence[str], embeddings: np.ndarray) -> None:
    """Lightly's ``embeddings.csv``: ``filenames,embedding_0,...,embedding_{D-1},labels``.

    Values are written with 6 significant digits (embeddings are fp16-exact, so this is
    lossless enough for reuse); ``labels`` is 0 as Lightly writes without weak labels.
    Filenames with a comma or quote are quoted as CSV requires.
    """
    n, dim = embeddings.shape  # (N, D)
    if n != len(keys):
        raise ValueError(f"{len(keys)} keys for {n} embedding rows")
    header = ",".join(["filenames", *[f"embedding_{i}" for i in range(dim)], "labels"])
    buffer = io.StringIO()
    buffer.write(header + "\n")
    row_format = ",".join(["%.6g"] * dim)
    for key, row in zip(keys, embeddings.astype(np.float64), strict=True):
        buffer.write(f"{_csv_field(key)},{row_format % tuple(row)},0\n")
    atomic_write_text(path, buffer.getvalue())


def _csv_field(value: str) -> str:
    if any(ch in value for ch in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value
