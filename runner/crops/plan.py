"""Whether a run selects object crops, the checks of such a config, and its crops.

A selection is at object level when an ``EMBEDDINGS`` input names a ``task`` (Lightly's
"object diversity", spec §4.2), or when the V2/V3 key ``worker.object_level.task_name`` is
set. Every row of such a selection is a crop of that one task.
"""

from __future__ import annotations

import math

from runner.config import DatasetType, InputType, RunConfig
from runner.crops.inputs import check_crop_inputs
from runner.crops.objects import CropSet, build_crops
from runner.datasource.lightly_dir import Datasources
from runner.errors import ConfigError
from runner.inputs.files import sample_file
from runner.inputs.prediction_schema import predictions_dir
from runner.inputs.predictions import load_task
from runner.inputs.resolve import image_sizes
from runner.prepare import Prepared


def object_task(cfg: RunConfig) -> str | None:
    """The task whose crops are selected, or None for a selection of whole samples.

    Raises:
        ConfigError: EMBEDDINGS inputs that disagree on the task.
    """
    embeddings = [
        e.input for e in cfg.selection.strategies if InputType(e.input.type) is InputType.EMBEDDINGS
    ]
    named = sorted({i.task for i in embeddings if i.task})
    legacy = cfg.worker.object_level.task_name
    if legacy and legacy not in named:
        named = [legacy, *named]
    if not named:
        return None
    if len(named) > 1:
        raise ConfigError(
            f"selection: EMBEDDINGS inputs name different tasks ({', '.join(named)}); one "
            "selection works on the crops of one task"
        )
    if not legacy and any(not i.task for i in embeddings):
        raise ConfigError(
            f"selection: some EMBEDDINGS inputs name task '{named[0]}' and some none; a "
            f"selection is of crops or of whole images: give every EMBEDDINGS input "
            f"task: {named[0]}"
        )
    return named[0]


def check_object_level(cfg: RunConfig) -> None:
    """Refuse object-level configs this version cannot run, with one line, before any work.

    Raises:
        ConfigError: Bad padding, videos, datapool, sequences or inputs without crop values.
    """
    padding = cfg.worker.object_level.padding
    if not (math.isfinite(padding) and padding >= 0):
        raise ConfigError(f"worker.object_level.padding must be >= 0, got {padding}")
    task = object_task(cfg)
    if task is None:
        return
    if cfg.dataset.type is not DatasetType.IMAGES:
        raise ConfigError(
            f"crop selection (task '{task}') works on IMAGES datasets; crops of video frames "
            "are not supported yet"
        )
    if cfg.worker.use_datapool:
        raise ConfigError(
            f"crop selection (task '{task}') cannot be combined with worker.use_datapool yet"
        )
    if cfg.worker.selected_sequence_length > 1:
        raise ConfigError(
            f"crop selection (task '{task}') cannot be combined with "
            "worker.selected_sequence_length > 1"
        )
    check_crop_inputs(cfg.selection, task)


def plan_crops(cfg: RunConfig, sources: Datasources, prepared: Prepared) -> CropSet | None:
    """The crops of the run's object task over the usable images, or None (whole images).

    Raises:
        ConfigError: The task is not listed, or its predictions have no boxes.
        DataError: Bad task files, or not one object can be cropped.
    """
    task = object_task(cfg)
    if task is None:
        return None
    keys = [s.key for s in prepared.usable]
    sizes = image_sizes(keys, prepared.infos)
    predictions = load_task(sources.dot_lightly, task, keys=keys, image_sizes=sizes)
    folder = predictions_dir(sources.dot_lightly) / task
    files = {
        key: (folder / sample_file(key)).relative_to(sources.lightly_dir).as_posix() for key in keys
    }
    return build_crops(
        predictions,
        images=prepared.usable,
        hashes=prepared.hashes,
        sizes=sizes,
        padding=cfg.worker.object_level.padding,
        prediction_file=files,
    )
