"""Checks across the whole config that must pass before any work starts.

Each stage validates its own slice (paths in ``datasource.lightly_dir``, strategies in
``selection.strategies``); this module calls them in order and adds the checks for options
this version accepts (so Lightly dicts load) but cannot honour yet.
"""

from __future__ import annotations

from pathlib import Path

from runner.config import DatasetType, RunConfig
from runner.datasource.lightly_dir import (
    Datasources,
    resolve_datasources,
    resolve_relevant_filenames,
)
from runner.datasource.sequences import check_sequence_selection
from runner.datasource.video_samples import check_video_options
from runner.embedding.models import get_spec, resolve_weights
from runner.errors import ConfigError
from runner.selection.strategies import validate_selection

PRECISIONS = ("auto", "32", "16", "bf16")


def validate_run_config(cfg: RunConfig) -> Datasources:
    """Validate everything a run needs; return the resolved datasources.

    Raises:
        ConfigError: the first problem found, as one line.
    """
    sources = resolve_datasources(cfg.mounts, cfg.datasource)
    sources.check_writable_folders(cfg.datasource.thumbnail_suffix)
    resolve_relevant_filenames(cfg.worker.relevant_filenames_file, sources.lightly_dir)
    validate_selection(cfg.selection)
    _validate_worker(cfg, sources)
    _validate_lightly(cfg)
    return sources


def _validate_worker(cfg: RunConfig, sources: Datasources) -> None:
    worker = cfg.worker
    unsupported = {
        "worker.enable_training": worker.enable_training,
        "worker.embeddings": bool(worker.embeddings),
    }
    for key, is_set in unsupported.items():
        if is_set:
            raise ConfigError(f"{key} is not supported yet by lightly-runner; remove it")
    check_video_options(frame_stride=worker.video.frame_stride, target_fps=worker.video.target_fps)
    check_sequence_selection(cfg.selection, worker.selected_sequence_length)
    if worker.selected_sequence_length > 1 and worker.use_datapool:
        raise ConfigError(
            "worker.selected_sequence_length > 1 cannot be combined with worker.use_datapool yet"
        )
    if worker.selected_sequence_length > 1 and cfg.dataset.type is not DatasetType.VIDEOS:
        raise ConfigError("worker.selected_sequence_length > 1 needs dataset.type=VIDEOS")
    if not 0.0 <= worker.corruptness_check.corruption_threshold <= 1.0:
        raise ConfigError("worker.corruptness_check.corruption_threshold must be in [0, 1]")
    if worker.checkpoint:
        resolve_checkpoint(worker.checkpoint, sources.lightly_dir)


def resolve_checkpoint(value: str, lightly_dir: Path) -> Path:
    """``worker.checkpoint``: an absolute path, or a path relative to the Lightly datasource."""
    path = Path(value) if Path(value).is_absolute() else lightly_dir / value
    if not path.is_file():
        raise ConfigError(f"worker.checkpoint not found: {path}")
    return path


def _validate_lightly(cfg: RunConfig) -> None:
    lightly = cfg.lightly
    get_spec(lightly.model.name)
    resolve_weights(lightly.model, seed=lightly.seed)  # pretrained weights must be on disk
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
    if lightly.trainer.devices != 1:
        raise ConfigError(
            "lightly.trainer.devices must be 1 (multi-device embedding breaks Hydra sweeps)"
        )
