"""Discover → inspect → deduplicate → datapool: what a run may embed and select.

Images and video frames take different routes (an image is decoded once by the corruptness
check, which also writes its Lightly thumbnail and spools its model input; a video is probed
and its frames checked by ``prepare_frames``) and end in the same :class:`Prepared`, so
everything after this stage is the same for both.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from runner.artifacts.stages import StageClock
from runner.config import DatasetType, RunConfig
from runner.datasource import datapool
from runner.datasource.discover import Discovery, discover
from runner.datasource.duplicates import find_exact_duplicates
from runner.datasource.lightly_dir import Datasources, resolve_relevant_filenames
from runner.datasource.sample import Sample
from runner.datasource.video_samples import VideoCandidates, prepare_frames
from runner.decode.inspect import FileInfo, inspect_files
from runner.decode.spool import InputSpool, SpoolWriter
from runner.decode.uses import DecodeUses, ThumbnailTarget
from runner.decode.video import VideoInfo
from runner.embedding.frame_thumbnails import THUMBNAIL_SIZE
from runner.errors import DataError
from runner.progress import StageProgress
from runner.write_paths import contained

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """The samples a run may use, and what was left out and why.

    Attributes:
        found: discovery's result (samples or videos, skipped files by reason).
        usable: readable, unique samples (pre-selected + candidates), sorted by key.
        hashes: content hash by key (frames: the video's hash + the frame index).
        corrupt: ``corrupt_samples`` (key -> reason); ``corrupt_videos`` likewise.
        duplicates: duplicate key -> the key it duplicates.
        infos: per-image inspection (size, computed metadata); empty for videos.
        inspect_cache_hits: files whose inspection came from the cache.
        videos: the video inspection (frame tables), for VIDEOS datasets.
        pool: the datapool plan when ``worker.use_datapool`` is on.
        spool: model inputs of the images the inspection decoded (embedding consumes it).
    """

    found: Discovery
    usable: list[Sample]
    hashes: dict[str, str]
    corrupt: dict[str, str]
    corrupt_videos: dict[str, str]
    duplicates: dict[str, str]
    infos: Mapping[str, FileInfo] = field(default_factory=dict)
    inspect_cache_hits: int = 0
    videos: VideoCandidates | None = None
    pool: datapool.DatapoolPlan | None = None
    spool: InputSpool | None = None

    @property
    def video_infos(self) -> dict[Path, VideoInfo] | None:
        """Frame tables by video path (what frame readers need), or None for images."""
        return None if self.videos is None else self.videos.inspection.infos_by_path()

    def video_of(self, input_dir: Path) -> dict[str, str]:
        """Frame key -> video key (for per-video metadata files)."""
        return {
            s.key: s.path.relative_to(input_dir).as_posix()
            for s in self.usable
            if s.frame_index is not None
        }


def prepare(cfg: RunConfig, sources: Datasources, clock: StageClock) -> Prepared:
    """Discover, inspect (corruptness, hashes), drop duplicates, apply the datapool."""
    relevant = resolve_relevant_filenames(cfg.worker.relevant_filenames_file, sources.lightly_dir)
    with clock.stage("discover"):
        found = discover(
            sources.input_dir, relevant_filenames_file=relevant, dataset_type=cfg.dataset.type
        )
        for line in found.skip_lines():
            log.info("%s", line)
    with clock.stage("inspect") as progress:
        if cfg.dataset.type is DatasetType.VIDEOS:
            prepared = _videos(cfg, sources, found, progress)
        else:
            prepared = _images(cfg, sources, found, progress)
    if cfg.worker.use_datapool:
        prepared = _apply_datapool(cfg, sources, prepared)
    if not prepared.usable:
        raise DataError("every sample is corrupt or a duplicate; nothing to select from")
    return prepared


def _images(
    cfg: RunConfig, sources: Datasources, found: Discovery, progress: StageProgress
) -> Prepared:
    if not found.samples:
        raise DataError(
            f"no images found in {sources.input_dir} ({found.n_skipped} files skipped, see log.txt)"
        )
    uses = _decode_uses(cfg, sources, n_images=len(found.samples))
    inspection = inspect_files(
        found.samples,
        cache_file=contained(sources.cache_dir, "inspect.json"),
        num_threads=cfg.lightly.loader.num_workers,
        check_corruptness=cfg.worker.enable_corruptness_check,
        uses=uses,
        progress=progress,
    )
    spool = uses.spool.finish() if uses.spool is not None else None
    corrupt = {k: i.error for k, i in inspection.infos.items() if i.error is not None}
    readable = [s for s in found.samples if s.key not in corrupt]
    duplicates = (
        find_exact_duplicates([s.key for s in readable], inspection.infos)
        if cfg.worker.remove_exact_duplicates
        else {}
    )
    return Prepared(
        found=found,
        usable=[s for s in readable if s.key not in duplicates],
        hashes={key: info.sha256 for key, info in inspection.infos.items()},
        corrupt=corrupt,
        corrupt_videos={},
        duplicates=duplicates,
        infos=inspection.infos,
        inspect_cache_hits=inspection.cache_hits,
        spool=spool,
    )


def _decode_uses(cfg: RunConfig, sources: Datasources, *, n_images: int) -> DecodeUses:
    """What the inspection's decode of each new image also feeds: the Lightly thumbnail, and
    the model input while the spool fits its disk budget."""
    size = cfg.lightly.collate.input_size
    folder = contained(sources.cache_dir, "spool")
    fits = SpoolWriter.fits(folder, size=size, count=n_images)
    if not fits:
        log.info("model inputs are decoded again by the embedding pass (no spool at %d px)", size)
    return DecodeUses(
        thumbnails=ThumbnailTarget(
            sources.lightly_dir, cfg.datasource.thumbnail_suffix, THUMBNAIL_SIZE
        ),
        spool=SpoolWriter(folder, size=size) if fits else None,
    )


def _videos(
    cfg: RunConfig, sources: Datasources, found: Discovery, progress: StageProgress
) -> Prepared:
    if not found.videos:
        raise DataError(
            f"no videos found in {sources.input_dir} ({found.n_skipped} files skipped, see log.txt)"
        )
    frames = prepare_frames(
        found.videos,
        cache_file=contained(sources.cache_dir, "video_inspect.json"),
        check_corruptness=cfg.worker.enable_corruptness_check,
        corruption_threshold=cfg.worker.corruptness_check.corruption_threshold,
        num_threads=cfg.lightly.loader.num_workers,
        frame_stride=cfg.worker.video.frame_stride,
        target_fps=cfg.worker.video.target_fps,
        remove_exact_duplicates=cfg.worker.remove_exact_duplicates,
        progress=progress,
    )
    return Prepared(
        found=found,
        usable=frames.samples,
        hashes=frames.content_hashes,
        corrupt=frames.corrupt_samples,
        corrupt_videos=frames.corrupt_videos,
        duplicates=frames.duplicates,
        videos=frames,
    )


def _apply_datapool(cfg: RunConfig, sources: Datasources, prepared: Prepared) -> Prepared:
    pool = datapool.plan(
        datapool.load_state(sources.dot_lightly),
        keys=[s.key for s in prepared.usable],
        hashes=prepared.hashes,
        dataset_type=cfg.dataset.type.value,
        process_all=cfg.worker.datasource.process_all,
    )
    log.info(
        "datapool: %d pre-selected, %d candidates, %d processed before, %d gone",
        len(pool.preselected),
        len(pool.candidates),
        len(pool.skipped_processed),
        len(pool.missing),
    )
    if not pool.candidates:
        raise DataError(
            "no new samples since the last datapool run "
            "(set worker.datasource.process_all=true to process all again)"
        )
    keep = set(pool.preselected) | set(pool.candidates)
    usable = [s for s in prepared.usable if s.key in keep]
    return replace(prepared, usable=usable, pool=pool)
