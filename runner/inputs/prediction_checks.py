"""Validation of prediction singletons (spec §2.3): one bad value rejects its whole file.

A singleton follows COCO's results format without ``image_id``: ``category_id`` always,
``score`` and ``probabilities`` in [0, 1], ``bbox = [x, y, w, h]`` in pixels for detections,
an uncompressed RLE ``segmentation`` for semantic and instance segmentation (an instance's
``bbox`` may be left out: its mask gives it) and ``keypoints = [x, y, s, ...]`` for keypoints.
Rules and reasons: ``docs/inputs.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from runner.inputs.prediction_schema import TaskSchema, TaskType

PROBABILITY_SUM_TOLERANCE = 1e-3
BBOX_TOLERANCE = 0.01
"""A box may overhang the image by 1 % of its side plus 1 px (rounding, clipped detectors)."""


class InvalidPrediction(ValueError):
    """A singleton (or a whole file) breaks the format; the message is the reason."""


@dataclass(frozen=True)
class Prediction:
    """One validated singleton.

    Attributes:
        column: Index of its category in the task schema (not the raw ``category_id``).
        score: ``score`` in [0, 1], if given.
        probabilities: Class probabilities in schema column order, if given: one per category;
            a single value for a one-category schema (``P(category)``); a two-category
            schema's single value ``p`` is stored expanded as ``(p, 1 - p)``.
        bbox: ``(x, y, w, h)`` in pixels for detections (and keypoints that give one).
        area: Number of pixels in the mask, for semantic and instance segmentation.
        keypoint_scores: The confidence of each keypoint, for keypoint detection.
    """

    column: int
    score: float | None = None
    probabilities: tuple[float, ...] | None = None
    bbox: tuple[float, float, float, float] | None = None
    area: int | None = None
    keypoint_scores: tuple[float, ...] | None = None


def parse_singleton(
    raw: object, *, schema: TaskSchema, image_size: tuple[int, int] | None
) -> Prediction:
    """Validate one singleton of a per-sample prediction file.

    Args:
        raw: The decoded JSON value.
        schema: The task it belongs to.
        image_size: ``(width, height)`` of the sample when known, to check boxes and masks.

    Returns:
        The validated prediction.

    Raises:
        InvalidPrediction: With the reason.
    """
    if not isinstance(raw, dict):
        raise InvalidPrediction(f"a prediction is not an object: {raw!r}")
    column = _column(raw.get("category_id"), schema)
    score = _unit(raw.get("score"), "score")
    task_type = schema.task_type
    instance = task_type is TaskType.INSTANCE_SEGMENTATION
    if (task_type is TaskType.OBJECT_DETECTION or instance) and score is None:
        raise InvalidPrediction(f"an {task_type.value} prediction needs a 'score'")
    has_box = task_type is TaskType.OBJECT_DETECTION or (
        task_type in (TaskType.KEYPOINT_DETECTION, TaskType.INSTANCE_SEGMENTATION)
        and raw.get("bbox") is not None
    )
    segmentation = task_type is TaskType.SEMANTIC_SEGMENTATION or instance
    keypoints = task_type is TaskType.KEYPOINT_DETECTION
    bbox = parse_bbox(raw.get("bbox"), image_size=image_size) if has_box else None
    if instance and bbox is None:
        bbox = mask_box(raw.get("segmentation"), image_size)
    return Prediction(
        column=column,
        score=score,
        probabilities=_probabilities(raw.get("probabilities"), schema),
        bbox=bbox,
        area=_rle_area(raw.get("segmentation"), image_size) if segmentation else None,
        keypoint_scores=_keypoint_scores(raw.get("keypoints")) if keypoints else None,
    )


def _number(value: object) -> float | None:
    """A finite JSON number as float, else None (bools are not numbers here)."""
    if type(value) not in (int, float):
        return None
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def _column(category_id: object, schema: TaskSchema) -> int:
    if type(category_id) is not int:
        raise InvalidPrediction(f"category_id {category_id!r} is not an integer")
    column = schema.column_of(category_id)
    if column is None:
        known = ", ".join(str(i) for i in schema.category_ids)
        raise InvalidPrediction(
            f"unknown category_id {category_id} (schema of '{schema.name}' has {known})"
        )
    return column


def _unit(value: object, name: str) -> float | None:
    """An optional value in [0, 1]."""
    return None if value is None else _required_unit(value, name)


def _required_unit(value: object, name: str) -> float:
    """A value in [0, 1]."""
    number = _number(value)
    if number is None or not 0.0 <= number <= 1.0:
        raise InvalidPrediction(f"{name} {value!r} is not a number in [0, 1]")
    return number


def _probabilities(value: object, schema: TaskSchema) -> tuple[float, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise InvalidPrediction(f"probabilities {value!r} is not a non-empty list")
    probs = tuple(_required_unit(p, "probability") for p in value)
    n_categories = len(schema.category_ids)
    if len(probs) == 1 and n_categories <= 2:  # binary shorthand: P(first category)
        (p,) = probs
        return (p, 1.0 - p) if n_categories == 2 else (p,)
    if len(probs) != n_categories:
        raise InvalidPrediction(
            f"{len(probs)} probabilities for the {n_categories} categories of '{schema.name}'"
        )
    total = math.fsum(probs)
    if abs(total - 1.0) > PROBABILITY_SUM_TOLERANCE:
        raise InvalidPrediction(f"probabilities sum to {total:.6g}, not 1")
    return probs


def parse_bbox(
    value: object, *, image_size: tuple[int, int] | None
) -> tuple[float, float, float, float]:
    """Validate ``[x, y, w, h]``: 4 non-negative pixel values inside the image.

    A box that overhangs the image (in either orientation, as EXIF rotation may or may not
    have been applied by the labelling tool) is almost always ``[x1, y1, x2, y2]``; a box whose
    values are all at most 1 on an image larger than 16 px is in normalised coordinates.

    Raises:
        InvalidPrediction: With the reason.
    """
    numbers = [_number(v) for v in value] if isinstance(value, list) else []
    if len(numbers) != 4 or any(n is None or n < 0 for n in numbers):
        raise InvalidPrediction(f"bbox {value!r} is not 4 non-negative numbers [x, y, w, h]")
    x, y, w, h = (n for n in numbers if n is not None)
    if image_size is None:
        return x, y, w, h
    width, height = image_size
    if max(x, y, w, h) <= 1.0 and min(width, height) > 16:
        raise InvalidPrediction(
            f"bbox {value!r} looks normalised to [0, 1]; Lightly's bbox is in pixels"
        )
    if not any(_fits(x, y, w, h, size) for size in ((width, height), (height, width))):
        raise InvalidPrediction(
            f"bbox {value!r} reaches x={x + w:g}, y={y + h:g}, outside the {width}x{height} "
            "image: it looks like [x1, y1, x2, y2]; Lightly's bbox is [x, y, w, h]"
        )
    return x, y, w, h


def _fits(x: float, y: float, w: float, h: float, size: tuple[int, int]) -> bool:
    width, height = size
    return x + w <= width * (1 + BBOX_TOLERANCE) + 1 and y + h <= height * (1 + BBOX_TOLERANCE) + 1


def looks_like_xyxy(boxes: Sequence[tuple[float, float, float, float]]) -> bool:
    """The heuristic for samples of unknown size: every box has ``w >= x > 0`` and ``h >= y > 0``.

    Read as ``[x1, y1, x2, y2]`` every box satisfies it; genuine ``[x, y, w, h]`` boxes only
    when each object is larger than its distance from the top-left corner. Needs two boxes.
    """
    return len(boxes) >= 2 and all(w >= x > 0 and h >= y > 0 for x, y, w, h in boxes)


def _rle_area(value: object, image_size: tuple[int, int] | None) -> int:
    """Pixels in a mask given as uncompressed RLE counts (0s first, then 1s, alternating)."""
    if (
        not isinstance(value, list)
        or not value
        or not all(type(c) is int and c >= 0 for c in value)
    ):
        raise InvalidPrediction("segmentation is not a list of non-negative run lengths")
    total = sum(value)
    if image_size is not None and total != image_size[0] * image_size[1]:
        width, height = image_size
        raise InvalidPrediction(
            f"segmentation covers {total} pixels, the {width}x{height} image has {width * height}"
        )
    return int(sum(value[1::2]))


def mask_box(
    value: object, image_size: tuple[int, int] | None
) -> tuple[float, float, float, float] | None:
    """The ``[x, y, w, h]`` around the 1s of an RLE mask (row-major); None for an empty mask.

    Raises:
        InvalidPrediction: Not run lengths, or the image size is unknown (the mask's rows
            cannot be told apart without its width).
    """
    area = _rle_area(value, image_size)
    if image_size is None:
        raise InvalidPrediction("an instance without a bbox needs an image of known size")
    if area == 0:
        return None
    width = image_size[0]
    assert isinstance(value, list)  # checked by _rle_area
    left, top, right, bottom = width, -1, -1, -1
    start = 0
    for i, count in enumerate(value):
        end = start + count  # pixels [start, end) have value i % 2
        if i % 2 and count:
            first_row, last_row = start // width, (end - 1) // width
            top = first_row if top < 0 else top
            bottom = last_row
            if first_row == last_row:
                left, right = min(left, start % width), max(right, (end - 1) % width)
            else:  # the run wraps a row: it covers every column between
                left, right = 0, width - 1
        start = end
    return float(left), float(top), float(right - left + 1), float(bottom - top + 1)


def _keypoint_scores(value: object) -> tuple[float, ...]:
    """The confidences of ``[x1, y1, s1, ..., xk, yk, sk]``."""
    numbers = [_number(v) for v in value] if isinstance(value, list) else []
    if not numbers or len(numbers) % 3 or any(n is None for n in numbers):
        raise InvalidPrediction("keypoints is not a list of [x, y, score] triples")
    scores = tuple(n for n in numbers[2::3] if n is not None)
    if not all(0.0 <= s <= 1.0 for s in scores):
        raise InvalidPrediction("a keypoint score is not in [0, 1]")
    return scores
