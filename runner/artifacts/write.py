"""Atomic writers for every run file: write to a temp name in the same folder, then rename.

A reader (the viewer, a user's script, a later run) never sees a half-written file.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def write_lines(path: Path, lines: Sequence[str]) -> None:
    """One entry per line, newline-terminated (empty file for no entries)."""
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
