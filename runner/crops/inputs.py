"""Selection inputs per crop: the crop task's SCORES and PREDICTIONS, ``lightly.*`` metadata.

At object level only the crop task's own predictions describe a crop: a crop's SCORES and
PREDICTIONS are computed from its one prediction by the image-level code (so
``objectness_least_confidence`` is 1 - the object's score, ``CLASS_DISTRIBUTION`` the one-hot
of its class). ``lightly.*`` metadata is measured on the crop's pixels. Custom metadata is
per image and has no meaning per crop (as in Lightly, spec §4.4).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
from pathlib import Path

from runner.config import InputType, SelectionConfig
from runner.crops.objects import CropSet, ObjectCrop
from runner.decode.errors import DecodeError
from runner.decode.image import open_image
from runner.decode.metrics import header_metrics, pixel_metrics
from runner.errors import ConfigError, DataError
from runner.inputs.lightly_metadata import LIGHTLY_PREFIX
from runner.inputs.report import InputReport
from runner.inputs.resolve import build_resolver
from runner.inputs.values import InputResolver


def check_crop_inputs(cfg: SelectionConfig, task: str) -> None:
    """Refuse inputs that have no value per crop, before any work.

    Raises:
        ConfigError: A SCORES / PREDICTIONS input of another task, or custom metadata.
    """
    for i, entry in enumerate(cfg.strategies):
        where = f"selection.strategies[{i}].input"
        itype = InputType(entry.input.type)
        if itype in (InputType.SCORES, InputType.PREDICTIONS) and entry.input.task != task:
            raise ConfigError(
                f"{where}: this is a selection of the crops of task '{task}'; "
                f"{itype.value} of task '{entry.input.task}' has no value per crop "
                f"(use task '{task}')"
            )
        key = entry.input.key or ""
        if itype is InputType.METADATA and not key.startswith(LIGHTLY_PREFIX):
            raise ConfigError(
                f"{where}: custom metadata '{key}' is per image and has no value per crop of "
                f"task '{task}'; crops have the lightly.* metadata"
            )


def crop_resolver(
    crops: CropSet, *, dot_lightly: Path, selection: SelectionConfig
) -> tuple[InputResolver, InputReport]:
    """The input resolver of a crop selection, and the report it fills in.

    Args:
        crops: The crops (the rows of the selection).
        dot_lightly: ``<lightly datasource>/.lightly``.
        selection: The selection config: crops are measured only when it uses ``lightly.*``.
    """
    uses_metrics = any(
        InputType(e.input.type) is InputType.METADATA
        and (e.input.key or "").startswith(LIGHTLY_PREFIX)
        for e in selection.strategies
    )
    resolve, report = build_resolver(
        keys=crops.keys,
        dot_lightly=dot_lightly,
        infos={},
        tasks={crops.task: crops.crop_predictions()},
        measured=dict(measure_crops(crops)) if uses_metrics else {},
    )
    return resolve, report


def measure_crops(crops: CropSet) -> Iterator[tuple[str, dict[str, float]]]:
    """Lightly's metrics of every crop, from its pixels; each image decoded once.

    ``sizeInBytes`` of a crop is its size as uncompressed 8-bit RGB (a crop has no file of
    its own until it is selected).
    """
    by_image = sorted(crops.crops, key=lambda c: (c.image, c.key))
    for _, group in groupby(by_image, key=lambda c: c.image):
        members: list[ObjectCrop] = list(group)
        try:
            image = open_image(members[0].path)
        except DecodeError as exc:
            raise DataError(
                f"cannot measure the crops of '{members[0].image}': {exc.reason}"
            ) from exc
        for crop in members:
            pixels = image.crop(crop.box)
            size = pixels.width * pixels.height * 3
            yield crop.key, header_metrics(pixels, size_in_bytes=size) | pixel_metrics(pixels)
