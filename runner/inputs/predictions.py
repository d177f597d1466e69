"""Prediction files of one task, for the given samples only (spec §2).

``.lightly/predictions/<task>/<key without extension>.json`` holds
``{"file_name"?: ..., "predictions": [singletons]}``. Only the files of the requested keys are
opened (Lightly's "relevant filenames": nothing else is listed or read). A file that breaks the
format is skipped with a reason; a missing file means "no predictions for this sample". Both
are reported, and what a sample without predictions scores is decided per input (see
``docs/inputs.md``). When no file of a used task is usable the run stops with one line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from runner.errors import DataError
from runner.inputs.files import Skip, file_name_matches, read_json, sample_file
from runner.inputs.prediction_checks import (
    InvalidPrediction,
    Prediction,
    looks_like_xyxy,
    parse_singleton,
)
from runner.inputs.prediction_schema import (
    TaskSchema,
    TaskType,
    check_task_listed,
    predictions_dir,
    read_schema,
    read_tasks,
)


@dataclass(frozen=True)
class TaskPredictions:
    """The predictions of one task for the requested samples.

    Attributes:
        schema: The task's schema.
        keys: The requested sample keys, in order.
        by_key: Key -> its validated predictions, for the keys with a usable file (possibly
            an empty tuple: a file with ``"predictions": []``).
        missing: Files that do not exist (relative to the Lightly datasource), in key order.
        skipped: Files that exist but were rejected, with reasons, in key order.
        warnings: Doubts that did not reject a file (e.g. boxes of samples of unknown size
            that look like ``[x1, y1, x2, y2]``).
        files_read: Files opened (usable or not).
    """

    schema: TaskSchema
    keys: tuple[str, ...]
    by_key: Mapping[str, tuple[Prediction, ...]]
    missing: tuple[str, ...]
    skipped: tuple[Skip, ...]
    warnings: tuple[str, ...]
    files_read: int


def load_task(
    dot_lightly: Path,
    task: str,
    *,
    keys: Sequence[str],
    image_sizes: Mapping[str, tuple[int, int]],
) -> TaskPredictions:
    """Read, validate and collect one task's prediction files for the given samples.

    Args:
        dot_lightly: ``<lightly datasource>/.lightly``.
        task: A task name from the selection config.
        keys: Sample keys whose files are read (no other file is opened).
        image_sizes: Key -> upright ``(width, height)`` where known, to check boxes and masks.

    Returns:
        Per key the predictions, plus what was missing, skipped or doubtful.

    Raises:
        ConfigError: ``tasks.json`` does not list the task (the message names those it does).
        DataError: Bad ``tasks.json`` or ``schema.json``, or not one usable file among the
            requested samples.
    """
    check_task_listed(task, read_tasks(dot_lightly), dot_lightly)
    schema = read_schema(dot_lightly, task)
    by_key: dict[str, tuple[Prediction, ...]] = {}
    missing: list[str] = []
    skipped: list[Skip] = []
    suspicious = 0
    for key in keys:
        path = predictions_dir(dot_lightly) / task / sample_file(key)
        shown = path.relative_to(dot_lightly.parent).as_posix()
        size = image_sizes.get(key)
        try:
            found = _read_sample(path, key=key, schema=schema, image_size=size)
        except InvalidPrediction as exc:
            skipped.append(Skip(file=shown, reason=str(exc)))
            continue
        if found is None:
            missing.append(shown)
            continue
        by_key[key] = found
        if size is None and looks_like_xyxy([p.bbox for p in found if p.bbox is not None]):
            suspicious += 1
    result = TaskPredictions(
        schema=schema,
        keys=tuple(keys),
        by_key=by_key,
        missing=tuple(missing),
        skipped=tuple(skipped),
        warnings=_warnings(task, suspicious),
        files_read=len(by_key) + len(skipped),
    )
    _require_some(result)
    return result


def _read_sample(
    path: Path, *, key: str, schema: TaskSchema, image_size: tuple[int, int] | None
) -> tuple[Prediction, ...] | None:
    """The predictions of one file; None when it does not exist.

    Raises:
        InvalidPrediction: The file is unreadable or breaks the format.
    """
    read = read_json(path)
    if read.missing:
        return None
    if read.error is not None:
        raise InvalidPrediction(read.error)
    return parse_file(read.value, key=key, schema=schema, image_size=image_size)


def parse_file(
    value: object, *, key: str, schema: TaskSchema, image_size: tuple[int, int] | None
) -> tuple[Prediction, ...]:
    """Validate the content of one per-sample prediction file.

    Args:
        value: The decoded JSON document.
        key: The sample it was read for (checked against ``file_name`` when given).
        schema: The task's schema.
        image_size: Upright ``(width, height)`` of the sample, if known.

    Returns:
        The validated singletons (at most one for classification).

    Raises:
        InvalidPrediction: With the reason (singleton errors name their index).
    """
    if not isinstance(value, dict) or not isinstance(value.get("predictions"), list):
        raise InvalidPrediction("expected an object with a 'predictions' list")
    if not file_name_matches(value.get("file_name"), key):
        raise InvalidPrediction(f"file_name {value['file_name']!r} is not the sample '{key}'")
    singletons = value["predictions"]
    if schema.task_type is TaskType.CLASSIFICATION and len(singletons) > 1:
        raise InvalidPrediction(f"{len(singletons)} classification predictions; expected one")
    predictions = []
    for index, raw in enumerate(singletons):
        try:
            predictions.append(parse_singleton(raw, schema=schema, image_size=image_size))
        except InvalidPrediction as exc:
            raise InvalidPrediction(f"prediction {index}: {exc}") from exc
    return tuple(predictions)


def _warnings(task: str, suspicious: int) -> tuple[str, ...]:
    if not suspicious:
        return ()
    return (
        f"task '{task}': {suspicious} files of samples of unknown size have only boxes with "
        "w >= x and h >= y; check that bbox is [x, y, w, h], not [x1, y1, x2, y2]",
    )


def _require_some(result: TaskPredictions) -> None:
    """Lightly (>= 2.11): a used task must have at least one usable file.

    Raises:
        DataError: One line with the counts and the first problem.
    """
    if result.by_key or not result.keys:
        return
    first = (
        f"{result.skipped[0].file}: {result.skipped[0].reason}"
        if result.skipped
        else f"{result.missing[0]}: missing"
    )
    raise DataError(
        f"prediction task '{result.schema.name}': none of the {len(result.keys)} prediction "
        f"files is usable ({len(result.missing)} missing, {len(result.skipped)} invalid; "
        f"first: {first})"
    )
