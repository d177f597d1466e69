"""Prediction files: tasks.json, schemas, per-sample files, validation with reasons."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner.errors import ConfigError, DataError
from runner.inputs import predictions as predictions_module
from runner.inputs.files import JsonRead, read_json, sample_file
from runner.inputs.prediction_schema import TaskType, read_schema
from runner.inputs.predictions import load_task

SCHEMAS: dict[str, dict[str, Any]] = {
    "cls": {
        "task_type": "classification",
        "categories": [
            {"id": 0, "name": "cat"},
            {"id": 5, "name": "dog"},
            {"id": 9, "name": "cow"},
        ],
    },
    "det": {
        "task_type": "object-detection",
        "categories": [
            {"id": 0, "name": "person", "supercategory": "human"},
            {"id": 1, "name": "car"},
        ],
    },
    "seg": {
        "task_type": "semantic-segmentation",
        "categories": [{"id": 0, "name": "road"}, {"id": 1, "name": "sky"}],
    },
    "kp": {
        "task_type": "keypoint-detection",
        "categories": [
            {"id": 0, "name": "person", "keypoint_names": ["a", "b"], "keypoint_skeleton": [[0, 1]]}
        ],
    },
    "bin": {
        "task_type": "classification",
        "categories": [{"id": 0, "name": "ok"}, {"id": 1, "name": "defect"}],
    },
}


def write_json(path: Path, content: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content) if not isinstance(content, str) else content)
    return path


@pytest.fixture
def dot_lightly(tmp_path: Path) -> Path:
    root = tmp_path / "lightly" / ".lightly"
    write_json(root / "predictions" / "tasks.json", list(SCHEMAS))
    for task, schema in SCHEMAS.items():
        write_json(root / "predictions" / task / "schema.json", schema)
    return root


def predict(root: Path, task: str, key: str, singletons: list[Any], **extra: Any) -> Path:
    path = root / "predictions" / task / sample_file(key)
    return write_json(path, {**extra, "predictions": singletons})


def test_sample_file_replaces_the_extension() -> None:
    assert sample_file("sub/img_1.png").as_posix() == "sub/img_1.json"
    assert sample_file("sub/clip-024-mp4.png").as_posix() == "sub/clip-024-mp4.json"
    assert sample_file("a.b.jpeg").as_posix() == "a.b.json"
    assert sample_file("noext").as_posix() == "noext.json"


def test_schema_with_id_gaps_and_extras(dot_lightly: Path) -> None:
    schema = read_schema(dot_lightly, "cls")
    assert schema.task_type is TaskType.CLASSIFICATION
    assert schema.category_ids == (0, 5, 9)
    assert schema.category_names == ("cat", "dog", "cow")
    assert schema.column_of(9) == 2
    assert schema.column_of(1) is None
    assert read_schema(dot_lightly, "kp").category_names == ("person",)


def test_classification_files_load_by_key(dot_lightly: Path) -> None:
    predict(dot_lightly, "cls", "a.png", [{"category_id": 5, "probabilities": [0.2, 0.7, 0.1]}])
    predict(dot_lightly, "cls", "sub/b.jpg", [{"category_id": 9}], file_name="sub/b.jpg")
    predict(dot_lightly, "cls", "sub/c.jpg", [{"category_id": 0}], file_name="c.jpg")

    task = load_task(dot_lightly, "cls", keys=["a.png", "sub/b.jpg", "sub/c.jpg"], image_sizes={})

    assert task.files_read == 3
    assert not task.skipped and not task.missing
    (a,) = task.by_key["a.png"]
    assert a.column == 1
    assert a.probabilities == (0.2, 0.7, 0.1)
    assert task.by_key["sub/b.jpg"][0].column == 2
    assert task.by_key["sub/c.jpg"][0].probabilities is None


def test_binary_shorthand_is_expanded(dot_lightly: Path) -> None:
    predict(dot_lightly, "bin", "a.png", [{"category_id": 0, "probabilities": [0.8]}])

    task = load_task(dot_lightly, "bin", keys=["a.png"], image_sizes={})

    assert task.by_key["a.png"][0].probabilities == pytest.approx((0.8, 0.2))


def test_unknown_task_names_the_known_tasks(dot_lightly: Path) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_task(dot_lightly, "dett", keys=["a.png"], image_sizes={})
    message = str(excinfo.value)
    assert "known tasks: cls, det, seg, kp, bin" in message
    assert "did you mean 'det'" in message


def test_no_tasks_json_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no prediction tasks listed"):
        load_task(tmp_path / ".lightly", "det", keys=["a.png"], image_sizes={})


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (None, "is missing"),
        ("{", "malformed JSON"),
        ({"task_type": "detection", "categories": [{"id": 0, "name": "a"}]}, "task_type"),
        ({"task_type": "classification", "categories": [{"id": -1, "name": "a"}]}, "id -1"),
        (
            {"task_type": "classification", "categories": [{"id": 0, "name": "a"}] * 2},
            "appears twice",
        ),
        ({"task_type": "classification", "categories": [{"id": 0}]}, "has no name"),
        ({"task_type": "classification", "categories": []}, "non-empty list"),
    ],
)
def test_bad_schema_is_a_data_error(dot_lightly: Path, schema: object, message: str) -> None:
    path = dot_lightly / "predictions" / "det" / "schema.json"
    if schema is None:
        path.unlink()
    else:
        write_json(path, schema)
    with pytest.raises(DataError, match=message):
        load_task(dot_lightly, "det", keys=["a.png"], image_sizes={})


BOX = {"category_id": 0, "bbox": [10, 20, 30, 40], "score": 0.9}
GOOD: dict[str, list[Any]] = {
    "det": [BOX],
    "cls": [{"category_id": 0}],
    "seg": [{"category_id": 0, "segmentation": [40, 60]}],
    "kp": [{"category_id": 0, "keypoints": [1, 2, 0.5]}],
}


@pytest.mark.parametrize(
    ("task", "content", "reason"),
    [
        ("det", [{**BOX, "category_id": 7}], "prediction 0: unknown category_id 7"),
        ("det", [BOX, {**BOX, "category_id": "car"}], "prediction 1: category_id 'car'"),
        ("cls", [{"category_id": 0, "probabilities": [0.5, 0.4, 0.2]}], "sum to 1.1"),
        ("cls", [{"category_id": 0, "probabilities": [0.5, 0.5]}], "2 probabilities for the 3"),
        ("cls", [{"category_id": 0, "probabilities": [1.5, -0.5, 0]}], "probability 1.5"),
        ("det", [{**BOX, "score": 1.2}], "score 1.2 is not a number in [0, 1]"),
        ("det", [{**BOX, "score": True}], "score True"),
        ("det", [{"category_id": 0, "bbox": [1, 2, 3, 4]}], "needs a 'score'"),
        ("det", [{**BOX, "bbox": [1, 2, 3]}], "not 4 non-negative numbers"),
        ("det", [{**BOX, "bbox": [-1, 2, 3, 4]}], "not 4 non-negative numbers"),
        ("det", [{**BOX, "bbox": [60, 50, 95, 70]}], "looks like [x1, y1, x2, y2]"),
        ("det", [{**BOX, "bbox": [0.1, 0.2, 0.3, 0.4]}], "normalised"),
        ("cls", [{"category_id": 0}, {"category_id": 5}], "2 classification predictions"),
        ("seg", [{"category_id": 0, "segmentation": [3, -1]}], "non-negative run lengths"),
        ("seg", [{"category_id": 0, "segmentation": [10, 10]}], "covers 20 pixels"),
        ("kp", [{"category_id": 0, "keypoints": [1, 2]}], "[x, y, score] triples"),
        ("kp", [{"category_id": 0, "keypoints": [1, 2, 1.5]}], "keypoint score"),
        ("det", "{not json", "malformed JSON"),
        ("det", '{"boxes": []}', "expected an object with a 'predictions' list"),
        ("det", '[{"category_id": 0}]', "expected an object with a 'predictions' list"),
    ],
)
def test_invalid_files_are_skipped_with_a_reason(
    dot_lightly: Path, task: str, content: Any, reason: str
) -> None:
    bad = dot_lightly / "predictions" / task / "bad.json"
    if isinstance(content, str):
        write_json(bad, content)
    else:
        predict(dot_lightly, task, "bad.png", content)
    predict(dot_lightly, task, "good.png", GOOD[task])
    size = (10, 10) if task == "seg" else (100, 60)

    loaded = load_task(
        dot_lightly,
        task,
        keys=["bad.png", "good.png"],
        image_sizes=dict.fromkeys(["bad.png", "good.png"], size),
    )

    assert list(loaded.by_key) == ["good.png"]
    assert len(loaded.skipped) == 1
    assert loaded.skipped[0].file == f".lightly/predictions/{task}/bad.json"
    assert reason in loaded.skipped[0].reason
    assert loaded.files_read == 2


def test_boxes_may_fit_in_either_orientation_and_overhang_slightly(dot_lightly: Path) -> None:
    rotated = {**BOX, "bbox": [0, 0, 60, 100]}  # fits 100x60 only when rotated by 90 degrees
    overhang = {**BOX, "bbox": [50, 30, 51, 30.5]}  # within 1 % + 1 px
    predict(dot_lightly, "det", "a.png", [rotated, overhang])

    loaded = load_task(dot_lightly, "det", keys=["a.png"], image_sizes={"a.png": (100, 60)})

    assert not loaded.skipped
    assert [p.bbox for p in loaded.by_key["a.png"]] == [(0, 0, 60, 100), (50, 30, 51, 30.5)]


def test_lightlys_example_xyxy_boxes_are_rejected(dot_lightly: Path) -> None:
    box = {"category_id": 1, "bbox": [1575.36, 497.57, 1611.57, 547.35], "score": 0.8}
    predict(dot_lightly, "det", "frame.png", [box])
    predict(dot_lightly, "det", "x.png", [])

    loaded = load_task(
        dot_lightly, "det", keys=["frame.png", "x.png"], image_sizes={"frame.png": (1920, 1080)}
    )

    assert "reaches x=3186.93, y=1044.92, outside the 1920x1080 image" in loaded.skipped[0].reason


def test_xyxy_looking_boxes_of_unknown_size_only_warn(dot_lightly: Path) -> None:
    boxes = [{**BOX, "bbox": [10, 20, 30, 40]}, {**BOX, "bbox": [100, 50, 140, 90]}]
    predict(dot_lightly, "det", "a.png", boxes)
    predict(dot_lightly, "det", "b.png", [{**BOX, "bbox": [100, 50, 20, 10]}, BOX])

    loaded = load_task(dot_lightly, "det", keys=["a.png", "b.png"], image_sizes={})

    assert list(loaded.by_key) == ["a.png", "b.png"]
    assert len(loaded.warnings) == 1
    assert "1 files of samples of unknown size" in loaded.warnings[0]


def test_file_name_of_another_sample_is_skipped(dot_lightly: Path) -> None:
    predict(dot_lightly, "cls", "img.png", [{"category_id": 0}], file_name="img.png")

    loaded = load_task(dot_lightly, "cls", keys=["img.jpg", "img.png"], image_sizes={})

    assert list(loaded.by_key) == ["img.png"]
    assert loaded.skipped[0].reason == "file_name 'img.png' is not the sample 'img.jpg'"


def test_missing_files_are_listed_not_skipped(dot_lightly: Path) -> None:
    predict(dot_lightly, "det", "a.png", [])

    loaded = load_task(dot_lightly, "det", keys=["a.png", "sub/b.png"], image_sizes={})

    assert loaded.by_key == {"a.png": ()}
    assert loaded.missing == (".lightly/predictions/det/sub/b.json",)
    assert loaded.skipped == ()
    assert loaded.files_read == 1


def test_a_task_without_any_usable_file_is_a_data_error(dot_lightly: Path) -> None:
    predict(dot_lightly, "det", "a.png", [{**BOX, "category_id": 3}])

    with pytest.raises(DataError) as excinfo:
        load_task(dot_lightly, "det", keys=["a.png", "b.png", "c.png"], image_sizes={})

    message = str(excinfo.value)
    assert "\n" not in message
    assert "none of the 3 prediction files is usable (2 missing, 1 invalid" in message
    assert "det/a.json: prediction 0: unknown category_id 3" in message


def test_only_the_requested_keys_files_are_opened(
    dot_lightly: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    predict(dot_lightly, "det", "wanted.png", [BOX])
    write_json(dot_lightly / "predictions" / "det" / "other.json", "\x00garbage{")
    (dot_lightly / "predictions" / "det" / "dir.json").mkdir()
    opened: list[str] = []

    def spy(path: Path) -> JsonRead:
        opened.append(path.name)
        return read_json(path)

    monkeypatch.setattr(predictions_module, "read_json", spy)
    loaded = load_task(dot_lightly, "det", keys=["wanted.png"], image_sizes={})

    assert opened == ["wanted.json"]
    assert loaded.skipped == () and loaded.missing == ()
