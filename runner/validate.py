"""Checks across the whole config that must pass before any work starts.

Each stage validates its own slice (paths in ``datasource.lightly_dir``, strategies in
``selection.strategies``); this module calls them in order and adds the checks for options
this version accepts (so Lightly dicts load) but cannot honour yet.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from runner.config import CollateConfig, DatasetType, RunConfig
from runner.crops.plan import check_object_level, object_task
from runner.datasource.lightly_dir import (
    Datasources,
    resolve_datasources,
    resolve_relevant_filenames,
)
from runner.datasource.sequences import check_sequence_selection
from runner.datasource.video_samples import check_video_options
from runner.embedding.device import plan_device
from runner.embedding.model_choice import resolve_model
from runner.errors import ConfigError
from runner.selection.strategies import validate_selection
from runner.training.checks import TRAINING_KEYS, check_launched_run, check_model_sources

PRECISIONS = ("auto", "32", "16", "bf16")
IMAGE_FORMATS = ("png", "jpg", "jpeg")


def validate_run_config(cfg: RunConfig) -> Datasources:
    """Validate everything a run needs; return the resolved datasources.

    Raises:
        ConfigError: the first problem found, as one line.
    """
    sources = resolve_datasources(cfg.mounts, cfg.datasource)
    sources.check_writable_folders(cfg.datasource.thumbnail_suffix)
    resolve_relevant_filenames(cfg.worker.relevant_filenames_file, sources.lightly_dir)
    validate_selection(cfg.selection)
    _validate_selection_extras(cfg)
    _validate_worker(cfg, sources)
    check_object_level(cfg)
    _validate_lightly(cfg)
    _validate_report(cfg)
    return sources


# Keys accepted so Lightly's dicts load unchanged, with no effect here: key -> reason.
NO_EFFECT: dict[str, str] = {
    "selection.lightly_path_regex": "metadata from file paths is not implemented (Lightly "
    "never documented its effect)",
    "worker.datasource.bypass_verify": "a local datasource has no permissions to verify",
    "worker.shutdown_when_job_finished": "every lightly-run ends after its job",
    "worker.upload_report": "the report is always written to the run directory",
    "worker.num_processes": "use lightly.loader.num_workers",
    "worker.num_threads": "use lightly.loader.num_workers",
    "worker.output_image_format": "exported video frames and crops are always PNG",
    "worker.object_level.crop_dataset_name": "crops are samples of this run, not of a "
    "separate crop dataset",
    "selection.auto_tasks": "Lightly's automatic tasks are pseudo-predictions made on its "
    "server; write predictions to .lightly/predictions/<task>/ instead",
    "worker.pretagging_upload": "nothing is uploaded, and there is no pretagging here",
    "worker.datasource.input_expiration": "files on a local disk do not expire",
    "worker.cache_size": "the embedding cache (.lightly/cache/embeddings) has no size limit; "
    "delete the folder to free its space",
    **dict.fromkeys(TRAINING_KEYS, "a training option: only with worker.enable_training=true"),
}
_COLLATE_USED = {"input_size"}


def no_effect_keys(cfg: RunConfig) -> dict[str, str]:
    """Keys set to a value other than the default that this version accepts but ignores.

    Listed in ``report.json`` (``config_no_effect``) and in the log, with the reason.
    """
    defaults = RunConfig()
    found: dict[str, str] = {}
    keys = list(NO_EFFECT)
    if cfg.worker.enable_training:
        keys = [k for k in keys if k not in TRAINING_KEYS]
    else:
        keys += [f"lightly.collate.{f.name}" for f in fields(CollateConfig)]
    for key in keys:
        if key.startswith("lightly.collate.") and key.rsplit(".", 1)[1] in _COLLATE_USED:
            continue
        if _get(cfg, key) != _get(defaults, key):
            found[key] = NO_EFFECT.get(
                key, "a training augmentation: only with worker.enable_training=true"
            )
    threshold = "worker.corruptness_check.corruption_threshold"
    if cfg.dataset.type is DatasetType.IMAGES and _get(cfg, threshold) != _get(defaults, threshold):
        found[threshold] = (
            "only VIDEOS datasets use it; an image is corrupt when it does not decode"
        )
    for i, entry in enumerate(cfg.selection.strategies):
        if entry.input.dataset_id:
            found[f"selection.strategies[{i}].input.dataset_id"] = (
                "one dataset per Lightly datasource: tag_name is looked up in this one"
            )
    if object_task(cfg) is None:
        for key in ("worker.crops.enable_upload", "worker.crops.enable_upload_for_tasks"):
            if _get(cfg, key) != _get(defaults, key):
                found[key] = "only a selection of object crops (EMBEDDINGS with task) writes crops"
    if cfg.worker.datasource.process_all and not cfg.worker.use_datapool:
        found["worker.datasource.process_all"] = (
            "without worker.use_datapool every run processes all samples"
        )
    return found


def _get(obj: object, dotted: str) -> object:
    for name in dotted.split("."):
        obj = getattr(obj, name)
    return obj


def _validate_selection_extras(cfg: RunConfig) -> None:
    regex = cfg.selection.lightly_path_regex
    if regex is not None:
        try:
            re.compile(regex)
        except re.error as exc:
            raise ConfigError(
                f"selection.lightly_path_regex is not a valid regular expression ({exc}): {regex!r}"
            ) from None


def _validate_report(cfg: RunConfig) -> None:
    report = cfg.report
    if report.n_example_images < 0:
        raise ConfigError(
            f"report.n_example_images must be >= 0 (0: no examples), got {report.n_example_images}"
        )
    if report.template_dir and not Path(report.template_dir).is_dir():
        raise ConfigError(f"report.template_dir is not a folder: {report.template_dir}")
    if not 16 <= report.thumbnail_size <= 1024:
        raise ConfigError(
            f"report.thumbnail_size must be between 16 and 1024 pixels, got {report.thumbnail_size}"
        )


def _validate_worker(cfg: RunConfig, sources: Datasources) -> None:
    worker = cfg.worker
    if worker.pretagging:
        raise ConfigError(
            "worker.pretagging: true needs Lightly's built-in pretagging detector, which "
            "lightly-runner does not have; set it to false and give your own detections as a "
            "prediction task in .lightly/predictions/ (docs/inputs.md)"
        )
    check_video_options(frame_stride=worker.video.frame_stride, target_fps=worker.video.target_fps)
    check_sequence_selection(cfg.selection, worker.selected_sequence_length)
    if worker.selected_sequence_length > 1 and worker.use_datapool:
        raise ConfigError(
            "worker.selected_sequence_length > 1 cannot be combined with worker.use_datapool yet"
        )
    if worker.selected_sequence_length > 1 and cfg.dataset.type is not DatasetType.VIDEOS:
        raise ConfigError("worker.selected_sequence_length > 1 needs dataset.type=VIDEOS")
    for key, value in (
        ("worker.num_processes", worker.num_processes),
        ("worker.num_threads", worker.num_threads),
    ):
        if value < -1:
            raise ConfigError(f"{key} must be >= -1 (-1: automatic), got {value}")
    if worker.output_image_format.lower() not in IMAGE_FORMATS:
        raise ConfigError(
            f"invalid worker.output_image_format {worker.output_image_format!r}; "
            f"allowed: {', '.join(IMAGE_FORMATS)}"
        )
    if not 0.0 <= worker.corruptness_check.corruption_threshold <= 1.0:
        raise ConfigError("worker.corruptness_check.corruption_threshold must be in [0, 1]")
    check_model_sources(cfg, lightly_dir=sources.lightly_dir, dot_lightly=sources.dot_lightly)


def _validate_lightly(cfg: RunConfig) -> None:
    lightly = cfg.lightly
    resolve_model(lightly.model, seed=lightly.seed, checkpoint=cfg.worker.checkpoint)
    if lightly.loader.batch_size < 1:
        raise ConfigError("lightly.loader.batch_size must be >= 1")
    if lightly.loader.num_workers < -1:
        raise ConfigError("lightly.loader.num_workers must be >= -1 (-1 = one per CPU core)")
    if not 16 <= lightly.collate.input_size <= 1024:
        raise ConfigError("lightly.collate.input_size must be between 16 and 1024 pixels")
    if str(lightly.trainer.precision) not in PRECISIONS:
        raise ConfigError(
            f"invalid lightly.trainer.precision '{lightly.trainer.precision}'; "
            f"allowed: {', '.join(PRECISIONS)}"
        )
    if lightly.trainer.gpus < 0:
        raise ConfigError(f"lightly.trainer.gpus must be >= 0 (0: CPU), got {lightly.trainer.gpus}")
    if lightly.trainer.max_epochs < 0:
        raise ConfigError(
            f"lightly.trainer.max_epochs must be >= 0, got {lightly.trainer.max_epochs}"
        )
    plan_device(lightly.trainer)  # accelerator and visible GPUs, before any work
    check_launched_run(cfg)
