"""``.lightly/predictions/tasks.json`` and ``<task>/schema.json`` (spec §2.1, §2.2).

``tasks.json`` lists the task names; only listed tasks are read, and only the tasks an input
uses. ``schema.json`` gives the task type (kebab-case, as in Lightly's files) and COCO-style
categories: unique non-negative ids, gaps allowed, non-empty names; extra keys (COCO's
``supercategory``, keypoint names and skeletons) are ignored.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from runner.errors import ConfigError, DataError
from runner.inputs.files import read_json

PREDICTIONS_DIR = "predictions"


class TaskType(StrEnum):
    """``task_type`` of a prediction schema."""

    CLASSIFICATION = "classification"
    OBJECT_DETECTION = "object-detection"
    SEMANTIC_SEGMENTATION = "semantic-segmentation"
    KEYPOINT_DETECTION = "keypoint-detection"
    INSTANCE_SEGMENTATION = "instance-segmentation"


@dataclass(frozen=True)
class TaskSchema:
    """One prediction task.

    Attributes:
        name: The task name (its folder under ``.lightly/predictions``).
        task_type: What the predictions are.
        category_ids: Category ids in ascending order: the column order of probabilities.
        category_names: Names in the same order.
    """

    name: str
    task_type: TaskType
    category_ids: tuple[int, ...]
    category_names: tuple[str, ...]

    def column_of(self, category_id: int) -> int | None:
        """The column of a category id, or None for an unknown id."""
        try:
            return self.category_ids.index(category_id)
        except ValueError:
            return None


def predictions_dir(dot_lightly: Path) -> Path:
    """``<lightly datasource>/.lightly/predictions``."""
    return dot_lightly / PREDICTIONS_DIR


def read_tasks(dot_lightly: Path) -> tuple[str, ...]:
    """The task names listed in ``tasks.json``; none when the file does not exist.

    Raises:
        DataError: The file is unreadable or not a JSON list of strings.
    """
    path = predictions_dir(dot_lightly) / "tasks.json"
    read = read_json(path)
    if read.missing:
        return ()
    if read.error is not None:
        raise DataError(f"{path}: {read.error}")
    if not isinstance(read.value, list) or not all(isinstance(t, str) for t in read.value):
        raise DataError(f"{path}: expected a JSON list of task names")
    return tuple(read.value)


def check_task_listed(task: str, tasks: tuple[str, ...], dot_lightly: Path) -> None:
    """Refuse a task that ``tasks.json`` does not list, naming the ones it does.

    Raises:
        ConfigError: The task is not listed.
    """
    if task in tasks:
        return
    path = predictions_dir(dot_lightly) / "tasks.json"
    if not tasks:
        raise ConfigError(f"input task '{task}': no prediction tasks listed in {path}")
    match = difflib.get_close_matches(task, tasks, n=1)
    hint = f"; did you mean '{match[0]}'?" if match else ""
    raise ConfigError(
        f"input task '{task}' is not listed in {path} (known tasks: {', '.join(tasks)}){hint}"
    )


def read_schema(dot_lightly: Path, task: str) -> TaskSchema:
    """Read and validate ``<task>/schema.json``.

    Raises:
        DataError: Missing or unreadable file, unknown task type, bad categories.
    """
    path = predictions_dir(dot_lightly) / task / "schema.json"
    read = read_json(path)
    if read.missing:
        raise DataError(f"prediction task '{task}' is listed in tasks.json but {path} is missing")
    if read.error is not None:
        raise DataError(f"{path}: {read.error}")
    raw = read.value
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a JSON object with task_type and categories")
    task_type = raw.get("task_type")
    if task_type not in [t.value for t in TaskType]:
        known = ", ".join(t.value for t in TaskType)
        raise DataError(f"{path}: task_type {task_type!r} is not one of {known}")
    ids, names = _categories(raw.get("categories"), path=path)
    return TaskSchema(
        name=task, task_type=TaskType(task_type), category_ids=ids, category_names=names
    )


def _categories(raw: object, *, path: Path) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Validated categories sorted by id."""
    if not isinstance(raw, list) or not raw:
        raise DataError(f"{path}: 'categories' must be a non-empty list of {{id, name}}")
    pairs: dict[int, str] = {}
    for entry in raw:
        if not isinstance(entry, dict):
            raise DataError(f"{path}: category {entry!r} is not an object")
        category_id, name = entry.get("id"), entry.get("name")
        if type(category_id) is not int or category_id < 0:
            raise DataError(f"{path}: category id {category_id!r} is not a non-negative int")
        if not isinstance(name, str) or not name:
            raise DataError(f"{path}: category {category_id} has no name")
        if category_id in pairs:
            raise DataError(f"{path}: category id {category_id} appears twice")
        pairs[category_id] = name
    if len(set(pairs.values())) != len(pairs):
        raise DataError(f"{path}: category names must be unique")
    ids = tuple(sorted(pairs))
    return ids, tuple(pairs[i] for i in ids)
