"""Custom metadata: ``.lightly/metadata/schema.json`` and per-sample files (spec §3).

The schema is a list of ``{name, path, defaultValue, valueDataType}``; ``path`` is the dot path
into a sample's ``metadata`` object and the selection key (``{"type": "METADATA", "key":
"weather.temperature"}``). Per-sample files mirror the input tree like prediction files; a
video frame without its own file uses its video's file. A missing file or path gives the
field's ``defaultValue``; a value of the wrong type is reported and replaced by the default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from runner.errors import DataError
from runner.inputs.files import Skip, file_name_matches, read_json, sample_file

METADATA_DIR = "metadata"


class ValueDataType(StrEnum):
    """Lightly's ``valueDataType``."""

    NUMERIC_INT = "NUMERIC_INT"
    NUMERIC_FLOAT = "NUMERIC_FLOAT"
    CATEGORICAL_INT = "CATEGORICAL_INT"
    CATEGORICAL_STRING = "CATEGORICAL_STRING"
    CATEGORICAL_BOOLEAN = "CATEGORICAL_BOOLEAN"


NUMERIC_TYPES = (ValueDataType.NUMERIC_INT, ValueDataType.NUMERIC_FLOAT)


@dataclass(frozen=True)
class MetadataField:
    """One schema entry; ``default`` is already converted like a value (float or str)."""

    name: str
    path: str
    value_type: ValueDataType
    default: float | str

    @property
    def is_numeric(self) -> bool:
        return self.value_type in NUMERIC_TYPES


@dataclass(frozen=True)
class Document:
    """The ``metadata`` object of one usable file.

    Attributes:
        file: The file, relative to the Lightly datasource (for reasons in reports).
        metadata: Its ``metadata`` object.
    """

    file: str
    metadata: Mapping[str, Any]


@dataclass(frozen=True)
class MetadataFiles:
    """The per-sample metadata objects of the requested samples.

    Attributes:
        documents: Key -> its usable documents, most specific first: the sample's own file,
            then (for a video frame) its video's file.
        missing: Keys without any usable document.
        skipped: Files rejected, with reasons.
        files_read: Files opened.
    """

    documents: Mapping[str, tuple[Document, ...]]
    missing: tuple[str, ...]
    skipped: tuple[Skip, ...]
    files_read: int


@dataclass(frozen=True)
class FieldValues:
    """One field's value for every requested sample.

    Attributes:
        values: Floats (numeric types) or labels (categorical types), in key order.
        defaults_applied: Samples that got the ``defaultValue`` (no file, path missing or a
            value of the wrong type).
        wrong_type: Values of the wrong type, as ``(file, reason)``.
    """

    values: list[float] | list[str]
    defaults_applied: int
    wrong_type: tuple[Skip, ...]


def metadata_dir(dot_lightly: Path) -> Path:
    """``<lightly datasource>/.lightly/metadata``."""
    return dot_lightly / METADATA_DIR


def read_metadata_schema(dot_lightly: Path) -> tuple[MetadataField, ...]:
    """The custom metadata fields; none when there is no ``schema.json``.

    Raises:
        DataError: The schema is unreadable or an entry is malformed.
    """
    path = metadata_dir(dot_lightly) / "schema.json"
    read = read_json(path)
    if read.missing:
        return ()
    if read.error is not None:
        raise DataError(f"{path}: {read.error}")
    if not isinstance(read.value, list):
        raise DataError(f"{path}: expected a JSON list of {{name, path, defaultValue, ...}}")
    fields = tuple(_field(entry, path=path) for entry in read.value)
    paths = [f.path for f in fields]
    if len(set(paths)) != len(paths):
        raise DataError(f"{path}: a metadata path appears twice")
    return fields


def _field(entry: object, *, path: Path) -> MetadataField:
    if not isinstance(entry, dict):
        raise DataError(f"{path}: entry {entry!r} is not an object")
    field_path, name, value_type = entry.get("path"), entry.get("name"), entry.get("valueDataType")
    if not isinstance(field_path, str) or not field_path:
        raise DataError(f"{path}: entry {entry!r} has no 'path'")
    if value_type not in [t.value for t in ValueDataType]:
        known = ", ".join(t.value for t in ValueDataType)
        raise DataError(f"{path}: '{field_path}' has valueDataType {value_type!r}, not {known}")
    if "defaultValue" not in entry:
        raise DataError(f"{path}: '{field_path}' has no defaultValue")
    default = convert(entry["defaultValue"], ValueDataType(value_type))
    if default is None:
        raise DataError(
            f"{path}: defaultValue {entry['defaultValue']!r} of '{field_path}' is not {value_type}"
        )
    return MetadataField(
        name=name if isinstance(name, str) else field_path,
        path=field_path,
        value_type=ValueDataType(value_type),
        default=default,
    )


def convert(value: object, value_type: ValueDataType) -> float | str | None:
    """A JSON value as float (numeric types) or label (categorical types); None if wrong type.

    Integral floats (``3.0``) count as integers; booleans are only ``CATEGORICAL_BOOLEAN``
    (labels ``"true"`` and ``"false"``).
    """
    if value_type is ValueDataType.CATEGORICAL_BOOLEAN:
        return ("true" if value else "false") if isinstance(value, bool) else None
    if value_type is ValueDataType.CATEGORICAL_STRING:
        return value if isinstance(value, str) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int beyond float range
        return None
    if not math.isfinite(number):
        return None
    if value_type is ValueDataType.NUMERIC_FLOAT:
        return number
    if not number.is_integer():
        return None
    return number if value_type is ValueDataType.NUMERIC_INT else str(int(value))


def field_values(field: MetadataField, files: MetadataFiles, keys: Sequence[str]) -> FieldValues:
    """The value of one field for every sample: the first document that has its path, else
    the default (a wrong-typed value is reported and also gives the default).

    Args:
        field: The schema entry.
        files: The loaded documents.
        keys: Sample keys, in the order wanted.

    Returns:
        Values, how many defaults were applied, and the wrong-typed values.
    """
    values: list[Any] = []
    wrong: list[Skip] = []
    defaults = 0
    for key in keys:
        value: float | str | None = None
        for document in files.documents.get(key, ()):
            found, raw = lookup(document.metadata, field.path)
            if not found:
                continue
            value = convert(raw, field.value_type)
            if value is None:
                reason = f"{field.path}: {raw!r} is not {field.value_type.value}; default used"
                wrong.append(Skip(file=document.file, reason=reason))
            break
        if value is None:
            defaults += 1
        values.append(field.default if value is None else value)
    return FieldValues(values=values, defaults_applied=defaults, wrong_type=tuple(wrong))


def lookup(document: Mapping[str, Any], path: str) -> tuple[bool, object]:
    """Follow a dot path (``weather.temperature``) into a metadata object.

    Returns:
        ``(found, value)``; ``found`` is False when a step is missing or not an object.
    """
    node: object = document
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def load_metadata_files(
    dot_lightly: Path, *, keys: Sequence[str], video_of: Mapping[str, str]
) -> MetadataFiles:
    """Read the metadata files of the requested samples (and of their videos, for frames).

    Args:
        dot_lightly: ``<lightly datasource>/.lightly``.
        keys: Sample keys; no other file is opened.
        video_of: Frame key -> key of its video (``sub/clip.mp4``); images are absent.

    Returns:
        The usable ``metadata`` objects and what was missing or skipped.
    """
    reader = _Reader(dot_lightly)
    documents: dict[str, tuple[Document, ...]] = {}
    missing: list[str] = []
    for key in keys:
        video = video_of.get(key)
        candidates = (reader.read(key), reader.read(video) if video is not None else None)
        found = tuple(d for d in candidates if d is not None)
        if found:
            documents[key] = found
        else:
            missing.append(key)
    return MetadataFiles(
        documents=documents,
        missing=tuple(missing),
        skipped=tuple(reader.skipped.values()),
        files_read=reader.files_read,
    )


class _Reader:
    """Reads each metadata file at most once (a video's file serves all its frames)."""

    def __init__(self, dot_lightly: Path) -> None:
        self.dot_lightly = dot_lightly
        self.cache: dict[str, Document | None] = {}
        self.skipped: dict[str, Skip] = {}
        self.files_read = 0

    def read(self, key: str) -> Document | None:
        """The usable document of a key's file, or None (missing or skipped)."""
        if key not in self.cache:
            self.cache[key] = self._read(key)
        return self.cache[key]

    def _read(self, key: str) -> Document | None:
        path = metadata_dir(self.dot_lightly) / sample_file(key)
        shown = path.relative_to(self.dot_lightly.parent).as_posix()
        read = read_json(path)
        if read.missing:
            return None
        self.files_read += 1
        value = read.value
        if read.error is not None:
            reason = read.error
        elif not isinstance(value, dict) or not isinstance(value.get("metadata"), dict):
            reason = "expected an object with a 'metadata' object"
        elif not file_name_matches(value.get("file_name"), key):
            reason = f"file_name {value['file_name']!r} is not the sample '{key}'"
        else:
            return Document(file=shown, metadata=value["metadata"])
        self.skipped[key] = Skip(file=shown, reason=reason)
        return None
