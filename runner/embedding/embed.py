"""The embedding stage: every sample to one L2-normalised row, computed once per content.

Rows are cached by file content hash and model fingerprint (see :mod:`runner.embedding.cache`);
only samples whose content is not cached go through ``Trainer.predict``. Values are stored in
float16 and always returned as float32 of those float16 values, so a first run and a rerun
return the same bytes.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning
import numpy as np
from lightning.fabric.utilities.warnings import PossibleUserWarning
from lightning.pytorch import Trainer

from runner.config import LightlyConfig
from runner.datasource.sample import Sample
from runner.decode.video import VideoInfo
from runner.embedding.cache import load_cache, save_cache
from runner.embedding.cache_lock import cache_lock
from runner.embedding.datamodule import EmbeddingDataModule
from runner.embedding.device import DevicePlan, plan_device
from runner.embedding.frame_thumbnails import THUMBNAIL_SIZE, FrameThumbnailCache
from runner.embedding.fuse import optimize_for_inference
from runner.embedding.model import EmbeddingModule
from runner.embedding.models import (
    WeightsSource,
    build_backbone,
    get_spec,
    load_checkpoint,
    model_fingerprint,
    resolve_weights,
)
from runner.embedding.transforms import Preprocess
from runner.embedding.writer import ProgressCallback, ShardWriter, load_shard
from runner.errors import ConfigError
from runner.progress import NO_PROGRESS, StageProgress
from runner.write_paths import contained

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddingResult:
    """The embeddings of one run, sorted by key.

    Attributes:
        keys: Sample keys, sorted; row ``i`` of ``embeddings`` belongs to ``keys[i]``.
        embeddings: (N, D) float32 of float16-rounded values; rows L2-normalised (in float32,
            after the rounding) when normalisation was asked for.
        model: name, embedding_dim, input_size, device, precision, fingerprint, weights,
            checkpoint, normalize (for ``report.json``).
        cache_hits: Samples whose content was already cached.
        cache_misses: Samples whose content had to be embedded.
    """

    keys: list[str]
    embeddings: np.ndarray
    model: dict[str, object]
    cache_hits: int
    cache_misses: int


@dataclass(frozen=True)
class _Job:
    """Everything about the model decided before any sample is looked at."""

    cfg: LightlyConfig
    weights: WeightsSource
    checkpoint: Path | None
    device: DevicePlan
    normalize: bool
    fingerprint: str
    work_dir: Path

    @property
    def embedding_dim(self) -> int:
        return get_spec(self.cfg.model.name).embedding_dim

    def describe(self) -> dict[str, object]:
        """Model facts for ``report.json``."""
        return {
            "name": self.cfg.model.name,
            "embedding_dim": self.embedding_dim,
            "input_size": self.cfg.collate.input_size,
            "device": self.device.device_type,
            "precision": self.device.precision,
            "fingerprint": self.fingerprint,
            "weights": self.weights.describe(),
            "checkpoint": str(self.checkpoint) if self.checkpoint else None,
            "normalize": self.normalize,
        }


def embed(
    samples: Sequence[Sample],
    *,
    content_hashes: Mapping[str, str],
    cfg: LightlyConfig,
    checkpoint: str,
    normalize: bool,
    cache_dir: Path,
    videos: Mapping[Path, VideoInfo] | None = None,
    frame_thumbnails: FrameThumbnailCache | None = None,
    progress: StageProgress = NO_PROGRESS,
) -> EmbeddingResult:
    """Embed ``samples``, reusing cached rows for content embedded before with the same model.

    Args:
        samples: Samples to embed (keys unique; any order): images, or video frames.
        content_hashes: sha256 hex of each sample's content, by key (for frames:
            :func:`runner.datasource.video_samples.frame_content_hashes`).
        cfg: The ``lightly`` config slice (model, loader, trainer, collate, seed).
        checkpoint: ``worker.checkpoint`` path, or "" for the model's own weights.
        normalize: ``worker.normalize_embeddings``.
        cache_dir: Folder of the embedding cache (created if needed).
        videos: Frame table of every video by path (``VideoInspection.infos_by_path()``);
            required when ``samples`` are video frames.
        frame_thumbnails: For video frames: write each decoded frame's thumbnail to this
            cache. A frame whose thumbnail is missing is decoded (and embedded) again even
            when its embedding is cached, so every frame ends with both.
        progress: Told when the model starts loading, then of every sample to embed.

    Returns:
        Keys and rows sorted by key, model facts and cache statistics.

    Raises:
        ConfigError: Unknown model, missing weights or checkpoint, bad loader/trainer values.
        DataError: A file changed or became unreadable during the run.
    """
    keys = _sorted_keys(samples, content_hashes)
    job = _plan(cfg, checkpoint=checkpoint, normalize=normalize, work_dir=cache_dir)
    cache_file = contained(cache_dir, f"{job.fingerprint[:16]}.npz")
    lock_file = contained(cache_dir, f"{job.fingerprint[:16]}.lock")
    with cache_lock(lock_file):  # jobs of a parallel sweep embed each sample once
        table = load_cache(cache_file, dim=job.embedding_dim)
        hashes = [content_hashes[k] for k in keys]
        cached = table.lookup(hashes) >= 0  # (N,)
        wanted = {h for h, hit in zip(hashes, cached.tolist(), strict=True) if not hit}
        if frame_thumbnails is not None:
            wanted |= {content_hashes[k] for k in frame_thumbnails.missing(keys, content_hashes)}
        todo = _one_sample_per_content(samples, content_hashes, wanted)
        if todo:
            thumbnails = (
                {s.key: frame_thumbnails.path(content_hashes[s.key]) for s in todo}
                if frame_thumbnails is not None
                else {}
            )
            # (K,) keys, (K, D) float32 rows
            new_keys, new_rows = _predict(
                todo,
                job=job,
                videos=videos,
                thumbnails=thumbnails,
                thumbnail_size=frame_thumbnails.size if frame_thumbnails else THUMBNAIL_SIZE,
                progress=progress,
            )
            table = table.merged([content_hashes[k] for k in new_keys], new_rows)
            save_cache(cache_file, table)
    rows = table.embeddings[table.lookup(hashes)].astype(np.float32)  # (N, D), fp16 values
    n_hits = int(cached.sum())
    log.info("embeddings: %d cached, %d computed", n_hits, len(todo))
    return EmbeddingResult(
        keys=keys,
        embeddings=_l2_normalize(rows) if normalize else rows,
        model=job.describe(),
        cache_hits=n_hits,
        cache_misses=len(keys) - n_hits,
    )


def _plan(cfg: LightlyConfig, *, checkpoint: str, normalize: bool, work_dir: Path) -> _Job:
    """Validate the config slice and fix model, weights, device and fingerprint."""
    get_spec(cfg.model.name)
    if cfg.collate.input_size < 1:
        raise ConfigError(f"lightly.collate.input_size={cfg.collate.input_size}: must be >= 1")
    weights = resolve_weights(cfg.model, seed=cfg.seed)
    ckpt = _checkpoint_path(checkpoint)
    device = plan_device(cfg.trainer)
    fingerprint = model_fingerprint(
        name=cfg.model.name,
        weights=weights,
        checkpoint=ckpt,
        input_size=cfg.collate.input_size,
        precision=device.precision,
        normalize=normalize,
    )
    return _Job(cfg, weights, ckpt, device, normalize, fingerprint, work_dir)


def _sorted_keys(samples: Sequence[Sample], content_hashes: Mapping[str, str]) -> list[str]:
    keys = sorted(s.key for s in samples)
    duplicates = [a for a, b in itertools.pairwise(keys) if a == b]
    if duplicates:
        raise ValueError(f"duplicate sample keys: {duplicates[:3]}")
    unhashed = [k for k in keys if k not in content_hashes]
    if unhashed:
        raise ValueError(f"no content hash for {len(unhashed)} samples, e.g. {unhashed[0]!r}")
    return keys


def _checkpoint_path(checkpoint: str) -> Path | None:
    if not checkpoint:
        return None
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise ConfigError(f"worker.checkpoint={checkpoint!r}: no such file")
    return path.resolve()


def _one_sample_per_content(
    samples: Sequence[Sample], content_hashes: Mapping[str, str], wanted: set[str]
) -> list[Sample]:
    """Samples whose content is ``wanted``, one per content (the first key wins), by key."""
    chosen: dict[str, Sample] = {}
    for sample in sorted(samples, key=lambda s: s.key):
        digest = content_hashes[sample.key]
        if digest in wanted and digest not in chosen:
            chosen[digest] = sample
    return list(chosen.values())


def _l2_normalize(rows: np.ndarray) -> np.ndarray:
    """Unit rows in float32 (zero rows stay zero). (N, D) -> (N, D)."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)  # (N, 1)
    normalized: np.ndarray = rows / np.maximum(norms, np.float32(1e-12))
    return normalized


@contextlib.contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Silence Lightning's start-up info lines and its num_workers hint for this block."""
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=".*does not have many workers.*", category=PossibleUserWarning
            )
            # Video frames come from an IterableDataset whose exact length is known (each
            # worker batches its own share) and whose batches carry their keys.
            warnings.filterwarnings("ignore", message=".*IterableDataset.*has `__len__` defined.*")
            warnings.filterwarnings("ignore", message=".*infer the batch indices.*")
            # Lightning 2.6 on torch >= 2.10 touches a deprecated pytree class: not ours to fix.
            warnings.filterwarnings(
                "ignore", message=r".*isinstance\(treespec, LeafSpec\).*", category=FutureWarning
            )
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _predict(
    samples: list[Sample],
    *,
    job: _Job,
    videos: Mapping[Path, VideoInfo] | None = None,
    thumbnails: Mapping[str, Path] | None = None,
    thumbnail_size: int = THUMBNAIL_SIZE,
    progress: StageProgress = NO_PROGRESS,
) -> tuple[list[str], np.ndarray]:
    """Run ``Trainer.predict`` over ``samples``; return keys and (K, D) float32 rows by key.

    ``thumbnails`` (frame key -> PNG path, longest side ``thumbnail_size``) are written by
    the workers as they decode.
    """
    cfg = job.cfg
    progress.note(f"loading model {cfg.model.name} on {job.device.device_type}")
    lightning.seed_everything(cfg.seed, verbose=False)
    backbone = build_backbone(cfg.model.name, job.weights, input_size=cfg.collate.input_size)
    if job.checkpoint is not None:
        load_checkpoint(backbone.module, job.checkpoint)
    optimize_for_inference(backbone.module)  # after all weights are in: folds batch norms
    on_cuda = job.device.device_type == "cuda"
    # NHWC: tensor cores on CUDA; on the CPU oneDNN's depthwise convolutions (EfficientNet)
    # run about twice as fast in it (measured on 2 cores).
    module = EmbeddingModule(backbone.module, normalize=job.normalize, channels_last=True)
    preprocess = Preprocess(size=cfg.collate.input_size, mean=backbone.mean, std=backbone.std)
    data = EmbeddingDataModule(
        samples,
        loader=cfg.loader,
        preprocess=preprocess,
        pin_memory=on_cuda,
        videos=videos,
        thumbnails=thumbnails,
        thumbnail_size=thumbnail_size,
    )
    job.work_dir.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix=".shards-", dir=job.work_dir) as tmp,
        _quiet_lightning(),
    ):
        trainer = Trainer(
            accelerator=job.device.accelerator,
            devices=job.device.devices,
            strategy=job.device.strategy,
            precision=job.device.precision,  # type: ignore[arg-type]
            callbacks=[ShardWriter(Path(tmp)), ProgressCallback(progress, len(samples))],
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=False,  # the stage's progress shows it, like every stage's
        )
        trainer.predict(module, datamodule=data, return_predictions=False)
        keys, rows = _merge_shards(Path(tmp))
    expected = {s.key for s in samples}
    if set(keys) != expected:
        raise RuntimeError(f"predict returned {len(keys)} keys for {len(expected)} samples")
    return keys, rows


def _merge_shards(directory: Path) -> tuple[list[str], np.ndarray]:
    """Concatenate every rank's shard, drop duplicate keys (sampler padding), sort by key."""
    rows_by_key: dict[str, np.ndarray] = {}
    for path in sorted(directory.glob("shard-*.npz")):
        keys, rows = load_shard(path)
        for key, row in zip(keys, rows, strict=True):
            rows_by_key.setdefault(key, row)
    keys = sorted(rows_by_key)
    if not keys:
        return [], np.zeros((0, 0), dtype=np.float32)
    return keys, np.stack([rows_by_key[k] for k in keys])  # (K, D)


__all__ = ["EmbeddingResult", "embed"]
