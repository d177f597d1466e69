"""The pipeline: discover → inspect → deduplicate → embed → select → artifacts → report.

``run(cfg)`` is the whole product in one screen; each stage lives in its own module, has one
public function and reads only its own slice of the config.
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
from runner.datasource.discover import discover
from runner.datasource.duplicates import find_exact_duplicates
from runner.datasource.lightly_dir import resolve_relevant_filenames
from runner.decode.inspect import inspect_files
from runner.embedding.embed import embed
from runner.errors import DataError, UserError
from runner.report.render import render_report
from runner.report.thumbnails import make_thumbnails
from runner.selection.select import select
from runner.validate import resolve_checkpoint, validate_run_config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    run_dir: Path
    n_selected: int
    report_warning: str | None


def run(cfg: RunConfig, *, config_dict: dict[str, Any]) -> RunOutcome:
    """Run one selection job end to end and publish its run directory."""
    sources = validate_run_config(cfg)
    relevant = resolve_relevant_filenames(cfg.worker.relevant_filenames_file, sources.lightly_dir)
    checkpoint = (
        str(resolve_checkpoint(cfg.worker.checkpoint, sources.lightly_dir))
        if cfg.worker.checkpoint
        else ""
    )
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
            with clock.stage("discover"):
                found = discover(sources.input_dir, relevant_filenames_file=relevant)
            if not found.samples:
                raise DataError(
                    f"no images found in {sources.input_dir} "
                    f"({found.n_skipped} files skipped, see log)"
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
            candidates = [s for s in readable if s.key not in duplicates]
            if not candidates:
                raise DataError(f"all {len(found.samples)} images are corrupt or duplicates")
            with clock.stage("embed"):
                embedded = embed(
                    candidates,
                    content_hashes={k: i.sha256 for k, i in inspection.infos.items()},
                    cfg=cfg.lightly,
                    checkpoint=checkpoint,
                    normalize=cfg.worker.normalize_embeddings,
                    cache_dir=sources.cache_dir / "embeddings",
                )
            with clock.stage("select"):
                selection = select(
                    embeddings=embedded.embeddings, cfg=cfg.selection, seed=cfg.lightly.seed
                )
            selected = [embedded.keys[i] for i in selection.indices]
            log.info(
                "selected %d of %d candidates (%s)",
                len(selected),
                len(candidates),
                selection.stopped_by,
            )
            with clock.stage("thumbnails"):
                write_lightly_thumbnails(
                    candidates,
                    lightly_dir=sources.lightly_dir,
                    suffix=cfg.datasource.thumbnail_suffix,
                    num_threads=cfg.lightly.loader.num_workers,
                )
            with clock.stage("artifacts"):
                write_projection(
                    run_dir.path,
                    keys=embedded.keys,
                    embeddings=embedded.embeddings,
                    seed=cfg.lightly.seed,
                )
                thumbnails = make_thumbnails(
                    keys=selected[: cfg.report.n_example_images],
                    input_dir=sources.input_dir,
                    out_dir=run_dir.path / "thumbnails",
                    size=cfg.report.thumbnail_size,
                )
                write_run_outputs(
                    run_dir=run_dir,
                    cfg=cfg,
                    config_dict=config_dict,
                    sources=sources,
                    found=found,
                    inspection=inspection,
                    corrupt=corrupt,
                    duplicates=duplicates,
                    embedded=embedded,
                    selection=selection,
                    selected=selected,
                    thumbnails=thumbnails,
                    timings=clock.timings,
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
