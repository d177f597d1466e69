"""The pipeline: discover → inspect → deduplicate → embed → select → artifacts → report.

``run(cfg)`` reads as the product; each stage lives in its own module, has one public function
and reads only its own slice of the config. The helpers below only group stages that share
their inputs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.artifacts.lightly_thumbnails import write_lightly_thumbnails
from runner.artifacts.outputs import write_run_outputs
from runner.artifacts.projection import write_projection
from runner.artifacts.run_dir import RunDirectory
from runner.artifacts.stages import StageClock, log_to_file
from runner.config import RunConfig
from runner.datasource import datapool
from runner.datasource.discover import Discovery, discover
from runner.datasource.duplicates import find_exact_duplicates
from runner.datasource.lightly_dir import Datasources, resolve_relevant_filenames
from runner.datasource.sample import Sample
from runner.decode.inspect import Inspection, inspect_files
from runner.embedding.embed import EmbeddingResult, embed
from runner.errors import DataError, UserError
from runner.inputs.resolve import build_resolver
from runner.report.analysis import analyze, example_keys, read_projection_xy
from runner.report.render import render_report
from runner.report.thumbnails import make_thumbnails
from runner.selection.select import SelectionResult, select
from runner.validate import resolve_checkpoint, validate_run_config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    run_dir: Path
    n_selected: int
    report_warning: str | None


@dataclass(frozen=True)
class Prepared:
    """What discovery, inspection, deduplication and the datapool leave to embed and select."""

    found: Discovery
    inspection: Inspection
    corrupt: dict[str, str]
    duplicates: dict[str, str]
    usable: list[Sample]  # readable, unique: pre-selected + candidates, sorted by key
    pool: datapool.DatapoolPlan | None

    @property
    def hashes(self) -> dict[str, str]:
        return {key: info.sha256 for key, info in self.inspection.infos.items()}


def run(cfg: RunConfig, *, config_dict: dict[str, Any]) -> RunOutcome:
    """Run one selection job end to end and publish its run directory."""
    sources = validate_run_config(cfg)
    run_dir = RunDirectory.create(sources.runs_dir)
    clock = StageClock()
    with log_to_file(run_dir.path / "log.txt"):
        try:
            log.info(
                "run %s: input %s, Lightly datasource %s",
                run_dir.run_id,
                sources.input_dir,
                sources.lightly_dir,
            )
            prepared = prepare(cfg, sources, clock)
            keys = [s.key for s in prepared.usable]
            resolve_input, inputs = build_resolver(
                keys=keys,
                dot_lightly=sources.dot_lightly,
                infos=prepared.inspection.infos,
                paths={s.key: s.path for s in prepared.usable},
            )
            with clock.stage("embed"):
                embedded = embed(
                    prepared.usable,
                    content_hashes=prepared.hashes,
                    cfg=cfg.lightly,
                    checkpoint=_checkpoint(cfg, sources),
                    cache_dir=sources.cache_dir / "embeddings",
                    normalize=cfg.worker.normalize_embeddings,
                )
            with clock.stage("select"):
                preselected = _preselected_rows(embedded, prepared.pool)
                selection = select(
                    embeddings=embedded.embeddings,
                    cfg=cfg.selection,
                    seed=cfg.lightly.seed,
                    preselected=preselected,
                )
            selected = [embedded.keys[i] for i in selection.indices]
            log.info(
                "selected %d of %d candidates (%s)",
                len(selected),
                len(keys) - len(preselected),
                selection.stopped_by,
            )
            with clock.stage("thumbnails"):
                write_lightly_thumbnails(
                    prepared.usable,
                    lightly_dir=sources.lightly_dir,
                    suffix=cfg.datasource.thumbnail_suffix,
                    num_threads=cfg.lightly.loader.num_workers,
                )
            publish(
                cfg,
                config_dict,
                sources,
                run_dir,
                clock,
                prepared,
                embedded,
                selection,
                selected,
                inputs.to_dict(selected=selected),
            )
            with clock.stage("report"):
                rendered = render_report(
                    run_dir.path,
                    template_dir=cfg.report.template_dir,
                    title=cfg.report.title,
                    pdf_required=cfg.report.pdf_required,
                )
            if rendered.warning:
                log.warning("%s", rendered.warning)
            update_datapool(cfg, sources, run_dir.run_id, prepared, selected)
        except UserError as err:
            log.error("run %s failed: %s", run_dir.run_id, err)
            run_dir.fail()
            raise
        except BaseException:
            log.exception("run %s failed", run_dir.run_id)
            run_dir.fail()
            raise
    final = run_dir.finish()
    return RunOutcome(run_dir.run_id, final, len(selected), rendered.warning)


def prepare(cfg: RunConfig, sources: Datasources, clock: StageClock) -> Prepared:
    """Discover, inspect (corruptness, hashes), drop duplicates, apply the datapool."""
    relevant = resolve_relevant_filenames(cfg.worker.relevant_filenames_file, sources.lightly_dir)
    with clock.stage("discover"):
        found = discover(sources.input_dir, relevant_filenames_file=relevant)
    if not found.samples:
        raise DataError(
            f"no images found in {sources.input_dir} ({found.n_skipped} files skipped, see log.txt)"
        )
    with clock.stage("inspect"):
        inspection = inspect_files(
            found.samples,
            cache_file=sources.cache_dir / "inspect.json",
            num_threads=cfg.lightly.loader.num_workers,
            check_corruptness=cfg.worker.enable_corruptness_check,
        )
    corrupt = {k: i.error for k, i in inspection.infos.items() if i.error is not None}
    readable = [s for s in found.samples if s.key not in corrupt]
    duplicates = (
        find_exact_duplicates([s.key for s in readable], inspection.infos)
        if cfg.worker.remove_exact_duplicates
        else {}
    )
    usable = [s for s in readable if s.key not in duplicates]
    pool = None
    if cfg.worker.use_datapool:
        hashes = {key: info.sha256 for key, info in inspection.infos.items()}
        pool = datapool.plan(
            datapool.load_state(sources.dot_lightly),
            keys=[s.key for s in usable],
            hashes=hashes,
            dataset_type=cfg.dataset.type.value,
            process_all=cfg.worker.datasource.process_all,
        )
        keep = set(pool.preselected) | set(pool.candidates)
        usable = [s for s in usable if s.key in keep]
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
    if not usable:
        raise DataError(f"all {len(found.samples)} images are corrupt or duplicates")
    return Prepared(found, inspection, corrupt, duplicates, usable, pool)


def publish(
    cfg: RunConfig,
    config_dict: dict[str, Any],
    sources: Datasources,
    run_dir: RunDirectory,
    clock: StageClock,
    prepared: Prepared,
    embedded: EmbeddingResult,
    selection: SelectionResult,
    selected: list[str],
    inputs: dict[str, Any],
) -> None:
    """Write the run's files: projection, analysis, report thumbnails, then report.json."""
    with clock.stage("artifacts"):
        projection = write_projection(
            run_dir.path, keys=embedded.keys, embeddings=embedded.embeddings, seed=cfg.lightly.seed
        )
        analysis = analyze(
            keys=embedded.keys,
            embeddings=embedded.embeddings,
            selected_indices=selection.indices,
            projection_xy=read_projection_xy(projection),
            seed=cfg.lightly.seed,
            n_examples=cfg.report.n_example_images,
        )
        shown = [*selected[: cfg.report.n_example_images], *example_keys(analysis)]
        thumbnails = make_thumbnails(
            keys=list(dict.fromkeys(shown)),
            input_dir=sources.input_dir,
            out_dir=run_dir.path / "thumbnails",
            size=cfg.report.thumbnail_size,
        )
    write_run_outputs(
        run_dir=run_dir,
        cfg=cfg,
        config_dict=config_dict,
        sources=sources,
        found=prepared.found,
        inspection=prepared.inspection,
        corrupt=prepared.corrupt,
        duplicates=prepared.duplicates,
        embedded=embedded,
        selection=selection,
        selected=selected,
        thumbnails=thumbnails,
        timings=clock.timings,
        analysis=analysis,
        inputs=inputs,
        datapool=_datapool_summary(prepared.pool),
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


def _checkpoint(cfg: RunConfig, sources: Datasources) -> str:
    if not cfg.worker.checkpoint:
        return ""
    return str(resolve_checkpoint(cfg.worker.checkpoint, sources.lightly_dir))


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
