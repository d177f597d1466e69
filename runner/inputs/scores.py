"""Lightly's active-learning scores (spec §4.2 ``SCORES``), one value per sample.

Definitions follow the lightly OSS scorers the docs mirror:

* classification: ``uncertainty_least_confidence`` = (1 - max p) * C / (C - 1),
  ``uncertainty_margin`` = 1 - (p1 - p2) (top two), ``uncertainty_entropy`` = H(p) / log2(C);
  each 0 for a one-hot and 1 for a uniform vector; a single column p is expanded to [p, 1 - p].
* object detection: ``object_frequency`` (first object of a category counts 1, each further one
  ``FREQUENCY_PENALTY``; min-max scaled into [``MIN_SCORE``, 1] over the candidates, all 1 when
  they are equal), ``objectness_least_confidence`` = 1 - mean box score, and the three
  uncertainties per box, reduced by max; 0 without boxes.
* semantic segmentation: the uncertainties per pixel, averaged over the masked pixels.
* keypoint detection: ``mean_uncertainty`` = 1 - mean over instances of the mean keypoint score.

A sample without a usable prediction file scores 0 (see ``docs/inputs.md``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from runner.errors import ConfigError
from runner.inputs.class_vectors import soft_vector
from runner.inputs.prediction_checks import Prediction
from runner.inputs.prediction_schema import TaskSchema, TaskType
from runner.inputs.predictions import TaskPredictions

FloatArray = npt.NDArray[np.float64]

UNCERTAINTY_SCORES = ("uncertainty_least_confidence", "uncertainty_margin", "uncertainty_entropy")
FREQUENCY_PENALTY = 0.25
MIN_SCORE = 0.9

OBJECT_SCORES = ("object_frequency", "objectness_least_confidence", *UNCERTAINTY_SCORES)
SCORE_NAMES: dict[TaskType, tuple[str, ...]] = {
    TaskType.CLASSIFICATION: UNCERTAINTY_SCORES,
    TaskType.OBJECT_DETECTION: OBJECT_SCORES,
    TaskType.INSTANCE_SEGMENTATION: OBJECT_SCORES,  # instances are objects with a mask
    TaskType.SEMANTIC_SEGMENTATION: UNCERTAINTY_SCORES,
    TaskType.KEYPOINT_DETECTION: ("mean_uncertainty",),
}


def check_score_name(schema: TaskSchema, score: str | None) -> str:
    """The score name, if the task type has it.

    Raises:
        ConfigError: Unknown or missing name; the message lists the valid ones.
    """
    valid = SCORE_NAMES[schema.task_type]
    if score in valid:
        return score
    match = difflib.get_close_matches(score or "", valid, n=1)
    hint = f"; did you mean '{match[0]}'?" if match else ""
    raise ConfigError(
        f"SCORES input: score {score!r} is not defined for task '{schema.name}' "
        f"({schema.task_type.value}); valid scores: {', '.join(valid)}{hint}"
    )


def uncertainty(probabilities: FloatArray, score: str) -> FloatArray:
    """One of the three classification uncertainties of each row.

    Args:
        probabilities: (N, C) rows summing to 1; C == 1 means P(class) and is expanded.
        score: A name from ``UNCERTAINTY_SCORES``.

    Returns:
        (N,) values in [0, 1].
    """
    probs = np.asarray(probabilities, dtype=np.float64)
    if probs.shape[1] == 1:
        probs = np.concatenate([probs, 1.0 - probs], axis=1)
    n_classes = probs.shape[1]
    if probs.shape[0] == 0:
        return np.zeros(0)
    if score == "uncertainty_least_confidence":
        values = (1.0 - probs.max(axis=1)) * n_classes / (n_classes - 1)
    elif score == "uncertainty_margin":
        top_two = np.partition(probs, -2, axis=1)[:, -2:]  # (N, 2): second, first
        values = 1.0 - (top_two[:, 1] - top_two[:, 0])
    elif score == "uncertainty_entropy":
        logs = np.log2(probs, out=np.zeros_like(probs), where=probs > 0)
        values = -(probs * logs).sum(axis=1) / np.log2(n_classes)
    else:
        raise ValueError(f"unknown uncertainty {score!r}")
    clipped: FloatArray = np.clip(values, 0.0, 1.0)
    return clipped


def score_values(task: TaskPredictions, score: str) -> FloatArray:
    """One score per requested sample of a task, in ``task.keys`` order.

    Args:
        task: The loaded predictions.
        score: A valid name for the task type (see ``check_score_name``).

    Returns:
        (N,) float64; 0 for samples without (usable) predictions.
    """
    task_type = task.schema.task_type
    if score == "object_frequency":
        return _object_frequency(task)
    if score == "objectness_least_confidence":
        return _per_sample(task, _objectness_least_confidence)
    if score == "mean_uncertainty":
        return _per_sample(task, _mean_keypoint_uncertainty)
    if task_type is TaskType.SEMANTIC_SEGMENTATION:
        return _reduced_uncertainty(task, score, reduce="area_mean")
    return _reduced_uncertainty(task, score, reduce="max")


def _per_sample(
    task: TaskPredictions, score: Callable[[tuple[Prediction, ...]], float]
) -> FloatArray:
    values = [score(task.by_key.get(key, ())) for key in task.keys]
    return np.array(values, dtype=np.float64)


def _objectness_least_confidence(predictions: tuple[Prediction, ...]) -> float:
    scores = [p.score for p in predictions if p.score is not None]
    return 1.0 - float(np.mean(scores)) if scores else 0.0


def _mean_keypoint_uncertainty(predictions: tuple[Prediction, ...]) -> float:
    means = [float(np.mean(p.keypoint_scores)) for p in predictions if p.keypoint_scores]
    return 1.0 - float(np.mean(means)) if means else 0.0


def _object_frequency(task: TaskPredictions) -> FloatArray:
    counts = np.zeros(len(task.keys))
    for row, key in enumerate(task.keys):
        per_category: dict[int, float] = {}
        for prediction in task.by_key.get(key, ()):
            seen = prediction.column in per_category
            per_category[prediction.column] = per_category.get(prediction.column, 0.0) + (
                FREQUENCY_PENALTY if seen else 1.0
            )
        counts[row] = sum(per_category.values())
    if counts.size == 0:
        return counts
    low, high = float(counts.min()), float(counts.max())
    if high == low:  # np.interp over an empty range gives the upper end, as Lightly's scorer
        return np.ones_like(counts)
    return MIN_SCORE + (counts - low) / (high - low) * (1.0 - MIN_SCORE)


def _reduced_uncertainty(task: TaskPredictions, score: str, *, reduce: str) -> FloatArray:
    """Per-prediction uncertainty, reduced per sample by max or by area-weighted mean."""
    n_categories = len(task.schema.category_ids)
    rows: list[int] = []
    vectors: list[tuple[float, ...]] = []
    weights: list[float] = []
    for row, key in enumerate(task.keys):
        for prediction in task.by_key.get(key, ()):
            rows.append(row)
            vectors.append(soft_vector(prediction, n_categories))
            weights.append(float(prediction.area or 0))
    values = np.zeros(len(task.keys))
    if not rows:
        return values
    per_prediction = uncertainty(np.array(vectors), score)  # (M,)
    owner = np.array(rows)
    if reduce == "max":
        np.maximum.at(values, owner, per_prediction)
        return values
    return _area_mean(per_prediction, owner, np.array(weights), len(task.keys))


def _area_mean(
    per_mask: FloatArray, owner: npt.NDArray[np.int64], area: FloatArray, n_samples: int
) -> FloatArray:
    """Mean over pixels = masks weighted by area; equal weights where all masks are empty."""
    weighted = np.zeros(n_samples)
    total_area = np.zeros(n_samples)
    plain = np.zeros(n_samples)
    count = np.zeros(n_samples)
    np.add.at(weighted, owner, per_mask * area)
    np.add.at(total_area, owner, area)
    np.add.at(plain, owner, per_mask)
    np.add.at(count, owner, 1.0)
    by_area = np.divide(weighted, total_area, out=np.zeros(n_samples), where=total_area > 0)
    by_mask = np.divide(plain, count, out=np.zeros(n_samples), where=count > 0)
    return np.where(total_area > 0, by_area, by_mask)
