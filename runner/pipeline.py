"""The pipeline: discover → inspect → deduplicate → (train) → embed → select → artifacts → report.

``run(cfg)`` reads as the product; each stage lives in its own module, has one public function
and reads only its own slice of the config. The helpers below only group stages that share
their inputs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.artifacts.frames import export_frames
from runner.artifacts.lightly_thumbnails import thumbnail_paths, write_lightly_thumbnails
from runner.artifacts.outputs import write_run_outputs
from runner.artifacts.projection import write_projection
from runner.artifacts.run_dir import RunDirectory
from runner.artifacts.stages import StageClock, log_to_file
from runner.artifacts.video_timeline import video_timeline
from runner.config import RunConfig
from runner.crops.embed import embed_crops
from runner.crops.inputs import crop_resolver
from runner.crops.objects import CropSet
from runner.crops.outputs import publish_crops
from runner.crops.plan import plan_crops
from runner.datasource import datapool
from runner.datasource.lightly_dir import Datasources
from runner.datasource.sequences import (
    build_sequences,
    sequence_selection_config,
    write_sequence_information,
)
from runner.datasource.tags import tag_resolver
from runner.embedding.embed import EmbeddingResult, embed
from runner.embedding.frame_thumbnails import THUMBNAIL_SIZE, FrameThumbnailCache
from runner.embedding.from_csv import load_embeddings_csv
from runner.errors import ConfigError, UserError
from runner.inputs.report import InputReport
from runner.inputs.resolve import build_resolver
from runner.inputs.values import InputResolver
from runner.prepare import Prepared, prepare
from runner.progress import NO_PROGRESS, Progress, StageProgress
from runner.report.analysis import analyze, example_keys, read_projection_xy
from runner.report.analysis_parts import ClassCounts
from runner.report.render import render_report
from runner.report.thumbnails import make_thumbnails
from runner.selection.resolve import QueryKeys
from runner.selection.select import SelectionResult, select
from runner.training.checkpoints import checkpoint_to_load
from runner.training.on_crops import training_samples
from runner.validate import no_effect_keys, validate_run_config
from runner.write_paths import contained

if TYPE_CHECKING:  # training loads torch and Lightning: only when a run trains
    from runner.training.train import TrainedBackbone

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    run_dir: Path
    n_selected: int
    report_warning: str | None


def run(
    cfg: RunConfig,
    *,
    config_dict: dict[str, Any],
    progress: Progress = NO_PROGRESS,
    run_id: str | None = None,
) -> RunOutcome:
    """Run one selection job end to end and publish its run directory.

    Args:
        cfg: The validated-by-schema config of the job.
        config_dict: The same config as plain data (for ``config.yaml`` and ``report.json``).
        progress: Who shows each stage's progress (the console, or nobody).
        run_id: The run's id when the caller chose it (the Python API's scheduled run id).
    """
    sources = validate_run_config(cfg)
    run_dir = RunDirectory.create(sources.runs_dir, run_id)
    clock = StageClock(progress)
    with log_to_file(contained(run_dir.path, "log.txt")):
        try:
            log.info(
                "run %s: input %s, Lightly datasource %s",
                run_dir.run_id,
                sources.input_dir,
                sources.lightly_dir,
            )
            no_effect = no_effect_keys(cfg)
            for key, reason in no_effect.items():
                log.warning("%s: accepted, no effect (%s)", key, reason)
            prepared = prepare(cfg, sources, clock)
            crops = plan_crops(cfg, sources, prepared)  # None unless objects are selected
            if crops is None:
                resolve_input, inputs = build_resolver(
                    keys=[s.key for s in prepared.usable],
                    dot_lightly=sources.dot_lightly,
                    infos=prepared.infos,
                    video_of=prepared.video_of(sources.input_dir),
                    paths={s.key: s.path for s in prepared.usable if s.frame_index is None},
                )
            else:
                resolve_input, inputs = crop_resolver(
                    crops, dot_lightly=sources.dot_lightly, selection=cfg.selection
                )
            trained = train_backbone(cfg, sources, run_dir, prepared, crops, clock)
            with clock.stage("embed") as embed_progress:
                embedded = embed_candidates(cfg, sources, prepared, crops, trained, embed_progress)
            with clock.stage("select") as select_progress:
                chosen = choose(
                    cfg,
                    embedded,
                    prepared,
                    resolve_input,
                    tag_resolver(sources.dot_lightly),
                    select_progress,
                )
            log.info(
                "selected %d of %d candidates (%s)",
                len(chosen.selected),
                len(embedded.keys) - len(_preselected_rows(embedded, prepared.pool)),
                chosen.result.stopped_by,
            )
            publish(
                cfg,
                config_dict,
                sources,
                run_dir,
                clock,
                prepared,
                embedded,
                chosen,
                inputs,
                no_effect,
                crops,
                trained,
            )
            with clock.stage("report") as report_progress:
                rendered = render_report(
                    run_dir.path,
                    template_dir=cfg.report.template_dir,
                    title=cfg.report.title,
                    pdf_required=cfg.report.pdf_required,
                    reuse_dir=contained(sources.cache_dir, "reports"),
                    progress=report_progress,
                )
            if rendered.warning:
                log.warning("%s", rendered.warning)
            update_datapool(cfg, sources, run_dir.run_id, prepared, chosen.selected)
        except UserError as err:
            log.error("run %s failed: %s", run_dir.run_id, err)
            run_dir.fail()
            raise
        except BaseException:
            log.exception("run %s failed", run_dir.run_id)
            run_dir.fail()
            raise
    final = run_dir.finish()
    return RunOutcome(run_dir.run_id, final, len(chosen.selected), rendered.warning)


def embed_share(cfg: RunConfig, progress: Progress = NO_PROGRESS) -> int:
    """A helper process of a multi-process run: embed this process's share, publish nothing.

    Prepares the same samples as rank 0 (discovery and inspection are deterministic and
    cached), runs the embedding pass, whose Trainer joins rank 0's process group and writes
    this rank's shards into the shared cache, and returns the number of samples prepared. Rank
    0 reads every rank's shards and publishes the run (see :mod:`runner.embedding.ranks`).
    Launched runs never train or select crops (every rank refuses them in validation:
    :func:`runner.training.checks.check_launched_run`), so the share is whole samples.
    """
    sources = validate_run_config(cfg)
    clock = StageClock(progress)
    prepared = prepare(cfg, sources, clock)
    with clock.stage("embed") as embed_progress:
        embed_candidates(cfg, sources, prepared, None, None, embed_progress, share_only=True)
    return len(prepared.usable)


@dataclass(frozen=True)
class Chosen:
    """The selection: the engine's result, the selected keys, and frame groups of sequences."""

    result: SelectionResult
    selected: list[str]
    sequences: list[list[str]]


def choose(
    cfg: RunConfig,
    embedded: EmbeddingResult,
    prepared: Prepared,
    resolve_input: InputResolver,
    query_keys: QueryKeys,
    progress: StageProgress = NO_PROGRESS,
) -> Chosen:
    """Select samples, or whole sequences of frames when ``selected_sequence_length`` > 1."""
    preselected = _preselected_rows(embedded, prepared.pool)
    length = cfg.worker.selected_sequence_length
    if length <= 1:
        result = select(
            embeddings=embedded.embeddings,
            cfg=cfg.selection,
            seed=cfg.lightly.seed,
            preselected=preselected,
            keys=embedded.keys,
            resolve_input=resolve_input,
            query_keys=query_keys,
            progress=progress,
        )
        return Chosen(result, [embedded.keys[i] for i in result.indices], [])
    seqs = build_sequences(
        embedded.keys, embedded.embeddings, length=length, normalize=cfg.worker.normalize_embeddings
    )
    result = select(
        embeddings=seqs.embeddings,
        cfg=sequence_selection_config(cfg.selection, length),
        seed=cfg.lightly.seed,
        progress=progress,
    )
    groups = [list(seqs.members[i]) for i in result.indices]
    return Chosen(result, seqs.expand(result.indices), groups)


def publish(
    cfg: RunConfig,
    config_dict: dict[str, Any],
    sources: Datasources,
    run_dir: RunDirectory,
    clock: StageClock,
    prepared: Prepared,
    embedded: EmbeddingResult,
    chosen: Chosen,
    inputs: InputReport,
    no_effect: dict[str, str],
    crops: CropSet | None = None,
    trained: TrainedBackbone | None = None,
) -> None:
    """Write the run's files: thumbnails, frames or crops, projection, analysis, then
    report.json."""
    selected = chosen.selected
    by_key = {s.key: s for s in prepared.usable}
    videos = prepared.video_infos
    frame_thumbnails = _frame_thumbnails(sources, prepared)
    # Video frames: what the embedding pass wrote while decoding each frame, by key.
    decoded = frame_thumbnails.paths(prepared.hashes) if frame_thumbnails is not None else None
    with clock.stage("thumbnails") as progress:
        write_lightly_thumbnails(
            prepared.usable,
            lightly_dir=sources.lightly_dir,
            suffix=cfg.datasource.thumbnail_suffix,
            num_threads=cfg.lightly.loader.num_workers,
            videos=videos,
            cached=decoded,
            progress=progress,
        )
    with clock.stage("artifacts") as progress:
        video_report = None
        if videos is not None and prepared.videos is not None:
            exported = export_frames(
                [by_key[k] for k in selected],
                lightly_dir=sources.lightly_dir,
                videos=videos,
                run_id=run_dir.run_id,
                num_threads=cfg.lightly.loader.num_workers,
                progress=progress,
            )
            usable_videos = prepared.videos.inspection.usable()
            if chosen.sequences:
                write_sequence_information(
                    contained(run_dir.path, "sequence_information.json"),
                    chosen.sequences,
                    usable_videos,
                )
            video_report = {
                "timeline": video_timeline(selected, usable_videos),
                "frames": {
                    "written": len(exported.written),
                    "kept": len(exported.kept),
                    "removed": len(exported.removed),
                    "failed": len(exported.failed),
                },
                "frame_stride": cfg.worker.video.frame_stride,
                "target_fps": cfg.worker.video.target_fps,
                "sequence_length": cfg.worker.selected_sequence_length,
            }
        progress.expect(2)  # the embedding map and the analysis, then each report thumbnail
        projection = write_projection(
            run_dir.path, keys=embedded.keys, embeddings=embedded.embeddings, seed=cfg.lightly.seed
        )
        progress.advance()
        row = {key: i for i, key in enumerate(embedded.keys)}
        analysis = analyze(
            keys=embedded.keys,
            embeddings=embedded.embeddings,
            selected_indices=[row[k] for k in selected],
            projection_xy=read_projection_xy(projection),
            seed=cfg.lightly.seed,
            n_examples=cfg.report.n_example_images,
            class_counts=_class_counts(inputs, embedded.keys),
        )
        progress.advance()
        shown = list(
            dict.fromkeys([*selected[: cfg.report.n_example_images], *example_keys(analysis)])
        )
        thumbnails = make_thumbnails(
            keys=shown,
            input_dir=sources.input_dir,
            sources=(decoded or _small_images(cfg, sources, shown))
            if crops is None
            else crops.paths(),
            boxes=None if crops is None else crops.boxes(),
            out_dir=contained(run_dir.path, "thumbnails"),
            size=cfg.report.thumbnail_size,
            progress=progress,
        )
        crop_section = None
        if crops is not None:
            crop_section = publish_crops(
                crops,
                selected=selected,
                shown=shown,
                run_dir=run_dir.path,
                lightly_dir=sources.lightly_dir,
                cfg=cfg.worker.crops,
                progress=progress,
            )
    write_run_outputs(
        run_dir=run_dir,
        cfg=cfg,
        config_dict=config_dict,
        sources=sources,
        prepared=prepared,
        embedded=embedded,
        selection=chosen.result,
        selected=selected,
        thumbnails=thumbnails,
        timings=clock.timings,
        analysis=analysis,
        inputs=_inputs_section(inputs, selected),
        datapool=_datapool_summary(prepared.pool),
        videos=video_report,
        no_effect=no_effect,
        crops=crop_section,
        hashes=None if crops is None else crops.hashes,
        training=trained.summary if trained else None,
    )


def update_datapool(
    cfg: RunConfig, sources: Datasources, run_id: str, prepared: Prepared, selected: list[str]
) -> None:
    """Record this run's selection and processed samples in the datapool (when enabled)."""
    if prepared.pool is None or not cfg.worker.datasource.enable_datapool_update:
        return
    datapool.update(
        datapool.load_state(sources.dot_lightly),
        dot_lightly=sources.dot_lightly,
        run_id=run_id,
        dataset_type=cfg.dataset.type.value,
        selected=selected,
        processed=prepared.pool.candidates,
        hashes=prepared.hashes,
    )


def _class_counts(inputs: InputReport, keys: list[str]) -> dict[str, ClassCounts]:
    """Per prediction task, objects per class aligned with ``keys`` (for the balance metric)."""
    out = {}
    for task, counts in inputs.class_counts.items():
        row = {key: i for i, key in enumerate(counts.keys)}
        order = [row[key] for key in keys]
        out[task] = ClassCounts(names=tuple(counts.categories), counts=counts.counts[order])
    return out


def _inputs_section(inputs: InputReport, selected: list[str]) -> dict[str, Any]:
    """``report.json["inputs"]``: class counts per task before/after, and what each input read."""
    loaded = inputs.to_dict(selected=selected)
    section: dict[str, Any] = {}
    if loaded["class_distribution"]:
        section["predictions"] = {
            task: {"class_counts": counts} for task, counts in loaded["class_distribution"].items()
        }
    if loaded["inputs"]:
        section["sources"] = loaded["inputs"]
    return section


def _frame_thumbnails(sources: Datasources, prepared: Prepared) -> FrameThumbnailCache | None:
    """The cache of frame thumbnails the embedding pass writes (None for images)."""
    if prepared.videos is None:
        return None
    return FrameThumbnailCache(sources.cache_dir / "frame_thumbnails")


def _small_images(cfg: RunConfig, sources: Datasources, keys: list[str]) -> dict[str, Path]:
    """Lightly thumbnails to shrink for the report instead of decoding full images again."""
    if cfg.report.thumbnail_size > THUMBNAIL_SIZE:
        return {}
    return thumbnail_paths(
        keys, lightly_dir=sources.lightly_dir, suffix=cfg.datasource.thumbnail_suffix
    )


def train_backbone(
    cfg: RunConfig,
    sources: Datasources,
    run_dir: RunDirectory,
    prepared: Prepared,
    crops: CropSet | None,
    clock: StageClock,
) -> TrainedBackbone | None:
    """``worker.enable_training``: fine-tune the backbone on the candidates, or on the object
    crops of ``worker.training.task_name`` (else None)."""
    if not cfg.worker.enable_training:
        return None
    task_name = cfg.worker.training.task_name
    with clock.stage("train") as progress:
        from runner.training.train import train

        return train(
            training_samples(prepared.usable, task_name=task_name, crops=crops),
            cfg=cfg.lightly,
            crop_task=task_name or None,
            start_from=_checkpoint(cfg, sources),
            dot_lightly=sources.dot_lightly,
            run_dir=run_dir.path,
            run_id=run_dir.run_id,
            videos=prepared.video_infos,
            progress=progress,
        )


def embed_candidates(
    cfg: RunConfig,
    sources: Datasources,
    prepared: Prepared,
    crops: CropSet | None,
    trained: TrainedBackbone | None,
    progress: StageProgress,
    *,
    share_only: bool = False,
) -> EmbeddingResult:
    """Embed the samples (or the object crops of a crop selection) with the (trained) model,
    or read the user's ``worker.embeddings`` (``share_only``: a helper rank's part)."""
    if cfg.worker.embeddings:
        if crops is not None:
            raise ConfigError("worker.embeddings cannot be combined with a crop selection yet")
        return load_embeddings_csv(
            cfg.worker.embeddings,
            lightly_dir=sources.lightly_dir,
            keys=[s.key for s in prepared.usable],
            normalize=cfg.worker.normalize_embeddings,
        )
    checkpoint = str((trained.checkpoint if trained else _checkpoint(cfg, sources)) or "")
    cache_dir = contained(sources.cache_dir, "embeddings")
    normalize = cfg.worker.normalize_embeddings
    if crops is not None:
        return embed_crops(
            crops,
            cfg=cfg.lightly,
            checkpoint=checkpoint,
            cache_dir=cache_dir,
            normalize=normalize,
            progress=progress,
        )
    return embed(
        prepared.usable,
        content_hashes=prepared.hashes,
        cfg=cfg.lightly,
        checkpoint=checkpoint,
        cache_dir=cache_dir,
        normalize=normalize,
        videos=prepared.video_infos,
        frame_thumbnails=_frame_thumbnails(sources, prepared),
        spool=prepared.spool,
        share_only=share_only,
        progress=progress,
    )


def _checkpoint(cfg: RunConfig, sources: Datasources) -> Path | None:
    return checkpoint_to_load(
        cfg.worker, lightly_dir=sources.lightly_dir, dot_lightly=sources.dot_lightly
    )


def _preselected_rows(embedded: EmbeddingResult, pool: datapool.DatapoolPlan | None) -> list[int]:
    if pool is None:
        return []
    row = {key: i for i, key in enumerate(embedded.keys)}
    return [row[key] for key in pool.preselected]


def _datapool_summary(pool: datapool.DatapoolPlan | None) -> dict[str, Any]:
    if pool is None:
        return {"enabled": False, "preselected": []}
    return {
        "enabled": True,
        "preselected": pool.preselected,
        "candidates": len(pool.candidates),
        "skipped_processed_before": len(pool.skipped_processed),
        "missing": pool.missing,
    }
