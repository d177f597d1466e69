"""Class vectors of predictions: ``CLASS_DISTRIBUTION``, ``CATEGORY_COUNT`` and class counts.

Two vectors per prediction, for two purposes:

* the *distribution* vector (``CLASS_DISTRIBUTION``, what BALANCE balances): the one-hot of
  the predicted ``category_id``; a sample's distribution is its predicted class
  (classification), the count of its objects per class (detection, keypoints) or the
  area-weighted share of its masks (semantic segmentation). ``probabilities`` do not enter:
  a classifier that is unsure spreads its vector flat, and a flat vector would look like a
  perfectly balanced sample to BALANCE (docs/decisions.md);
* the *soft* vector (uncertainty scores): ``probabilities`` when given, else ``score`` on the
  predicted category and ``1 - score`` spread evenly over the others (without ``score``:
  one-hot, i.e. no uncertainty).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from runner.errors import ConfigError
from runner.inputs.prediction_checks import Prediction
from runner.inputs.prediction_schema import TaskSchema, TaskType
from runner.inputs.predictions import TaskPredictions

FloatArray = npt.NDArray[np.float64]


def soft_vector(prediction: Prediction, n_categories: int) -> tuple[float, ...]:
    """The class probabilities to compute uncertainties from (see the module docstring)."""
    if prediction.probabilities is not None:
        return prediction.probabilities
    if prediction.score is None:
        return _one_hot(prediction.column, n_categories)
    if n_categories == 1:
        return (prediction.score,)  # expanded to [p, 1 - p] by the uncertainty
    rest = (1.0 - prediction.score) / (n_categories - 1)
    vector = [rest] * n_categories
    vector[prediction.column] = prediction.score
    return tuple(vector)


def class_distribution(task: TaskPredictions) -> FloatArray:
    """``CLASS_DISTRIBUTION`` of every requested sample.

    Args:
        task: The loaded predictions.

    Returns:
        (N, C) float64 in ``task.keys`` order and schema column order; a zero row for a
        sample without predictions.
    """
    if task.schema.task_type is not TaskType.SEMANTIC_SEGMENTATION:
        return class_counts(task).astype(np.float64)  # predictions per predicted class
    rows = np.zeros((len(task.keys), len(task.schema.category_ids)))
    for row, key in enumerate(task.keys):  # a segmentation: each mask's share of the area
        predictions = task.by_key.get(key, ())
        if not predictions:
            continue
        areas = np.array([float(p.area or 0) for p in predictions])
        total = float(areas.sum())
        weights = areas / total if total > 0 else np.full(len(areas), 1.0 / len(areas))
        np.add.at(rows[row], [p.column for p in predictions], weights)
    return rows


def category_columns(schema: TaskSchema, categories: Sequence[str] | None) -> list[int]:
    """Schema columns of category names (all columns when None).

    Raises:
        ConfigError: An unknown name; the message lists the task's categories.
    """
    names = schema.category_names
    if categories is None:
        return list(range(len(names)))
    unknown = [name for name in categories if name not in names]
    if unknown:
        raise ConfigError(
            f"PREDICTIONS input: categories {unknown} are not in task '{schema.name}' "
            f"(categories: {', '.join(names)})"
        )
    return [names.index(name) for name in categories]


def category_count(task: TaskPredictions, categories: Sequence[str] | None) -> FloatArray:
    """``CATEGORY_COUNT``: predictions (objects, masks, instances) of the given categories.

    Args:
        task: The loaded predictions.
        categories: Category names to count, or None for all.

    Returns:
        (N,) float64 counts in ``task.keys`` order.

    Raises:
        ConfigError: An unknown category name.
    """
    wanted = set(category_columns(task.schema, categories))
    counts = [sum(1 for p in task.by_key.get(key, ()) if p.column in wanted) for key in task.keys]
    return np.array(counts, dtype=np.float64)


def class_counts(task: TaskPredictions) -> npt.NDArray[np.int64]:
    """Predictions per category of each sample, for class distributions in the report.

    Returns:
        (N, C) int64 in ``task.keys`` order: the predicted class of a classification, the
        objects of a detection, the masks of a segmentation, the instances of keypoints.
    """
    counts = np.zeros((len(task.keys), len(task.schema.category_ids)), dtype=np.int64)
    for row, key in enumerate(task.keys):
        for prediction in task.by_key.get(key, ()):
            counts[row, prediction.column] += 1
    return counts


def _one_hot(column: int, n_categories: int) -> tuple[float, ...]:
    vector = [0.0] * n_categories
    vector[column] = 1.0
    return tuple(vector)
