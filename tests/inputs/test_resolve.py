"""build_resolver: inputs resolved lazily, aligned with the keys, cached, and reported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from runner.config import InputType, SelectionInput
from runner.datasource.discover import discover
from runner.decode.inspect import FileInfo, inspect_files
from runner.errors import ConfigError
from runner.inputs import predictions as predictions_module
from runner.inputs.files import JsonRead, read_json
from runner.inputs.resolve import build_resolver
from runner.inputs.values import ValueKind

KEYS = ["sub/c.png", "a.png", "b.png"]  # not sorted: values must follow this order


def write_json(path: Path, content: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))


CAR = {"category_id": 0, "bbox": [10, 10, 20, 20], "score": 0.8}
PERSON = {"category_id": 1, "bbox": [50, 20, 10, 30], "score": 0.6}
FILES: dict[str, Any] = {
    "predictions/tasks.json": ["cls", "det"],
    "predictions/cls/schema.json": {
        "task_type": "classification",
        "categories": [{"id": 0, "name": "day"}, {"id": 1, "name": "night"}],
    },
    "predictions/det/schema.json": {
        "task_type": "object-detection",
        "categories": [{"id": 0, "name": "car"}, {"id": 1, "name": "person"}],
    },
    "predictions/cls/a.json": {"predictions": [{"category_id": 0, "probabilities": [0.9, 0.1]}]},
    "predictions/cls/b.json": {"predictions": [{"category_id": 1, "probabilities": [0.5, 0.5]}]},
    "predictions/det/a.json": {"predictions": [CAR, CAR, PERSON]},
    "predictions/det/sub/c.json": {"predictions": [{**CAR, "bbox": [60, 30, 90, 55]}]},  # xyxy
    "predictions/det/b.json": {"predictions": []},
    "metadata/schema.json": [
        {
            "name": "T",
            "path": "weather.temperature",
            "defaultValue": 0,
            "valueDataType": "NUMERIC_FLOAT",
        },
        {
            "name": "W",
            "path": "weather.description",
            "defaultValue": "none",
            "valueDataType": "CATEGORICAL_STRING",
        },
    ],
    "metadata/a.json": {"metadata": {"weather": {"temperature": 12, "description": "sunny"}}},
    "metadata/sub/c.json": {"metadata": {"weather": {"description": "rain"}}},
}


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, dict[str, FileInfo]]:
    """Three 100x60 images with classification, detection and metadata files."""
    input_dir = tmp_path / "input"
    for index, key in enumerate(KEYS):
        (input_dir / key).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (100, 60), (index * 100, 0, 0)).save(input_dir / key)
    infos = inspect_files(discover(input_dir).samples, cache_file=None, num_threads=1).infos
    dot = tmp_path / "lightly" / ".lightly"
    for rel, content in FILES.items():
        write_json(dot / rel, content)
    return dot, infos


def inp(input_type: InputType, **fields: Any) -> SelectionInput:
    return SelectionInput(type=input_type, **fields)


def test_scores_follow_the_key_order(setup: tuple[Path, dict[str, FileInfo]]) -> None:
    dot, infos = setup
    resolve, report = build_resolver(keys=KEYS, dot_lightly=dot, infos=infos)

    values = resolve(inp(InputType.SCORES, task="cls", score="uncertainty_margin"))

    assert values.kind is ValueKind.NUMERIC
    assert values.source == "SCORES cls/uncertainty_margin"
    np.testing.assert_allclose(values.values, [0.0, 1 - 0.8, 1.0])  # c has no file: 0
    assert values.values.dtype == np.float64
    assert (
        "1 of 3 samples have no usable prediction file (1 missing, 0 invalid): score 0"
        in (values.notes[0])
    )
    (record,) = report.inputs
    assert record.missing == (".lightly/predictions/cls/sub/c.json",)
    assert record.files_read == 2 and record.defaults_applied == 1


def test_xyxy_box_is_caught_with_the_image_size_from_the_inspection(
    setup: tuple[Path, dict[str, FileInfo]],
) -> None:
    dot, infos = setup
    resolve, report = build_resolver(keys=KEYS, dot_lightly=dot, infos=infos)

    values = resolve(inp(InputType.SCORES, task="det", score="objectness_least_confidence"))

    np.testing.assert_allclose(values.values, [0.0, 1 - (0.8 + 0.8 + 0.6) / 3, 0.0])
    (skip,) = report.inputs[0].skipped
    assert skip.file == ".lightly/predictions/det/sub/c.json"
    assert "outside the 100x60 image" in skip.reason


def test_class_distribution_and_category_count(setup: tuple[Path, dict[str, FileInfo]]) -> None:
    dot, infos = setup
    resolve, report = build_resolver(keys=KEYS, dot_lightly=dot, infos=infos)

    distribution = resolve(inp(InputType.PREDICTIONS, task="det", name="CLASS_DISTRIBUTION"))
    people = resolve(
        inp(InputType.PREDICTIONS, task="det", name="CATEGORY_COUNT", categories=["person"])
    )
    everything = resolve(inp(InputType.PREDICTIONS, task="det", name="CATEGORY_COUNT"))
    classes = resolve(inp(InputType.PREDICTIONS, task="cls", name="CLASS_DISTRIBUTION"))

    assert distribution.kind is ValueKind.DISTRIBUTION
    assert distribution.categories == ("car", "person")
    np.testing.assert_allclose(distribution.values, [[0, 0], [2, 1], [0, 0]])
    assert people.source == "PREDICTIONS det/CATEGORY_COUNT[person]"
    np.testing.assert_allclose(people.values, [0, 1, 0])
    np.testing.assert_allclose(everything.values, [0, 3, 0])
    np.testing.assert_allclose(classes.values, [[0, 0], [1, 0], [0, 1]])  # predicted classes
    summary = report.to_dict(selected=["a.png"])
    assert summary["class_distribution"]["det"] == {
        "before": {"car": 2, "person": 1},
        "after": {"car": 2, "person": 1},
    }
    assert summary["class_distribution"]["cls"] == {
        "before": {"day": 1, "night": 1},
        "after": {"day": 1, "night": 0},
    }
    assert [entry["source"] for entry in summary["inputs"]] == [
        "PREDICTIONS det/CLASS_DISTRIBUTION",
        "PREDICTIONS det/CATEGORY_COUNT[person]",
        "PREDICTIONS det/CATEGORY_COUNT",
        "PREDICTIONS cls/CLASS_DISTRIBUTION",
    ]
    json.dumps(summary)  # JSON-ready


def test_metadata_numeric_categorical_and_computed(
    setup: tuple[Path, dict[str, FileInfo]],
) -> None:
    dot, infos = setup
    resolve, report = build_resolver(keys=KEYS, dot_lightly=dot, infos=infos)

    temperature = resolve(inp(InputType.METADATA, key="weather.temperature"))
    weather = resolve(inp(InputType.METADATA, key="weather.description"))
    red = resolve(inp(InputType.METADATA, key="lightly.meanRed"))

    assert temperature.kind is ValueKind.NUMERIC
    np.testing.assert_allclose(temperature.values, [0.0, 12.0, 0.0])
    assert (
        "defaultValue 0.0 used for 2 of 3 samples (1 without a metadata file"
        in (temperature.notes[0])
    )
    assert weather.kind is ValueKind.CATEGORICAL
    assert weather.values.tolist() == ["rain", "sunny", "none"]
    assert weather.categories == ("none", "rain", "sunny")
    np.testing.assert_allclose(red.values, [0.0, 100.0, 200.0])
    assert report.inputs[0].missing == (".lightly/metadata/b.json",)
    assert report.inputs[0].defaults_applied == 2


def test_each_input_is_resolved_once(
    setup: tuple[Path, dict[str, FileInfo]], monkeypatch: pytest.MonkeyPatch
) -> None:
    dot, infos = setup
    opened: list[Path] = []

    def spy(path: Path) -> JsonRead:
        opened.append(path)
        return read_json(path)

    monkeypatch.setattr(predictions_module, "read_json", spy)
    resolve, report = build_resolver(keys=KEYS, dot_lightly=dot, infos=infos)

    first = resolve(inp(InputType.SCORES, task="cls", score="uncertainty_entropy"))
    second = resolve(inp(InputType.SCORES, task="cls", score="uncertainty_entropy"))
    resolve(inp(InputType.SCORES, task="cls", score="uncertainty_margin"))

    assert first is second
    assert len(opened) == 3  # the task's files are read once for both scores
    assert len(report.inputs) == 2


@pytest.mark.parametrize(
    ("selection_input", "message"),
    [
        (inp(InputType.SCORES, score="uncertainty_margin"), "needs a 'task'"),
        (inp(InputType.SCORES, task="clss", score="x"), "did you mean 'cls'"),
        (inp(InputType.SCORES, task="cls", score="object_frequency"), "valid scores"),
        (inp(InputType.PREDICTIONS, task="det", name="COUNT"), "CLASS_DISTRIBUTION, CATEGORY"),
        (
            inp(InputType.PREDICTIONS, task="det", name="CATEGORY_COUNT", categories=["bus"]),
            "not in task 'det'",
        ),
        (inp(InputType.METADATA), "needs a 'key'"),
        (inp(InputType.METADATA, key="weather.temp"), "did you mean 'weather.temperature'"),
        (inp(InputType.METADATA, key="lightly.sharp"), "did you mean 'lightly.sharpness'"),
    ],
)
def test_config_mistakes_fail_before_any_sample_file_is_read(
    setup: tuple[Path, dict[str, FileInfo]],
    monkeypatch: pytest.MonkeyPatch,
    selection_input: SelectionInput,
    message: str,
) -> None:
    dot, infos = setup
    opened: list[Path] = []
    monkeypatch.setattr(
        predictions_module, "read_json", lambda path: opened.append(path) or read_json(path)
    )
    resolve, _ = build_resolver(keys=KEYS, dot_lightly=dot, infos=infos)

    with pytest.raises(ConfigError, match=message):
        resolve(selection_input)

    assert opened == []


@pytest.mark.parametrize("input_type", [InputType.RANDOM, InputType.EMBEDDINGS])
def test_engine_inputs_are_refused(
    setup: tuple[Path, dict[str, FileInfo]], input_type: InputType
) -> None:
    dot, infos = setup
    resolve, _ = build_resolver(keys=KEYS, dot_lightly=dot, infos=infos)

    with pytest.raises(ValueError, match="handled by the selection engine"):
        resolve(inp(input_type, random_seed=1))


def test_no_keys_give_empty_values(setup: tuple[Path, dict[str, FileInfo]]) -> None:
    dot, infos = setup
    resolve, _ = build_resolver(keys=[], dot_lightly=dot, infos=infos)

    values = resolve(inp(InputType.PREDICTIONS, task="det", name="CLASS_DISTRIBUTION"))

    assert values.values.shape == (0, 2)
