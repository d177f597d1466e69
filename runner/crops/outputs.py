"""The crops of a run in its files: ``crops.json`` and ``report.json["crops"]``.

``crops.json`` maps every crop key to its image, object index, category, score, predicted
``bbox`` and the padded ``box`` that was cut, so every row of ``embeddings.csv`` and line of
``selected_filenames.txt`` leads back to its image and object. ``report.json["crops"]`` holds
the counts, the listed skips and the parents of the crops the report shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from runner.atomic import atomic_write_json
from runner.config import CropsConfig
from runner.crops.files import CropExport, write_crops
from runner.crops.objects import CropSet
from runner.progress import NO_PROGRESS, StageProgress
from runner.write_paths import contained

CROPS_FILE = "crops.json"


def publish_crops(
    crops: CropSet,
    *,
    selected: Sequence[str],
    shown: Iterable[str],
    run_dir: Path,
    lightly_dir: Path,
    cfg: CropsConfig,
    progress: StageProgress = NO_PROGRESS,
) -> dict[str, Any]:
    """Write the selected crops and ``crops.json``; return ``report.json["crops"]``.

    Args:
        crops: Every crop of the run.
        selected: The selected crop keys.
        shown: Crop keys the report shows (their parents are named in the section).
        run_dir: The run directory.
        lightly_dir: The Lightly datasource (crops go to ``.lightly/crops/<task>/``).
        cfg: ``worker.crops``.
        progress: Told of every crop written.
    """
    by_key = crops.by_key()
    export = write_crops(
        [by_key[k] for k in selected],
        task=crops.task,
        lightly_dir=lightly_dir,
        cfg=cfg,
        progress=progress,
    )
    write_crops_json(run_dir, crops)
    return crops_section(crops, selected=selected, export=export, shown=shown)


def write_crops_json(run_dir: Path, crops: CropSet) -> None:
    """``<run dir>/crops.json``: every crop of the run, by key."""
    atomic_write_json(
        contained(run_dir, CROPS_FILE),
        {
            "task": crops.task,
            "padding": crops.padding,
            "crops": {c.key: c.describe() for c in crops.crops},
        },
    )


def crops_section(
    crops: CropSet, *, selected: Sequence[str], export: CropExport, shown: Iterable[str]
) -> dict[str, Any]:
    """``report.json["crops"]`` (documented in docs/outputs.md)."""
    by_key = crops.by_key()
    images = crops.images
    return {
        "task": crops.task,
        "task_type": images.schema.task_type.value,
        "padding": crops.padding,
        "counts": {
            "images": len(images.keys),
            "images_with_predictions": len(images.by_key),
            "objects": sum(len(p) for p in images.by_key.values()),
            "crops": len(crops.crops),
            "skipped_objects": len(crops.skipped),
            "prediction_files_missing": len(images.missing),
            "prediction_files_skipped": len(images.skipped),
            "selected": len(selected),
            "selected_images": len({by_key[k].image for k in selected}),
        },
        "skipped": [{"file": s.file, "reason": s.reason} for s in images.skipped + crops.skipped],
        "folder": export.folder,
        "written": len(export.written),
        "failed": dict(export.failed),
        "parents": {
            key: {
                "image": by_key[key].image,
                "object": by_key[key].index,
                "category": by_key[key].category,
            }
            for key in shown
            if key in by_key
        },
        "file": CROPS_FILE,
    }
