"""The report explains itself: each dashboard metric says what it measures and which direction
is better; a metric added to the table plugs in; no page but the last is mostly blank."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from test_report_sections import _report, _write_run

from runner.report import metrics
from runner.report.analysis_parts import dashboard_rows
from runner.report.metrics import Better, MetricInfo, verdict
from runner.report.render import render_report
from runner.report.view import explained_row

MOSTLY_BLANK = 0.5  # a page whose body is more than half empty (the last page may be)


def blank_fractions(pdf: Path) -> list[float]:
    """Per page, the share of the body (between running header and footer) below its last text."""
    fractions = []
    for page in PdfReader(pdf).pages:
        height = float(page.mediabox.height)
        top, bottom = 0.93 * height, 0.07 * height  # header and footer bands
        ys: list[float] = []

        def visit(
            text: str, cm: list[float], tm: list[float], *_: Any, into: list[float] = ys
        ) -> None:
            if text.strip():
                into.append(tm[5] * cm[3] + cm[5])  # baseline height of this text run

        page.extract_text(visitor_text=visit)
        lowest = min((y for y in ys if bottom < y < top), default=top)
        fractions.append((lowest - bottom) / (top - bottom))
    return fractions


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("explains") / "run"
    _write_run(run_dir, _report(run_dir))
    return run_dir


def test_every_dashboard_metric_has_an_explanation() -> None:
    for name, info in metrics.METRICS.items():
        assert info.measures.endswith(".") and len(info.measures) > 40, name
        assert info.direction in ("Higher is better.", "Lower is better.")
    assert verdict(-0.015, Better.HIGHER) == "worse than random"
    assert verdict(0.333, Better.HIGHER) == "better than random"
    assert verdict(-0.2, Better.LOWER) == "better than random"
    assert verdict(None, Better.HIGHER) == ""


def test_dashboard_and_cover_say_what_each_metric_measures(run_dir: Path) -> None:
    outcome = render_report(run_dir)
    html = outcome.html.read_text()
    for name in ("diversity", "coverage", "balance"):
        assert metrics.METRICS[name].measures in html
    dashboard = html[html.index('<section id="dashboard">') :]
    assert dashboard.count("Higher is better.") >= 3
    cover = html[: html.index('<section id="summary">')]
    assert metrics.METRICS["coverage"].measures in cover
    assert "than random" in cover


def test_a_new_metric_plugs_in_through_the_table(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(
        metrics.METRICS,
        "redundancy",
        MetricInfo(
            measures="How many selected samples are near copies of another selected one.",
            formula="share of selected samples within 0.1 of another",
            better=Better.LOWER,
        ),
    )
    report = copy.deepcopy(_report(run_dir))
    row = {
        "metric": "redundancy",
        "label": "Redundancy",
        "task": None,
        "selection": 0.1,
        "random": 0.2,
        "candidates": 0.3,
        "change_vs_random": -0.5,
        "higher_is_better": False,
        "definition": "share of selected samples within 0.1 of another",
    }
    report["analysis"]["dashboard"]["rows"].append(row)
    other = _write_run(tmp_path / "run", report)
    html = render_report(other).html.read_text()
    start = html.index("Redundancy</th>", html.index('<section id="dashboard">'))
    section = html[start : html.index("</tr>", html.index('class="explain"', start))]
    assert "better than random" in section
    assert "How many selected samples are near copies" in section
    assert "Lower is better." in section


def test_rows_in_report_json_take_direction_and_formula_from_the_table() -> None:
    import numpy as np

    from runner.report.neighbours import Nearest

    near = Nearest(distance=np.array([1.0, 2.0]), index=np.array([0, 1]))
    rows = dashboard_rows(
        within={k: np.array([1.0, 2.0]) for k in ("selection", "random", "candidates")},
        to_selected=near,
        to_random=near,
        classes={},
    )
    for row in rows:
        info = metrics.METRICS[row["metric"]]
        assert row["definition"] == info.formula
        assert row["higher_is_better"] is (info.better is Better.HIGHER)


def test_no_page_but_the_last_is_mostly_blank(run_dir: Path) -> None:
    outcome = render_report(run_dir)
    assert outcome.pdf is not None
    fractions = blank_fractions(outcome.pdf)
    assert len(fractions) >= 4
    inner = fractions[1:-1]  # the cover has its own layout; the last page ends where it ends
    assert max(inner) < MOSTLY_BLANK, [f"{f:.0%}" for f in fractions]


def test_a_caveat_shows_only_for_the_strategies_it_is_about() -> None:
    row = {"metric": "coverage", "change_vs_random": -0.015, "selection": 0.56, "random": 0.57}
    with_diversity = explained_row(row, strategies={"DIVERSITY"})
    assert with_diversity["verdict"] == "worse than random"
    assert with_diversity["caveat"].startswith("DIVERSITY spreads the picks")
    assert explained_row(row, strategies={"WEIGHTS"})["caveat"] == ""
