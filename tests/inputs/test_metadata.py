"""Custom metadata: schema, per-sample files, dot paths, defaults, types and reasons."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner.errors import DataError
from runner.inputs import metadata as metadata_module
from runner.inputs.files import JsonRead, read_json
from runner.inputs.metadata import (
    MetadataField,
    ValueDataType,
    convert,
    field_values,
    load_metadata_files,
    lookup,
    read_metadata_schema,
)

SCHEMA = [
    {"name": "Temp", "path": "weather.temperature", "defaultValue": 20.5,
     "valueDataType": "NUMERIC_FLOAT"},
    {"name": "Cars", "path": "counts.cars", "defaultValue": 0, "valueDataType": "NUMERIC_INT"},
    {"name": "Weather", "path": "weather.description", "defaultValue": "unknown",
     "valueDataType": "CATEGORICAL_STRING"},
    {"name": "Night", "path": "night", "defaultValue": False,
     "valueDataType": "CATEGORICAL_BOOLEAN"},
    {"name": "Camera", "path": "camera", "defaultValue": 0, "valueDataType": "CATEGORICAL_INT"},
]  # fmt: skip


def write_json(path: Path, content: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))


def write_metadata(root: Path, rel: str, metadata: dict[str, Any], **extra: Any) -> None:
    write_json(root / "metadata" / rel, {**extra, "metadata": metadata})


@pytest.fixture
def dot_lightly(tmp_path: Path) -> Path:
    root = tmp_path / ".lightly"
    write_json(root / "metadata" / "schema.json", SCHEMA)
    return root


def fields_by_path(dot_lightly: Path) -> dict[str, MetadataField]:
    return {f.path: f for f in read_metadata_schema(dot_lightly)}


def test_schema_is_read_with_converted_defaults(dot_lightly: Path) -> None:
    fields = fields_by_path(dot_lightly)

    assert list(fields) == [e["path"] for e in SCHEMA]
    assert fields["weather.temperature"].default == 20.5
    assert fields["counts.cars"].default == 0.0
    assert fields["night"].default == "false"
    assert fields["camera"].default == "0"
    assert fields["counts.cars"].is_numeric and not fields["camera"].is_numeric
    assert fields["weather.temperature"].name == "Temp"


def test_no_schema_means_no_custom_fields(tmp_path: Path) -> None:
    assert read_metadata_schema(tmp_path / ".lightly") == ()


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ("[", "malformed JSON"),
        ({"path": "a"}, "expected a JSON list"),
        ([{"path": "a", "defaultValue": 1, "valueDataType": "NUMBER"}], "valueDataType 'NUMBER'"),
        ([{"path": "a", "valueDataType": "NUMERIC_INT"}], "has no defaultValue"),
        ([{"path": "a", "defaultValue": "x", "valueDataType": "NUMERIC_INT"}], "is not NUMERIC"),
        ([{"defaultValue": 1, "valueDataType": "NUMERIC_INT"}], "has no 'path'"),
        ([SCHEMA[0], SCHEMA[0]], "appears twice"),
    ],
)
def test_bad_schema_is_a_data_error(tmp_path: Path, schema: object, message: str) -> None:
    write_json(tmp_path / ".lightly" / "metadata" / "schema.json", schema)

    with pytest.raises(DataError, match=message):
        read_metadata_schema(tmp_path / ".lightly")


@pytest.mark.parametrize(
    ("value", "value_type", "expected"),
    [
        (3, ValueDataType.NUMERIC_INT, 3.0),
        (3.0, ValueDataType.NUMERIC_INT, 3.0),
        (3.5, ValueDataType.NUMERIC_INT, None),
        (True, ValueDataType.NUMERIC_INT, None),
        ("3", ValueDataType.NUMERIC_INT, None),
        (2, ValueDataType.NUMERIC_FLOAT, 2.0),
        (2.25, ValueDataType.NUMERIC_FLOAT, 2.25),
        (10**400, ValueDataType.NUMERIC_FLOAT, None),
        (None, ValueDataType.NUMERIC_FLOAT, None),
        (7, ValueDataType.CATEGORICAL_INT, "7"),
        (7.0, ValueDataType.CATEGORICAL_INT, "7"),
        ("7", ValueDataType.CATEGORICAL_INT, None),
        ("sunny", ValueDataType.CATEGORICAL_STRING, "sunny"),
        (1, ValueDataType.CATEGORICAL_STRING, None),
        (True, ValueDataType.CATEGORICAL_BOOLEAN, "true"),
        (False, ValueDataType.CATEGORICAL_BOOLEAN, "false"),
        (1, ValueDataType.CATEGORICAL_BOOLEAN, None),
    ],
)
def test_convert_types(value: object, value_type: ValueDataType, expected: object) -> None:
    assert convert(value, value_type) == expected


def test_lookup_follows_dot_paths() -> None:
    document = {"weather": {"temperature": 3, "wind": None}, "flat": 1}

    assert lookup(document, "weather.temperature") == (True, 3)
    assert lookup(document, "weather.wind") == (True, None)
    assert lookup(document, "flat") == (True, 1)
    assert lookup(document, "weather.rain")[0] is False
    assert lookup(document, "flat.deeper")[0] is False


def test_values_defaults_and_wrong_types(dot_lightly: Path) -> None:
    write_metadata(
        dot_lightly,
        "a.json",
        {"weather": {"temperature": 31, "description": "sunny"}, "night": True, "camera": 2},
        file_name="a.png",
    )
    write_metadata(dot_lightly, "sub/b.json", {"weather": {"temperature": "hot"}})
    write_metadata(dot_lightly, "c.json", {"counts": {"cars": 4}})
    keys = ["a.png", "sub/b.png", "c.png", "missing.png"]
    files = load_metadata_files(dot_lightly, keys=keys, video_of={})
    fields = fields_by_path(dot_lightly)

    temperature = field_values(fields["weather.temperature"], files, keys)
    assert temperature.values == [31.0, 20.5, 20.5, 20.5]
    assert temperature.defaults_applied == 3
    assert len(temperature.wrong_type) == 1
    assert temperature.wrong_type[0].file == ".lightly/metadata/sub/b.json"
    assert "weather.temperature: 'hot' is not NUMERIC_FLOAT; default used" in (
        temperature.wrong_type[0].reason
    )
    assert field_values(fields["counts.cars"], files, keys).values == [0.0, 0.0, 4.0, 0.0]
    description = field_values(fields["weather.description"], files, keys)
    assert description.values == ["sunny", "unknown", "unknown", "unknown"]
    assert field_values(fields["night"], files, keys).values == ["true", "false", "false", "false"]
    assert field_values(fields["camera"], files, keys).values == ["2", "0", "0", "0"]
    assert files.missing == ("missing.png",)
    assert files.files_read == 3


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{oops", "malformed JSON"),
        ({"weather": {}}, "expected an object with a 'metadata' object"),
        ({"file_name": "other.png", "metadata": {"night": True}}, "file_name 'other.png'"),
    ],
)
def test_invalid_files_are_skipped_and_give_defaults(
    dot_lightly: Path, content: object, reason: str
) -> None:
    write_json(dot_lightly / "metadata" / "a.json", content)

    files = load_metadata_files(dot_lightly, keys=["a.png"], video_of={})
    night = field_values(fields_by_path(dot_lightly)["night"], files, ["a.png"])

    assert night.values == ["false"]
    assert night.defaults_applied == 1
    assert files.skipped[0].file == ".lightly/metadata/a.json"
    assert reason in files.skipped[0].reason


def test_frames_fall_back_to_their_video_file(dot_lightly: Path) -> None:
    write_metadata(dot_lightly, "sub/clip.json", {"camera": 3, "night": True}, type="video")
    write_metadata(dot_lightly, "sub/clip-1-mp4.json", {"camera": 4}, type="frame")
    keys = ["sub/clip-0-mp4.png", "sub/clip-1-mp4.png"]
    video_of = dict.fromkeys(keys, "sub/clip.mp4")

    files = load_metadata_files(dot_lightly, keys=keys, video_of=video_of)
    fields = fields_by_path(dot_lightly)

    assert field_values(fields["camera"], files, keys).values == ["3", "4"]
    assert field_values(fields["night"], files, keys).values == ["true", "true"]
    assert files.files_read == 2  # the video's file is read once
    assert files.missing == ()


def test_only_the_requested_keys_files_are_opened(
    dot_lightly: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_metadata(dot_lightly, "wanted.json", {"night": True})
    write_json(dot_lightly / "metadata" / "other.json", "\x00garbage")
    opened: list[str] = []

    def spy(path: Path) -> JsonRead:
        opened.append(path.name)
        return read_json(path)

    monkeypatch.setattr(metadata_module, "read_json", spy)
    files = load_metadata_files(dot_lightly, keys=["wanted.png"], video_of={})

    assert opened == ["wanted.json"]
    assert files.skipped == ()
