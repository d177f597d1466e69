"""Embed object crops with the run's model, through the embedding stage and its cache.

Each crop is a :class:`~runner.datasource.sample.Sample` whose ``box`` the dataset cuts out of
the upright image; its cache identity is its ``content_hash`` (the image's bytes, the box and
the padding), so crops share the model's cache file with whole images and crops of another
padding never reuse each other's rows.
"""

from __future__ import annotations

from pathlib import Path

from runner.config import LightlyConfig
from runner.crops.objects import CropSet
from runner.embedding.embed import EmbeddingResult, embed
from runner.progress import NO_PROGRESS, StageProgress


def embed_crops(
    crops: CropSet,
    *,
    cfg: LightlyConfig,
    checkpoint: str,
    normalize: bool,
    cache_dir: Path,
    progress: StageProgress = NO_PROGRESS,
) -> EmbeddingResult:
    """One embedding row per crop, keyed by crop key (see :func:`runner.embedding.embed.embed`)."""
    return embed(
        [crop.sample() for crop in crops.crops],
        content_hashes=crops.hashes,
        cfg=cfg,
        checkpoint=checkpoint,
        normalize=normalize,
        cache_dir=cache_dir,
        progress=progress,
    )
