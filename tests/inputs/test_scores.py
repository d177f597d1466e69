"""Active-learning scores, CLASS_DISTRIBUTION and CATEGORY_COUNT against hand-computed values."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from runner.errors import ConfigError
from runner.inputs.class_vectors import (
    category_count,
    class_counts,
    class_distribution,
    soft_vector,
)
from runner.inputs.prediction_checks import Prediction
from runner.inputs.prediction_schema import TaskSchema, TaskType
from runner.inputs.predictions import TaskPredictions, parse_file
from runner.inputs.scores import (
    SCORE_NAMES,
    UNCERTAINTY_SCORES,
    check_score_name,
    score_values,
    uncertainty,
)


def schema(task_type: TaskType, *names: str) -> TaskSchema:
    return TaskSchema(
        name=task_type.value,
        task_type=task_type,
        category_ids=tuple(range(len(names))),
        category_names=names,
    )


def task_of(task_schema: TaskSchema, files: dict[str, list[Any] | None]) -> TaskPredictions:
    """Predictions as if read from files; None = no file for that key."""
    by_key = {
        key: parse_file({"predictions": singletons}, key=key, schema=task_schema, image_size=None)
        for key, singletons in files.items()
        if singletons is not None
    }
    return TaskPredictions(
        schema=task_schema,
        keys=tuple(files),
        by_key=by_key,
        missing=(),
        skipped=(),
        warnings=(),
        files_read=len(by_key),
    )


def entropy(probs: list[float]) -> float:
    return -sum(p * math.log2(p) for p in probs if p > 0) / math.log2(len(probs))


@pytest.mark.parametrize("score", UNCERTAINTY_SCORES)
def test_one_hot_scores_0_and_uniform_scores_1(score: str) -> None:
    probs = np.array([[0.0, 1.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]])

    values = uncertainty(probs, score)

    assert values[0] == pytest.approx(0.0)
    assert values[1] == pytest.approx(1.0)
    expected_half = {
        "uncertainty_least_confidence": 0.5 * 3 / 2,  # clipped to 1
        "uncertainty_margin": 1.0,
        "uncertainty_entropy": 1 / math.log2(3),
    }[score]
    assert values[2] == pytest.approx(min(expected_half, 1.0))


def test_hand_computed_uncertainties() -> None:
    probs = np.array([[0.7, 0.2, 0.1]])

    assert uncertainty(probs, "uncertainty_least_confidence")[0] == pytest.approx(0.3 * 3 / 2)
    assert uncertainty(probs, "uncertainty_margin")[0] == pytest.approx(1 - (0.7 - 0.2))
    assert uncertainty(probs, "uncertainty_entropy")[0] == pytest.approx(entropy([0.7, 0.2, 0.1]))


@pytest.mark.parametrize("score", UNCERTAINTY_SCORES)
def test_single_column_is_expanded_to_binary(score: str) -> None:
    single = uncertainty(np.array([[0.8], [0.5]]), score)
    binary = uncertainty(np.array([[0.8, 0.2], [0.5, 0.5]]), score)

    np.testing.assert_allclose(single, binary)
    assert binary[1] == pytest.approx(1.0)


def test_classification_scores_per_sample() -> None:
    cls = schema(TaskType.CLASSIFICATION, "a", "b", "c")
    task = task_of(
        cls,
        {
            "soft.png": [{"category_id": 0, "probabilities": [0.7, 0.2, 0.1]}],
            "hard.png": [{"category_id": 1}],  # one-hot: no uncertainty
            "scored.png": [{"category_id": 2, "score": 0.6}],  # [0.2, 0.2, 0.6]
            "empty.png": [],
            "missing.png": None,
        },
    )

    values = score_values(task, "uncertainty_least_confidence")

    np.testing.assert_allclose(values, [0.45, 0.0, 0.4 * 3 / 2, 0.0, 0.0])
    margin = score_values(task, "uncertainty_margin")
    np.testing.assert_allclose(margin, [0.5, 0.0, 1 - 0.4, 0.0, 0.0])


def lightly_detection_example() -> TaskPredictions:
    """The fixture of lightly's own ScorerObjectDetection test, as Lightly prediction files.

    Lightly's ``ObjectDetectionOutput.scores`` (a file's ``score``) are objectness x max class
    probability: 0.57573 * 0.7, 0.988 * 0.5 and 0.1024 * 0.5.
    """
    det = schema(TaskType.OBJECT_DETECTION, "a", "b", "c")
    box = [14, 16, 52, 85]
    first = [
        {"category_id": 0, "bbox": box, "score": 0.403011, "probabilities": [0.7, 0.2, 0.1]},
        {"category_id": 1, "bbox": box, "score": 0.494, "probabilities": [0.4, 0.5, 0.1]},
    ]
    second = [{"category_id": 0, "bbox": box, "score": 0.0512, "probabilities": [0.5, 0.41, 0.09]}]
    return task_of(det, {"0.png": first, "1.png": second, "2.png": []})


def test_detection_scores_match_lightlys_scorer() -> None:
    task = lightly_detection_example()

    np.testing.assert_allclose(score_values(task, "object_frequency"), [1.0, 0.95, 0.9])
    np.testing.assert_allclose(
        score_values(task, "objectness_least_confidence"), [0.5514945, 0.9488, 0.0]
    )
    np.testing.assert_allclose(
        score_values(task, "uncertainty_least_confidence"),
        [max(1 - 0.7, 1 - 0.5) / (1 - 1 / 3), (1 - 0.5) / (1 - 1 / 3), 0.0],
    )
    np.testing.assert_allclose(
        score_values(task, "uncertainty_margin"),
        [max(1 - (0.7 - 0.2), 1 - (0.5 - 0.4)), 1 - (0.5 - 0.41), 0.0],
    )
    np.testing.assert_allclose(
        score_values(task, "uncertainty_entropy"),
        [max(entropy([0.7, 0.2, 0.1]), entropy([0.4, 0.5, 0.1])), entropy([0.5, 0.41, 0.09]), 0],
    )


def test_object_frequency_penalises_repeated_categories() -> None:
    det = schema(TaskType.OBJECT_DETECTION, "car", "person")
    car = {"category_id": 0, "bbox": [0, 0, 1, 1], "score": 0.5}
    person = {**car, "category_id": 1}
    task = task_of(
        det,
        {
            "busy.png": [car, car, car, person],  # 1 + 0.25 + 0.25 + 1 = 2.5
            "one.png": [car],  # 1
            "none.png": None,  # 0
        },
    )

    values = score_values(task, "object_frequency")

    np.testing.assert_allclose(values, [1.0, 0.9 + 0.1 * 1 / 2.5, 0.9])


def test_object_frequency_of_equal_samples_is_1() -> None:
    det = schema(TaskType.OBJECT_DETECTION, "car")
    task = task_of(det, {"a.png": [], "b.png": None})

    np.testing.assert_allclose(score_values(task, "object_frequency"), [1.0, 1.0])


def test_boxes_without_probabilities_use_their_score() -> None:
    det = schema(TaskType.OBJECT_DETECTION, "a", "b", "c")
    prediction = Prediction(column=2, score=0.6)

    assert soft_vector(prediction, 3) == pytest.approx((0.2, 0.2, 0.6))
    assert soft_vector(Prediction(column=0, score=0.6), 1) == (0.6,)
    assert soft_vector(Prediction(column=1), 3) == (0.0, 1.0, 0.0)
    task = task_of(det, {"a.png": [{"category_id": 2, "bbox": [0, 0, 1, 1], "score": 0.6}]})
    assert score_values(task, "uncertainty_least_confidence")[0] == pytest.approx(0.6)


def test_segmentation_averages_over_pixels() -> None:
    seg = schema(TaskType.SEMANTIC_SEGMENTATION, "road", "sky")
    road = {"category_id": 0, "segmentation": [0, 3, 1], "probabilities": [1.0, 0.0]}  # 3 px
    sky = {"category_id": 1, "segmentation": [3, 1], "probabilities": [0.5, 0.5]}  # 1 px
    no_area = {"category_id": 1, "segmentation": [4], "probabilities": [0.5, 0.5]}
    task = task_of(
        seg, {"a.png": [road, sky], "b.png": [no_area, {**no_area, "category_id": 0}], "c": []}
    )

    values = score_values(task, "uncertainty_margin")

    np.testing.assert_allclose(values, [(3 * 0.0 + 1 * 1.0) / 4, 1.0, 0.0])


def test_keypoints_mean_uncertainty_matches_lightlys_scorer() -> None:
    kp = schema(TaskType.KEYPOINT_DETECTION, "person")
    task = task_of(
        kp,
        {
            "a.png": [
                {"category_id": 0, "keypoints": [123.0, 456.0, 0.1, 565.0, 32.0, 0.2]},
                {"category_id": 0, "keypoints": [342.0, 432.0, 0.3, 43.0, 2.0, 0.4]},
            ],
            "b.png": [{"category_id": 0, "keypoints": [23.0, 43.0, 0.5, 43.0, 2.0, 0.6]}],
            "c.png": [],
        },
    )

    np.testing.assert_allclose(score_values(task, "mean_uncertainty"), [0.75, 0.45, 0.0])


def test_unknown_score_name_lists_the_valid_ones() -> None:
    det = schema(TaskType.OBJECT_DETECTION, "car")

    with pytest.raises(ConfigError) as excinfo:
        check_score_name(det, "uncertainty_margins")

    message = str(excinfo.value)
    assert "valid scores: " + ", ".join(SCORE_NAMES[TaskType.OBJECT_DETECTION]) in message
    assert "did you mean 'uncertainty_margin'" in message
    with pytest.raises(ConfigError, match="mean_uncertainty"):
        check_score_name(schema(TaskType.KEYPOINT_DETECTION, "p"), "object_frequency")
    assert check_score_name(det, "object_frequency") == "object_frequency"


def test_class_distribution_and_category_count() -> None:
    det = schema(TaskType.OBJECT_DETECTION, "car", "person", "bike")
    car = {"category_id": 0, "bbox": [0, 0, 1, 1], "score": 0.9}
    soft_person = {**car, "category_id": 1, "probabilities": [0.2, 0.7, 0.1]}
    task = task_of(det, {"a.png": [car, car, soft_person], "b.png": [], "c.png": None})

    np.testing.assert_allclose(class_distribution(task), [[2, 1, 0], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(category_count(task, None), [3, 0, 0])
    np.testing.assert_allclose(category_count(task, ["person", "bike"]), [1, 0, 0])
    np.testing.assert_array_equal(class_counts(task), [[2, 1, 0], [0, 0, 0], [0, 0, 0]])
    with pytest.raises(ConfigError, match=r"\['truck'\] are not in task .* car, person, bike"):
        category_count(task, ["truck"])


def test_classification_distribution_is_the_predicted_class_not_the_probabilities() -> None:
    # An unsure classifier's flat vector must not count as a balanced sample (decisions.md).
    cls = schema(TaskType.CLASSIFICATION, "a", "b", "c")
    task = task_of(
        cls,
        {
            "sure.png": [{"category_id": 0, "probabilities": [0.9, 0.05, 0.05]}],
            "unsure.png": [{"category_id": 2, "probabilities": [0.33, 0.33, 0.34]}],
            "hard.png": [{"category_id": 1}],
        },
    )

    np.testing.assert_allclose(class_distribution(task), [[1, 0, 0], [0, 0, 1], [0, 1, 0]])


def test_segmentation_distribution_is_the_pixel_share() -> None:
    seg = schema(TaskType.SEMANTIC_SEGMENTATION, "road", "sky")
    task = task_of(
        seg,
        {
            "a.png": [
                {"category_id": 0, "segmentation": [0, 3, 1]},
                {"category_id": 1, "segmentation": [3, 1]},
            ]
        },
    )

    np.testing.assert_allclose(class_distribution(task), [[0.75, 0.25]])
