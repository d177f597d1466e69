"""Render a run's ``report.json`` to ``report.html`` and, with WeasyPrint, ``report.pdf``.

The report is a pure function of the run directory: it reads ``report.json`` and the
thumbnails listed there, nothing else, so a finished run can be re-rendered at any time
(``python -m runner.report.cli RUN_DIR``). One Jinja2 environment looks up templates in the
user's ``template_dir`` first, then in the packaged ``templates/``; sections live in
``templates/report/*.html.j2`` so a user can override one section, the CSS or the whole page.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from runner.atomic import atomic_write_bytes
from runner.errors import ConfigError, DataError, MissingDependencyError
from runner.progress import NO_PROGRESS, StageProgress
from runner.report import filters, plots, reuse
from runner.report.view import analysis_view, strategies_view
from runner.report.view_inputs import inputs_view
from runner.report.view_training import training_view
from runner.resources import templates_dir
from runner.write_paths import contained

logger = logging.getLogger(__name__)

SUPPORTED_SCHEMA_VERSIONS = (1,)
DEFAULT_TITLE = "Lightly Runner selection report"
MAIN_TEMPLATE = "report.html.j2"
LIST_LIMIT = 50  # removed files listed per kind (and per skip reason) before "N more"
PDF_SYSTEM_PACKAGES = "libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b fonts-dejavu-core"
_NOISY_LOGGERS = ("weasyprint", "weasyprint.progress", "fontTools")


@dataclass(frozen=True)
class RenderOutcome:
    """What :func:`render_report` wrote.

    Attributes:
        html: Path of ``report.html`` (always written).
        pdf: Path of ``report.pdf``, or None if WeasyPrint could not be loaded.
        warning: One line saying why the PDF is missing and what to install, else None.
    """

    html: Path
    pdf: Path | None
    warning: str | None


def render_report(
    run_dir: Path,
    *,
    template_dir: str = "",
    title: str = DEFAULT_TITLE,
    pdf_required: bool = False,
    reuse_dir: Path | None = None,
    progress: StageProgress = NO_PROGRESS,
) -> RenderOutcome:
    """Render ``run_dir/report.json`` to ``report.html`` and ``report.pdf`` in ``run_dir``.

    Args:
        run_dir: The run directory holding ``report.json`` and its thumbnails.
        template_dir: Optional folder whose templates override the packaged ones by name.
        title: Title on the cover and in the running header.
        pdf_required: Raise instead of warning when WeasyPrint cannot produce the PDF.
        reuse_dir: Where rendered reports are kept by content (:mod:`runner.report.reuse`):
            an unchanged report is copied from there instead of being rendered again.
        progress: Two steps: the HTML, then the PDF (the slow one).

    Returns:
        The paths written, and a warning if the PDF was skipped.

    Raises:
        DataError: If ``report.json`` is missing, unreadable or of an unsupported schema.
        ConfigError: If ``template_dir`` is given but is not a folder.
        MissingDependencyError: If ``pdf_required`` and WeasyPrint or its libraries are missing.
        jinja2.TemplateError: If a template is broken or references a missing key.
    """
    progress.expect(2)
    report = load_report(run_dir)
    key = None
    if reuse_dir is not None:
        dirs = [templates_dir(), *([Path(template_dir).expanduser()] if template_dir else [])]
        key = reuse.content_key(report, run_dir=run_dir, template_dirs=dirs, title=title)
        if reuse.reuse(reuse_dir, key, run_dir):
            logger.info("report unchanged since an earlier run: its report.html and .pdf reused")
            progress.advance(2)
            return RenderOutcome(
                html=run_dir / "report.html", pdf=run_dir / "report.pdf", warning=None
            )
    env = build_environment(template_dir=template_dir)
    html = env.get_template(MAIN_TEMPLATE).render(
        report=report, view=build_view(report=report, run_dir=run_dir), title=title
    )
    html_path = contained(run_dir, "report.html")
    _write_atomic(path=html_path, data=html.encode("utf-8"))
    progress.advance()
    try:
        pdf_bytes = html_to_pdf(html=html, base_url=str(run_dir))
    except (ImportError, OSError) as exc:
        warning = pdf_unavailable_message(exc)
        if pdf_required:
            raise MissingDependencyError(warning) from exc
        logger.warning(warning)
        return RenderOutcome(html=html_path, pdf=None, warning=warning)
    pdf_path = contained(run_dir, "report.pdf")
    _write_atomic(path=pdf_path, data=pdf_bytes)
    if reuse_dir is not None and key is not None:
        reuse.keep(reuse_dir, key, run_dir)
    progress.advance()
    return RenderOutcome(html=html_path, pdf=pdf_path, warning=None)


def load_report(run_dir: Path) -> dict[str, Any]:
    """Read and check ``run_dir/report.json``.

    Raises:
        DataError: If the file is missing, not a JSON object, or of an unsupported schema.
    """
    path = run_dir / "report.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"no report.json in {run_dir}: is this a run directory?") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if not isinstance(report, dict):
        raise DataError(f"{path} is not a JSON object")
    version = report.get("schema_version")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        supported = ", ".join(map(str, SUPPORTED_SCHEMA_VERSIONS))
        raise DataError(
            f"{path} has schema_version {version!r}; this lightly-runner reads {supported}"
        )
    return report


def build_environment(*, template_dir: str = "") -> jinja2.Environment:
    """The one Jinja2 environment: user templates first, then the packaged ones.

    Autoescape is on for every template (``select_autoescape`` skips ``*.html.j2``) and a
    missing key fails the render (``StrictUndefined``) instead of printing nothing.

    Raises:
        ConfigError: If ``template_dir`` is given but is not a folder.
    """
    loaders: list[jinja2.BaseLoader] = []
    if template_dir:
        user_dir = Path(template_dir).expanduser()
        if not user_dir.is_dir():
            raise ConfigError(f"report.template_dir {template_dir!r} is not a folder")
        loaders.append(jinja2.FileSystemLoader(user_dir))
    loaders.append(jinja2.FileSystemLoader(templates_dir()))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(filters.FILTERS)
    return env


def build_view(*, report: Mapping[str, Any], run_dir: Path) -> dict[str, Any]:
    """Values derived from ``report.json`` that are awkward to compute in a template.

    Returns:
        ``thumbnails`` (selected samples as ``{key, src}``, ``src`` None if the file is
        missing or outside the run directory), ``removed`` (``corrupt``, ``duplicates`` and
        ``skipped`` listings, each cut to :data:`LIST_LIMIT` with a ``more`` count),
        ``list_limit``, ``analysis`` (dashboard, charts, example pairs; None without
        ``report.json["analysis"]``), ``strategies`` (per-strategy parts and charts),
        ``inputs`` (predictions and metadata; None without them), ``training`` (loss curve
        and facts; None without training) and ``plots_available``.
    """
    counts, samples = report["counts"], report["samples"]
    skipped_by_reason: Mapping[str, int] = counts.get("skipped_by_reason", {})
    skipped = {
        reason: _listing(
            items=[(key, None) for key in keys], total=skipped_by_reason.get(reason, 0)
        )
        for reason, keys in samples.get("skipped", {}).items()
    }
    thumbnails: Mapping[str, str] = report["thumbnails"]

    def thumb(key: str) -> str | None:
        rel = thumbnails.get(key)
        return None if rel is None else _thumbnail_src(run_dir=run_dir, rel=rel)

    selection = report.get("selection", {})
    crops = report.get("crops")
    parents: Mapping[str, Any] = crops.get("parents", {}) if isinstance(crops, Mapping) else {}
    return {
        "thumbnails": [
            {"key": key, "src": thumb(key), "caption": _parent_caption(parents.get(key))}
            for key in _grid_keys(report=report, shown=thumbnails)
        ],
        "crops": _crops_view(crops) if isinstance(crops, Mapping) else None,
        "removed": {
            "corrupt": _listing(items=list(samples["corrupt"].items()), total=counts["corrupt"]),
            "duplicates": _listing(
                items=list(samples["duplicates"].items()), total=counts["duplicates"]
            ),
            "skipped": skipped,
        },
        "list_limit": LIST_LIMIT,
        "analysis": analysis_view(report, thumb=thumb),
        "strategies": strategies_view(selection.get("strategies", [])),
        "inputs": inputs_view(report),
        "training": training_view(report),
        "plots_available": plots.available(),
    }


def _grid_keys(*, report: Mapping[str, Any], shown: Mapping[str, str]) -> list[str]:
    """Selected keys with a thumbnail, in pick order, at most ``report.n_example_images``.

    Thumbnails of example pairs are listed in ``report.json["thumbnails"]`` too; the grid
    shows selected samples only (every thumbnailed key if ``samples.selected`` is absent).
    """
    samples = report["samples"]
    keys = [k for k in samples["selected"] if k in shown] if "selected" in samples else list(shown)
    config = report.get("config")
    report_cfg = config.get("report") if isinstance(config, Mapping) else None
    limit = report_cfg.get("n_example_images") if isinstance(report_cfg, Mapping) else None
    return keys[:limit] if isinstance(limit, int) and limit >= 0 else keys


def _parent_caption(parent: Any) -> str:
    """``from sub/a.jpg · object 2 · dog`` for a crop's thumbnail; "" for whole images."""
    if not isinstance(parent, Mapping):
        return ""
    return f"from {parent.get('image')} · object {parent.get('object')} · {parent.get('category')}"


def _crops_view(crops: Mapping[str, Any]) -> dict[str, Any]:
    """The crop selection's facts and its skipped objects (cut to :data:`LIST_LIMIT`)."""
    skipped = [(s.get("file", ""), s.get("reason", "")) for s in crops.get("skipped", [])]
    return {
        "info": {
            "task": crops.get("task"),
            "task type": crops.get("task_type"),
            "padding": crops.get("padding"),
            "crops written to": crops.get("folder") or "not written (worker.crops)",
            **{name.replace("_", " "): n for name, n in crops.get("counts", {}).items()},
        },
        "skipped": _listing(items=skipped, total=len(skipped)),
    }


def _listing(*, items: list[tuple[str, Any]], total: int) -> dict[str, Any]:
    """The first :data:`LIST_LIMIT` items and how many more there are (by count or length)."""
    shown = items[:LIST_LIMIT]
    total = max(total, len(items))
    return {"items": shown, "total": total, "more": total - len(shown)}


def _thumbnail_src(*, run_dir: Path, rel: str) -> str | None:
    """URL of a thumbnail relative to the run directory, or None if it is missing or escapes."""
    root = run_dir.resolve()
    path = (root / rel).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        logger.warning("thumbnail %r is missing or outside the run directory", rel)
        return None
    return quote(path.relative_to(root).as_posix())


def load_weasyprint() -> Any:
    """Import WeasyPrint lazily and return its ``HTML`` class; quiet its chatty loggers.

    Raises:
        ImportError: If WeasyPrint is not installed.
        OSError: If its system libraries (Pango, HarfBuzz) cannot be loaded.
    """
    from PIL import ImageFile

    # WeasyPrint sets Pillow's process-wide LOAD_TRUNCATED_IMAGES on import; a later run in the
    # same process (the Python API's worker) would then pass truncated files as not corrupt.
    truncated = ImageFile.LOAD_TRUNCATED_IMAGES
    with warnings.catch_warnings():
        # Without libharfbuzz-subset0 WeasyPrint subsets fonts with fontTools and says so on
        # every import; the PDF is the same, so keep the run's output clean.
        warnings.filterwarnings("ignore", message="HarfBuzz-Subset", category=DeprecationWarning)
        from weasyprint import HTML
    ImageFile.LOAD_TRUNCATED_IMAGES = truncated

    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    return HTML


def html_to_pdf(*, html: str, base_url: str) -> bytes:
    """Lay out ``html`` with WeasyPrint; relative URLs (thumbnails) resolve against ``base_url``.

    Raises:
        ImportError: If WeasyPrint is not installed.
        OSError: If its system libraries cannot be loaded.
    """
    html_class = load_weasyprint()
    pdf: bytes = html_class(string=html, base_url=base_url).write_pdf()
    return pdf


def pdf_unavailable_message(exc: BaseException) -> str:
    """One line: why the PDF was skipped and what to install."""
    detail = (str(exc).strip().splitlines() or [""])[0][:200]
    return (
        f"PDF report skipped: WeasyPrint is unavailable ({type(exc).__name__}: {detail}); "
        f"install it with `pip install weasyprint` and its system libraries with "
        f"`apt-get install {PDF_SYSTEM_PACKAGES}`"
    )


def _write_atomic(*, path: Path, data: bytes) -> None:
    """Write ``data`` to a temp name beside ``path``, then rename it into place."""
    atomic_write_bytes(path, data)
