"""Selected crops as PNG files in ``<lightly datasource>/.lightly/crops/<task>/<crop key>``.

Lightly writes object crops to ``.lightly/crops/<task>/`` (spec §1.4). A crop's name leads back
to its image and object (:func:`runner.crops.objects.crop_key`), and its pixels depend only on
the image, the object's box and the padding, so a rerun rewrites the same file. Crops of
earlier runs are kept: the folder grows like Lightly's crop dataset (docs/decisions.md).
``worker.crops.enable_upload`` / ``enable_upload_for_tasks`` decide whether a task's crops are
written at all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from runner.atomic import atomic_path
from runner.config import CropsConfig
from runner.crops.objects import ObjectCrop
from runner.datasource.lightly_dir import DOT_LIGHTLY
from runner.decode.errors import DecodeError
from runner.decode.image import open_image
from runner.progress import NO_PROGRESS, StageProgress
from runner.write_paths import contained

log = logging.getLogger(__name__)

PNG_COMPRESS_LEVEL = 1  # as the exported video frames: ~3x faster than Pillow's default


@dataclass(frozen=True)
class CropExport:
    """What :func:`write_crops` did.

    Attributes:
        folder: ``.lightly/crops/<task>`` relative to the Lightly datasource, or None when
            the task's crops are not written.
        written: Crop keys written.
        failed: Crop key -> reason, for crops whose image could not be read.
    """

    folder: str | None
    written: list[str]
    failed: dict[str, str]


def crops_dir(lightly_dir: Path, task: str) -> Path:
    """``<lightly datasource>/.lightly/crops/<task>``."""
    return contained(lightly_dir, DOT_LIGHTLY, "crops", task)


def writes_crops(cfg: CropsConfig, task: str) -> bool:
    """Whether the selected crops of ``task`` are written (``worker.crops``)."""
    tasks = cfg.enable_upload_for_tasks
    return cfg.enable_upload and (tasks is None or task in tasks)


def write_crops(
    selected: Sequence[ObjectCrop],
    *,
    task: str,
    lightly_dir: Path,
    cfg: CropsConfig,
    progress: StageProgress = NO_PROGRESS,
) -> CropExport:
    """Write every selected crop as a PNG, decoding each image once.

    Args:
        selected: The selected crops.
        task: Their prediction task (the folder name).
        lightly_dir: The Lightly datasource.
        cfg: ``worker.crops``.
        progress: Told of every crop.
    """
    if not writes_crops(cfg, task):
        return CropExport(folder=None, written=[], failed={})
    root = crops_dir(lightly_dir, task)
    written: list[str] = []
    failed: dict[str, str] = {}
    progress.expect(len(selected))
    ordered = sorted(selected, key=lambda c: (c.image, c.key))
    for image_key, group in groupby(ordered, key=lambda c: c.image):
        members = list(group)
        try:
            image = open_image(members[0].path)
        except DecodeError as exc:
            failed.update({c.key: exc.reason for c in members})
            log.warning("crops of %s not written: %s", image_key, exc.reason)
            progress.advance(len(members))
            continue
        for crop in members:
            with atomic_path(contained(root, crop.key), suffix=".png") as tmp:
                image.crop(crop.box).save(tmp, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
            written.append(crop.key)
            progress.advance()
    return CropExport(
        folder=root.relative_to(lightly_dir.resolve()).as_posix(), written=written, failed=failed
    )
