"""A real ``lightly-run -m`` sweep: each job's report, and the sweep summary beside them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from runner.errors import MissingDependencyError
from runner.report import render
from runner.report.cli import main as rerender
from runner.report.filters import fmt_number
from runner.report.sweep_render import build_sweep_summary, render_sweep
from runner.report.sweep_render import main as sweep_main
from tests.conftest import FAST, Mounts, run_cli, write_images


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Mounts, Path]:
    root = tmp_path_factory.mktemp("sweep")
    mounts = Mounts(root / "input_mount", root / "lightly_mount", "cam")
    write_images(mounts.input_dir, [f"img_{i:02d}.png" for i in range(8)])
    mounts.lightly_dir.mkdir(parents=True)
    result = run_cli(
        [
            "-m",
            *mounts.overrides(),
            *FAST,
            "report.n_example_images=3",
            "selection.n_samples=2,3,4",
        ],
        cwd=root,
    )
    assert result.returncode == 0, result.stderr
    sweeps = list((mounts.lightly_dir / ".lightly" / "sweeps").iterdir())
    assert len(sweeps) == 1
    assert f"sweep summary: {sweeps[0] / 'sweep_report.pdf'}" in result.stdout
    return mounts, sweeps[0]


def _text(pdf: Path) -> str:
    return "".join("".join(page.extract_text() for page in PdfReader(pdf).pages).split())


def _reports(mounts: Mounts) -> list[dict[str, Any]]:
    runs = sorted(p for p in mounts.runs_dir.iterdir() if p.is_dir() and not p.is_symlink())
    return [json.loads((r / "report.json").read_text()) for r in runs]


def test_sweep_summary_compares_the_three_jobs(sweep: tuple[Mounts, Path]) -> None:
    mounts, sweep_dir = sweep
    summary = json.loads((sweep_dir / "sweep_report.json").read_text())

    assert summary["n_jobs"] == 3 and summary["varied"] == ["selection.n_samples"]
    jobs = summary["jobs"]
    assert [j["varied"]["selection.n_samples"] for j in jobs] == ["2", "3", "4"]
    assert [j["counts"]["selected"] for j in jobs] == [2, 3, 4]
    assert all(j["status"] == "COMPLETED" for j in jobs)
    by_run = {r["run_id"]: r for r in _reports(mounts)}
    assert sorted(j["run_id"] for j in jobs) == sorted(by_run)
    text = _text(sweep_dir / "sweep_report.pdf")
    assert "Sweepsummary" in text and "selection.n_samples" in text
    for job in jobs:
        rows = by_run[job["run_id"]]["analysis"]["dashboard"]["rows"]
        assert job["metrics"]["Diversity"]["selection"] == rows[0]["selection"]
        assert job["metrics"]["Coverage"]["random"] == rows[1]["random"]
        assert fmt_number(rows[0]["selection"]) in text and job["run_id"] in text
    assert (sweep_dir / "sweep_report.html").is_file()
    assert sorted(p.name for p in (sweep_dir / "jobs").iterdir()) == [
        "000.json",
        "001.json",
        "002.json",
    ]


def test_each_job_report_has_the_analysis_and_its_numbers(sweep: tuple[Mounts, Path]) -> None:
    mounts, _ = sweep
    run_dir = (mounts.runs_dir / "latest").resolve()
    report = json.loads((run_dir / "report.json").read_text())
    analysis = report["analysis"]

    assert analysis["n_candidates"] == 8 and analysis["n_selected"] == 4
    assert analysis["sampling"]["subsampled"] is False
    pairs = analysis["examples"]["pairs"]
    assert len(pairs) == 3
    for pair in pairs:  # example pairs have thumbnails too
        assert pair["removed"] in report["thumbnails"] and pair["selected"] in report["thumbnails"]
    text = _text(run_dir / "report.pdf")
    for heading in ("Summary", "Selectiondashboard", "Embeddinganalysis", "Examples", "Rundetails"):
        assert heading in text
    for row in analysis["dashboard"]["rows"]:
        assert fmt_number(row["selection"]) in text and fmt_number(row["random"]) in text
    counts = report["counts"]
    assert f"{counts['selected']}of{counts['candidates']}candidates" in text


def test_report_rerenders_from_report_json_and_thumbnails_alone(
    sweep: tuple[Mounts, Path], tmp_path: Path
) -> None:
    mounts, _ = sweep
    source = (mounts.runs_dir / "latest").resolve()
    alone = tmp_path / "copied_run"
    alone.mkdir()
    shutil.copy(source / "report.json", alone)
    shutil.copytree(source / "thumbnails", alone / "thumbnails")

    assert rerender([str(alone)]) == 0

    assert _text(alone / "report.pdf") == _text(source / "report.pdf")


def test_sweep_summary_can_be_rebuilt_and_lists_failed_jobs(
    sweep: tuple[Mounts, Path], tmp_path: Path
) -> None:
    _, sweep_dir = sweep
    copy = tmp_path / "sweep"
    shutil.copytree(sweep_dir, copy)
    (copy / "jobs" / "003.json").write_text(
        json.dumps(
            {
                "num": 3,
                "overrides": ["selection.n_samples=99"],
                "status": "FAILED",
                "run_dir": None,
                "error": "DataError: no images found",
            }
        )
    )

    assert sweep_main([str(copy)]) == 0

    summary = build_sweep_summary(copy)
    assert [j["status"] for j in summary["jobs"]][-1] == "FAILED"
    assert "DataError:noimagesfound" in _text(copy / "sweep_report.pdf")
    assert sweep_main([str(tmp_path / "nothing")]) == 2


def test_sweep_summary_without_weasyprint_writes_html_and_json(
    sweep: tuple[Mounts, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, sweep_dir = sweep
    copy = tmp_path / "sweep"
    shutil.copytree(sweep_dir, copy)
    for name in ("sweep_report.pdf", "sweep_report.html", "sweep_report.json"):
        (copy / name).unlink()

    def no_pango() -> Any:
        raise OSError("cannot load library 'libpango-1.0-0'")

    monkeypatch.setattr(render, "load_weasyprint", no_pango)
    outcome = render_sweep(copy)

    assert outcome.pdf is None and outcome.warning is not None and "libpango" in outcome.warning
    assert (copy / "sweep_report.html").is_file() and (copy / "sweep_report.json").is_file()
    assert not (copy / "sweep_report.pdf").exists()
    with pytest.raises(MissingDependencyError):
        render_sweep(copy, pdf_required=True)
