"""What the training stage trains on: the run's candidates, or the object crops of a task.

Lightly's ``worker.training.task_name`` names a detection task whose object crops the model
trains on. Here those are the crops the run selects from (:mod:`runner.crops.plan`: the same
boxes, padding and skips), decoded by the embedding pass's dataset, so the model that trained
on a task's crops is the one that embeds them. Images without objects of the task give no
training sample (docs/decisions.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from runner.crops.objects import CropSet
from runner.datasource.sample import Sample
from runner.errors import ConfigError


def check_crop_training(task_name: str, crop_task: str | None) -> None:
    """``worker.training.task_name`` must name the task whose crops the selection ranks.

    Args:
        task_name: ``worker.training.task_name`` ("" trains on the candidates).
        crop_task: The selection's object task (:func:`runner.crops.plan.object_task`), or
            None for a selection of whole samples.

    Raises:
        ConfigError: Crops of a task the selection does not use, as one line.
    """
    if not task_name or task_name == crop_task:
        return
    if crop_task is None:
        raise ConfigError(
            f"worker.training.task_name={task_name!r} trains on the object crops of "
            f"'{task_name}', but the selection is of whole images; select those crops (an "
            f"EMBEDDINGS input with task: {task_name}) or remove worker.training.task_name to "
            "train on the images"
        )
    raise ConfigError(
        f"worker.training.task_name={task_name!r} differs from the task whose crops are "
        f"selected ('{crop_task}'); the trained model embeds the selected crops: train on "
        f"task '{crop_task}' or leave the key empty"
    )


def training_samples(
    candidates: Sequence[Sample], *, task_name: str, crops: CropSet | None
) -> list[Sample]:
    """The samples to train on: the task's object crops when ``task_name`` is set.

    Raises:
        ConfigError: ``task_name`` does not name the run's crop task.
    """
    check_crop_training(task_name, crops.task if crops is not None else None)
    if task_name and crops is not None:
        return [crop.sample() for crop in crops.crops]
    return list(candidates)
