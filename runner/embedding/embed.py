"""The embedding stage: every sample to one row, computed once per content.

Rows are cached by file content hash and model fingerprint in shards (see
:mod:`runner.embedding.cache`); only samples whose content is not cached go through
``Trainer.predict`` (:mod:`runner.embedding.predict`, the only part that loads torch and
Lightning), which streams each batch's rows into the cache as it completes. A killed run keeps
every shard it committed, and its rerun embeds only what is missing.

The result is one float16 memory map of the run's rows in key order, the single copy that
selection and the artifacts read; a first run and a rerun return the same bytes.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from runner.config import LightlyConfig
from runner.datasource.sample import Sample
from runner.decode.spool import InputSpool
from runner.decode.video import VideoInfo
from runner.embedding.cache import EmbeddingCache, shard_folder
from runner.embedding.cache_lock import cache_lock
from runner.embedding.device import DevicePlan, plan_device
from runner.embedding.frame_thumbnails import THUMBNAIL_SIZE, FrameThumbnailCache
from runner.embedding.model_choice import ResolvedModel, resolve_model
from runner.embedding.specs import (
    model_fingerprint,
)
from runner.errors import ConfigError
from runner.progress import NO_PROGRESS, StageProgress
from runner.write_paths import contained

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddingResult:
    """The embeddings of one run, sorted by key.

    Attributes:
        keys: Sample keys, sorted; row ``i`` of ``embeddings`` belongs to ``keys[i]``.
        embeddings: (N, D) float16, a read-only memory map; rows L2-normalised (before the
            rounding to float16) when normalisation was asked for.
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
class EmbeddingJob:
    """Everything about the model decided before any sample is looked at."""

    cfg: LightlyConfig
    model: ResolvedModel
    checkpoint: Path | None
    device: DevicePlan
    normalize: bool
    fingerprint: str
    work_dir: Path

    @property
    def embedding_dim(self) -> int:
        return self.model.embedding_dim

    def describe(self) -> dict[str, object]:
        """Model facts for ``report.json``."""
        return {
            "name": self.model.name,
            "requested_name": self.model.requested,
            "embedding_dim": self.embedding_dim,
            "input_size": self.cfg.collate.input_size,
            "device": self.device.device_type,
            "precision": self.device.precision,
            "fingerprint": self.fingerprint,
            "weights": self.model.weights.describe(),
            "provenance": self.model.provenance,
            "substitution": self.model.notice,
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
    spool: InputSpool | None = None,
    share_only: bool = False,
    progress: StageProgress = NO_PROGRESS,
) -> EmbeddingResult:
    """Embed ``samples``, reusing cached rows for content embedded before with the same model.

    With several processes (``lightly.trainer.devices`` x ``num_nodes`` > 1) every rank embeds
    its share of what is missing and writes its own shards; this process (rank 0) then reads
    them all, and embeds itself whatever no rank delivered (a rank that saw another cache state,
    or died), so the result equals one process's.

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
        spool: Model inputs the inspection already decoded, by content hash; a sample found
            there is not decoded again.
        share_only: This is a helper rank (:mod:`runner.embedding.ranks`): embed its share
            and return without reading rows back (``embeddings`` is then ``(0, D)``).
        progress: Told when the model starts loading, then of every sample to embed.

    Returns:
        Keys and rows sorted by key, model facts and cache statistics.

    Raises:
        ConfigError: Unknown model, missing weights or checkpoint, bad loader/trainer values.
        DataError: A file changed or became unreadable during the run.
    """
    keys = _sorted_keys(samples, content_hashes)
    job = _plan(cfg, checkpoint=checkpoint, normalize=normalize, work_dir=cache_dir)
    folder = shard_folder(cache_dir, job.fingerprint)
    # Jobs of a parallel sweep embed each sample once: one computes, the others wait and
    # then find it cached. A helper rank never waits: rank 0 may hold the lock while it waits
    # for this rank in a collective operation.
    lock_file = contained(cache_dir, f"{folder.name}.lock")
    with contextlib.nullcontext() if share_only else cache_lock(lock_file):
        cache = EmbeddingCache.open(folder, dim=job.embedding_dim)
        hashes = [content_hashes[k] for k in keys]
        cached = cache.lookup(hashes) >= 0  # (N,)
        wanted = {h for h, hit in zip(hashes, cached.tolist(), strict=True) if not hit}
        if frame_thumbnails is not None:
            wanted |= {content_hashes[k] for k in frame_thumbnails.missing(keys, content_hashes)}
        todo = _one_sample_per_content(samples, content_hashes, wanted)
        missing = functools.partial(
            _embed_missing,
            folder=folder,
            content_hashes=content_hashes,
            videos=videos,
            frame_thumbnails=frame_thumbnails,
            spool=spool,
            progress=progress,
        )
        try:
            if todo:
                missing(todo, job)
            if share_only:
                return EmbeddingResult(keys, np.zeros((0, job.embedding_dim), np.float16), {}, 0, 0)
            if todo:  # read again: every rank's shards are in now
                cache = EmbeddingCache.open(folder, dim=job.embedding_dim)
                gaps = [s for s in todo if cache.lookup([content_hashes[s.key]])[0] < 0]
                if gaps and job.device.world_size > 1:
                    log.warning("%d samples no rank delivered: embedding them here", len(gaps))
                    missing(gaps, replace(job, device=job.device.single()))
                    cache = EmbeddingCache.open(folder, dim=job.embedding_dim)
        finally:
            if spool is not None:
                spool.remove()  # consumed: the inspection made it for this pass only
    try:
        rows = cache.gather(hashes)  # (N, D) float16
    except KeyError as exc:
        raise RuntimeError(f"the embedding pass left samples out: {exc}") from None
    n_hits = int(cached.sum())
    log.info("embeddings: %d cached, %d computed", n_hits, len(todo))
    return EmbeddingResult(
        keys=keys,
        embeddings=rows,
        model=job.describe(),
        cache_hits=n_hits,
        cache_misses=len(keys) - n_hits,
    )


def _embed_missing(
    todo: list[Sample],
    job: EmbeddingJob,
    *,
    folder: Path,
    content_hashes: Mapping[str, str],
    videos: Mapping[Path, VideoInfo] | None,
    frame_thumbnails: FrameThumbnailCache | None,
    spool: InputSpool | None,
    progress: StageProgress,
) -> None:
    """Run the model over ``todo``; its rows land in the cache ``folder`` as shards."""
    progress.note(f"loading torch and model {job.model.name} on {job.device.device_type}")
    from runner.embedding.predict import predict  # torch and Lightning: only when needed

    predict(
        todo,
        job=job,
        folder=folder,
        content_hashes=content_hashes,
        writer=f"{os.getpid()}{secrets.token_hex(4)}",
        videos=videos,
        thumbnails=(
            {s.key: frame_thumbnails.path(content_hashes[s.key]) for s in todo}
            if frame_thumbnails is not None
            else {}
        ),
        thumbnail_size=frame_thumbnails.size if frame_thumbnails else THUMBNAIL_SIZE,
        spool=spool,
        progress=progress,
    )


def _plan(cfg: LightlyConfig, *, checkpoint: str, normalize: bool, work_dir: Path) -> EmbeddingJob:
    """Validate the config slice and fix model, weights, device and fingerprint."""
    if cfg.collate.input_size < 1:
        raise ConfigError(f"lightly.collate.input_size={cfg.collate.input_size}: must be >= 1")
    model = resolve_model(cfg.model, seed=cfg.seed, checkpoint=checkpoint)
    if model.notice:
        log.warning("%s", model.notice)
    log.info("embeddings: %s", model.provenance)
    ckpt = _checkpoint_path(checkpoint)
    device = plan_device(cfg.trainer)
    fingerprint = model_fingerprint(
        name=model.name,
        weights=model.weights,
        checkpoint=ckpt,
        input_size=cfg.collate.input_size,
        precision=device.precision,
        normalize=normalize,
        architecture=model.architecture,
    )
    return EmbeddingJob(cfg, model, ckpt, device, normalize, fingerprint, work_dir)


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


__all__ = ["EmbeddingResult", "embed"]
