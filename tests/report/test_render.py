"""The report renders from the run directory alone: report.json plus its thumbnails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jinja2
import pytest
from PIL import Image
from pypdf import PdfReader

from runner.config import ReportConfig
from runner.errors import ConfigError, DataError, MissingDependencyError
from runner.report import filters, render
from runner.report.cli import main as cli_main
from runner.report.render import RenderOutcome, render_report
from runner.resources import config_dir, templates_dir
from tests.conftest import REPO

RUN_ID = "20261124-214501-3fa2c1"
SCRIPT_KEY = "<script>x</script>.png"
SECTIONS = ("Summary", "Selection", "Selected samples", "Removed files", "Run", "Configuration")


def _report_json() -> dict[str, Any]:
    """A realistic report.json (schema_version 1) of a small image run."""
    selected = ["a.png", "sub/b.jpg", SCRIPT_KEY]
    return {
        "schema_version": 1,
        "run_id": RUN_ID,
        "state": "COMPLETED",
        "started_at": "2026-11-24T21:45:01+00:00",
        "finished_at": "2026-11-24T21:45:13+00:00",
        "duration_s": 12.3,
        "dataset": {"name": "cam1-parking", "type": "IMAGES"},
        "datasource": {
            "input": "/abs/in/cam1",
            "lightly": "/abs/lightly/cam1",
            "web_server_location": "http://localhost:3456",
        },
        "counts": {
            "found": 120,
            "skipped": 3,
            "skipped_by_reason": {"unsupported extension": 2, "hidden": 1},
            "corrupt": 1,
            "duplicates": 2,
            "candidates": 117,
            "selected": 3,
        },
        "timings_s": {
            "discover": 0.01,
            "inspect": 0.2,
            "embed": 5.1,
            "select": 0.01,
            "artifacts": 0.05,
        },
        "model": {
            "name": "efficientnet-lite0",
            "embedding_dim": 1280,
            "input_size": 128,
            "device": "cpu",
            "precision": "32",
            "fingerprint": "ab12cd34",
        },
        "embedding_cache": {"hits": 0, "misses": 117},
        "fingerprints": {"config": "c" * 64, "data": "d" * 64, "model": "e" * 64},
        "selection": {
            "n_requested": 3,
            "n_selected": 3,
            "stopped_by": "n_samples",
            "notes": ["n_samples=3 reached before any stopping condition"],
            "strategies": [
                {
                    "index": 0,
                    "input": "EMBEDDINGS",
                    "strategy": "DIVERSITY",
                    "params": {"strength": 1.0, "stopping_condition_minimum_distance": None},
                    "min_distance_of_picks": [1.2, 1.1, 0.83],
                    "final_min_pairwise_distance": 0.83,
                }
            ],
        },
        "samples": {
            "selected": selected,
            "corrupt": {"bad.jpg": "OSError: image file is truncated"},
            "duplicates": {"copy.png": "a.png", "sub/copy2.png": "sub/b.jpg"},
            "skipped": {"unsupported extension": ["notes.txt", "x.pdf"], "hidden": [".DS_Store"]},
        },
        "thumbnails": {key: f"thumbnails/{i:04d}.jpg" for i, key in enumerate(selected)},
        "versions": {
            "lightly_runner": "0.1.0",
            "python": "3.11.7",
            "torch": "2.14.1",
            "lightning": "2.6.6",
            "hydra": "1.3.8",
            "faiss": "1.15.1",
        },
        "config": {
            "mounts": {"input_mount": "/abs/in", "lightly_mount": "/abs/lightly"},
            "dataset": {"name": "cam1-parking", "type": "IMAGES"},
            "selection": {
                "n_samples": 3,
                "strategies": [
                    {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}
                ],
            },
            "report": {"title": "Parking lot selection", "n_example_images": 24},
        },
    }


def _write_run(run_dir: Path, report: dict[str, Any]) -> Path:
    (run_dir / "thumbnails").mkdir(parents=True, exist_ok=True)
    colours = [(200, 40, 40), (40, 160, 60), (40, 60, 200)]
    for i, rel in enumerate(report["thumbnails"].values()):
        Image.new("RGB", (160, 120), colours[i % len(colours)]).save(run_dir / rel)
    (run_dir / "report.json").write_text(json.dumps(report), encoding="utf-8")
    return run_dir


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return _write_run(tmp_path / "run", _report_json())


def _pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def _squash(text: str) -> str:
    """PDF text extraction breaks lines anywhere; compare without whitespace."""
    return "".join(text.split())


def test_pdf_contains_sections_and_facts(run_dir: Path) -> None:
    outcome = render_report(run_dir, title="Parking lot selection")

    assert outcome == RenderOutcome(
        html=run_dir / "report.html", pdf=run_dir / "report.pdf", warning=None
    )
    assert outcome.pdf is not None and outcome.pdf.read_bytes().startswith(b"%PDF")
    text = _pdf_text(outcome.pdf)
    flat = _squash(text)
    for heading in SECTIONS:
        assert heading in text
    for fact in (
        RUN_ID,
        "cam1-parking",
        "Parking lot selection",
        "n_samples",
        "bad.jpg",
        "OSError: image file is truncated",
        "copy.png",
        "notes.txt",
    ):
        assert _squash(fact) in flat, fact
    assert "120" in text and "117" in text  # found, candidates
    assert "page 1 of" in text  # footer from @page counters
    assert not list(run_dir.glob(".*.tmp"))  # atomic writes leave no temp files


def test_pdf_embeds_the_thumbnails(run_dir: Path) -> None:
    outcome = render_report(run_dir)

    assert outcome.pdf is not None
    # Pages may share one resource dict, so count distinct images, not per-page entries.
    images = {img.data for page in PdfReader(outcome.pdf).pages for img in page.images}
    assert len(images) == 3


def test_html_escapes_filenames(run_dir: Path) -> None:
    html = render_report(run_dir).html.read_text(encoding="utf-8")

    assert "<script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;.png" in html


def test_html_says_how_many_thumbnails_are_shown(tmp_path: Path) -> None:
    report = _report_json()
    report["counts"]["selected"] = 40
    run_dir = _write_run(tmp_path / "run", report)

    html = render_report(run_dir).html.read_text(encoding="utf-8")

    assert "Showing 3 of 40 selected samples" in html


def test_long_removed_lists_are_cut(tmp_path: Path) -> None:
    report = _report_json()
    report["samples"]["corrupt"] = {f"bad{i:03d}.jpg": "OSError: truncated" for i in range(80)}
    report["counts"]["corrupt"] = 80
    run_dir = _write_run(tmp_path / "run", report)

    html = render_report(run_dir).html.read_text(encoding="utf-8")

    assert "bad049.jpg" in html and "bad050.jpg" not in html
    assert "and 30 more" in html


def test_missing_thumbnail_and_escaping_path_are_not_linked(tmp_path: Path) -> None:
    report = _report_json()
    run_dir = _write_run(tmp_path / "run", report)
    report["thumbnails"]["a.png"] = "../../etc/passwd"
    (run_dir / "report.json").write_text(json.dumps(report), encoding="utf-8")
    (run_dir / "thumbnails" / "0001.jpg").unlink()

    html = render_report(run_dir).html.read_text(encoding="utf-8")

    assert "passwd" not in html
    assert 'src="thumbnails/0001.jpg"' not in html
    assert 'src="thumbnails/0002.jpg"' in html
    assert html.count("no thumbnail") == 2


def test_strict_undefined_fails_on_a_missing_key(run_dir: Path, tmp_path: Path) -> None:
    user = tmp_path / "user_templates" / "report"
    user.mkdir(parents=True)
    (user / "summary.html.j2").write_text("<p>{{ report.counts.no_such_count }}</p>")

    with pytest.raises(jinja2.UndefinedError, match="no_such_count"):
        render_report(run_dir, template_dir=str(user.parent))


def test_user_template_dir_overrides_a_packaged_template(run_dir: Path, tmp_path: Path) -> None:
    user = tmp_path / "user_templates" / "report"
    user.mkdir(parents=True)
    (user / "summary.html.j2").write_text(
        "<section><h2>Our summary</h2><p>{{ report.counts.found }} files</p></section>"
    )

    outcome = render_report(run_dir, template_dir=str(user.parent))

    html = outcome.html.read_text(encoding="utf-8")
    assert "Our summary" in html and "120 files" in html
    assert "Removed files" in html  # the other sections still come from the package
    assert outcome.pdf is not None and "Our summary" in _pdf_text(outcome.pdf)


def test_missing_template_dir_is_a_config_error(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="template_dir"):
        render_report(run_dir, template_dir=str(tmp_path / "nope"))


def test_cli_rerenders_from_report_json_alone(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    render_report(run_dir)
    pdf = run_dir / "report.pdf"
    pdf.write_bytes(b"stale")
    (run_dir / "report.html").unlink()

    assert cli_main([str(run_dir)]) == 0

    assert pdf.read_bytes().startswith(b"%PDF")
    assert (run_dir / "report.html").is_file()
    assert "Parking lot selection" in _pdf_text(pdf)  # title from config.report.title
    assert "report.pdf" in capsys.readouterr().out


def test_cli_missing_report_json_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main([str(tmp_path)]) == 2

    err = capsys.readouterr().err
    assert "report.json" in err and len(err.strip().splitlines()) == 1


def test_cli_unsupported_schema_version_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = _report_json()
    report["schema_version"] = 99
    run_dir = _write_run(tmp_path / "run", report)

    assert cli_main([str(run_dir)]) == 2
    assert "schema_version 99" in capsys.readouterr().err
    with pytest.raises(DataError):
        render_report(run_dir)


def _no_weasyprint() -> Any:
    raise OSError("cannot load library 'libpango-1.0-0': libpango-1.0-0: cannot open")


def test_missing_weasyprint_writes_html_and_warns(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render, "load_weasyprint", _no_weasyprint)

    outcome = render_report(run_dir)

    assert outcome.html.is_file() and outcome.pdf is None
    assert not (run_dir / "report.pdf").exists()
    assert outcome.warning is not None and "\n" not in outcome.warning
    assert "libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b fonts-dejavu-core" in outcome.warning


def test_missing_weasyprint_with_pdf_required_raises(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render, "load_weasyprint", _no_weasyprint)

    with pytest.raises(MissingDependencyError, match="pango"):
        render_report(run_dir, pdf_required=True)
    assert (run_dir / "report.html").is_file()


def test_packaged_templates_are_found() -> None:
    assert (templates_dir() / "report.html.j2").is_file()
    assert (templates_dir() / "report.css").is_file()
    assert config_dir().name == "conf"


def test_module_cli_runs_as_a_script(run_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runner.report.cli", str(run_dir), "--title", "From the shell"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "From the shell" in _pdf_text(run_dir / "report.pdf")


def test_default_title_matches_the_config_default() -> None:
    assert ReportConfig().title == render.DEFAULT_TITLE


@pytest.mark.parametrize(
    ("func", "args", "expected"),
    [
        (filters.fmt_number, (1280,), "1,280"),
        (filters.fmt_number, (None,), "—"),
        (filters.fmt_percent, (10, 117), "8.5 %"),
        (filters.fmt_percent, (0, 0), "—"),
        (filters.fmt_seconds, (0.012,), "0.01 s"),
        (filters.fmt_seconds, (125,), "2 min 05 s"),
        (filters.fmt_datetime, ("2026-11-24T21:45:01+00:00",), "2026-11-24 21:45:01 UTC"),
        (filters.fmt_value, ({"car": 0.5, "person": 0.5},), "car: 0.5; person: 0.5"),
        (filters.fmt_value, ([3.0, 1.0] * 10,), "20 values: first 3, last 1, min 1, mean 2, max 3"),
        (filters.to_yaml, ({"b": 1, "a": [1, 2]},), "b: 1\na:\n- 1\n- 2\n"),
    ],
)
def test_filters(func: Any, args: tuple[Any, ...], expected: str) -> None:
    assert func(*args) == expected


def test_weasyprint_not_installed_is_a_warning(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # the real lazy import now fails

    outcome = render_report(run_dir)

    assert outcome.pdf is None and outcome.warning is not None
    assert "ModuleNotFoundError" in outcome.warning
    assert "pip install weasyprint" in outcome.warning


def test_loading_weasyprint_keeps_truncated_images_corrupt() -> None:
    """WeasyPrint flips Pillow's LOAD_TRUNCATED_IMAGES on import; a later run in the same
    process (the Python API) must still find truncated files corrupt. A fresh interpreter,
    since WeasyPrint's import side effect happens once per process."""
    script = (
        "from PIL import ImageFile\n"
        "from runner.report.render import load_weasyprint\n"
        "load_weasyprint()\n"
        "print(ImageFile.LOAD_TRUNCATED_IMAGES)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert result.stdout.strip() == "False"
