"""Objects of a prediction task as crop samples (spec §4.2 ``EMBEDDINGS`` with ``task``).

Each usable prediction with a box becomes one :class:`ObjectCrop`: the box grown by
``padding`` (a fraction of its width and height on every side, as Lightly's
``object_level.padding``), clipped to the image and rounded outwards to whole pixels. A crop
is named after its image and its place in the prediction file, in the style of Lightly's
frame names (``<stem>-<index>-<extension>.png``, the index zero-padded to the number of
objects of the image), so ``sub/pic_01-2-jpg.png`` is object 2 of ``sub/pic_01.jpg``
(docs/decisions.md). Objects that cannot be cropped are listed skips with the reason.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from runner.datasource.sample import Sample
from runner.errors import ConfigError, DataError
from runner.inputs.files import Skip
from runner.inputs.prediction_checks import Prediction
from runner.inputs.prediction_schema import TaskType
from runner.inputs.predictions import TaskPredictions

CROP_TASK_TYPES = (
    TaskType.OBJECT_DETECTION,
    TaskType.INSTANCE_SEGMENTATION,
    TaskType.KEYPOINT_DETECTION,
)
CROP_FORMAT = "png"

Box = tuple[int, int, int, int]
"""``(left, top, right, bottom)`` in upright pixels; right and bottom exclusive (PIL's crop)."""


@dataclass(frozen=True)
class ObjectCrop:
    """One predicted object as a sample.

    Attributes:
        key: The crop's sample key (``sub/pic_01-2-jpg.png``), also its file name below
            ``.lightly/crops/<task>/``.
        image: Key of the image it is cut from (``sub/pic_01.jpg``).
        source: That image's sample (its file).
        index: Position of the object in the image's prediction file (``predictions[index]``).
        box: The padded, clipped box that is cropped.
        prediction: The validated prediction (category column, score, bbox, mask area).
        category: The prediction's category name.
        content_hash: Identity of the crop's pixels for the embedding cache: the image's
            content hash, the box and the padding.
    """

    key: str
    image: str
    source: Sample
    index: int
    box: Box
    prediction: Prediction
    category: str
    content_hash: str

    def sample(self) -> Sample:
        """The crop as a sample the embedding stage reads (the image, cut to ``box``)."""
        return replace(self.source, key=self.key, box=self.box)

    @property
    def path(self) -> Path:
        """The image file the crop is cut from."""
        return self.source.path

    def describe(self) -> dict[str, object]:
        """The crop for ``crops.json`` and the viewer."""
        bbox = self.prediction.bbox
        return {
            "image": self.image,
            "object": self.index,
            "category": self.category,
            "score": self.prediction.score,
            "bbox": list(bbox) if bbox is not None else None,
            "box": list(self.box),
            "mask_area": self.prediction.area,
        }


@dataclass(frozen=True)
class CropSet:
    """Every crop of one task over the usable images of a run.

    Attributes:
        task: The prediction task.
        padding: ``worker.object_level.padding``.
        crops: The crops, sorted by key.
        images: The image-level predictions they come from (files missing or skipped).
        skipped: Objects that could not be cropped, with the reason (``file`` is the
            prediction file, the reason names the object).
    """

    task: str
    padding: float
    crops: tuple[ObjectCrop, ...]
    images: TaskPredictions
    skipped: tuple[Skip, ...]

    @property
    def keys(self) -> list[str]:
        return [c.key for c in self.crops]

    @property
    def hashes(self) -> dict[str, str]:
        """Content hash by crop key."""
        return {c.key: c.content_hash for c in self.crops}

    def by_key(self) -> dict[str, ObjectCrop]:
        return {c.key: c for c in self.crops}

    def paths(self) -> dict[str, Path]:
        """The image file of every crop, by crop key."""
        return {c.key: c.path for c in self.crops}

    def boxes(self) -> dict[str, Box]:
        """The box of every crop, by crop key."""
        return {c.key: c.box for c in self.crops}

    def crop_predictions(self) -> TaskPredictions:
        """The task at crop level: each crop's one prediction, so every SCORES and
        PREDICTIONS input of the task reads per crop with the image-level code."""
        return TaskPredictions(
            schema=self.images.schema,
            keys=tuple(self.keys),
            by_key={c.key: (c.prediction,) for c in self.crops},
            missing=self.images.missing,
            skipped=self.images.skipped + self.skipped,
            warnings=self.images.warnings,
            files_read=self.images.files_read,
        )


def check_task_type(predictions: TaskPredictions) -> None:
    """Only tasks whose predictions have boxes can be cropped.

    Raises:
        ConfigError: One line naming the task, its type and the types that work.
    """
    task_type = predictions.schema.task_type
    if task_type not in CROP_TASK_TYPES:
        kinds = ", ".join(t.value for t in CROP_TASK_TYPES)
        raise ConfigError(
            f"EMBEDDINGS input task '{predictions.schema.name}' is {task_type.value}; crops "
            f"need objects with boxes ({kinds})"
        )


def build_crops(
    predictions: TaskPredictions,
    *,
    images: Sequence[Sample],
    hashes: Mapping[str, str],
    sizes: Mapping[str, tuple[int, int]],
    padding: float,
    prediction_file: Mapping[str, str],
) -> CropSet:
    """Turn a task's predictions into crops.

    Args:
        predictions: The task's predictions for ``images`` (``load_task``).
        images: The usable images (their keys and files).
        hashes: Content hash by image key.
        sizes: Upright ``(width, height)`` by image key.
        padding: Fraction of the box's width / height added on each side (>= 0).
        prediction_file: Image key -> its prediction file (for skip messages).

    Returns:
        The crops, sorted by key, and the objects skipped with reasons.

    Raises:
        DataError: Not one object of the task can be cropped.
    """
    check_task_type(predictions)
    names = predictions.schema.category_names
    crops: list[ObjectCrop] = []
    skipped: list[Skip] = []
    for image in images:
        objects = predictions.by_key.get(image.key, ())
        width = len(str(len(objects)))
        for index, prediction in enumerate(objects):
            box, reason = _box(prediction, sizes.get(image.key), padding)
            if box is None:
                file = prediction_file[image.key]
                skipped.append(Skip(file=file, reason=f"object {index}: {reason}"))
                continue
            crops.append(
                ObjectCrop(
                    key=crop_key(image.key, index, width),
                    image=image.key,
                    source=image,
                    index=index,
                    box=box,
                    prediction=prediction,
                    category=names[prediction.column],
                    content_hash=_crop_hash(hashes[image.key], box, padding),
                )
            )
    crops.sort(key=lambda c: c.key)
    if not crops:
        raise DataError(
            f"prediction task '{predictions.schema.name}': no object can be cropped "
            f"({len(predictions.by_key)} usable prediction files, {len(skipped)} objects "
            f"skipped{'; first: ' + skipped[0].reason if skipped else ''})"
        )
    return CropSet(
        task=predictions.schema.name,
        padding=padding,
        crops=tuple(crops),
        images=predictions,
        skipped=tuple(skipped),
    )


def crop_key(image: str, index: int, width: int = 1) -> str:
    """``sub/pic_01.jpg``, object 2 -> ``sub/pic_01-2-jpg.png`` (index padded to ``width``)."""
    path = PurePosixPath(image)
    extension = path.suffix.lstrip(".") or "none"
    name = f"{path.stem}-{index:0{width}d}-{extension}.{CROP_FORMAT}"
    return str(path.with_name(name))


def _box(
    prediction: Prediction, size: tuple[int, int] | None, padding: float
) -> tuple[Box | None, str]:
    """The padded, clipped pixel box of an object, or None and why it cannot be cropped."""
    if prediction.bbox is None:
        return None, "no bbox (nothing to crop)"
    if size is None:
        return None, "the image size is unknown"
    x, y, w, h = prediction.bbox
    if w <= 0 or h <= 0:
        return None, f"zero-area bbox {list(prediction.bbox)}"
    width, height = size
    left = max(0, math.floor(x - padding * w))
    top = max(0, math.floor(y - padding * h))
    right = min(width, math.ceil(x + w + padding * w))
    bottom = min(height, math.ceil(y + h + padding * h))
    if right <= left or bottom <= top:
        return None, f"bbox {list(prediction.bbox)} lies outside the {width}x{height} image"
    return (left, top, right, bottom), ""


def _crop_hash(image_hash: str, box: Box, padding: float) -> str:
    """The embedding-cache identity of a crop: the image's bytes, the box and the padding."""
    text = f"crop:{image_hash}:{','.join(map(str, box))}:padding={padding!r}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
