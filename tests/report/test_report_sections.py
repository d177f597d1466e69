"""The analysis sections of the PDF: dashboard, embedding map, strategies, inputs, examples."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader

from runner.report import plots
from runner.report.analysis import ClassCounts, analyze, example_keys
from runner.report.filters import fmt_number
from runner.report.render import render_report

N, K = 40, 8


def _analysis(keys: list[str], selected: list[int]) -> dict[str, Any]:
    rng = np.random.default_rng(3)
    emb = rng.standard_normal((N, 16)).astype(np.float32)
    counts = rng.integers(0, 3, size=(N, 3))
    return analyze(
        keys=keys,
        embeddings=emb,
        selected_indices=selected,
        projection_xy=emb[:, :2],
        seed=5,
        n_examples=4,
        class_counts={"vehicles": ClassCounts(names=("car", "bus", "truck"), counts=counts)},
    )


STRATEGIES = [
    {
        "index": 0,
        "input": "SCORES uncertainty",
        "strategy": "THRESHOLD",
        "strength": None,
        "params": {"strategy.threshold": 0.3, "strategy.operation": "BIGGER"},
        "n_before": 40,
        "n_after": 31,
        "histograms": [
            {
                "title": "uncertainty scores",
                "xlabel": "score",
                "edges": [0.0, 0.5, 1.0],
                "series": {"before": [10, 30], "after": [2, 6]},
            }
        ],
    },
    {
        "index": 1,
        "input": "METADATA weather",
        "strategy": "WEIGHTS",
        "strength": 1.0,
        "params": {},
        "distributions": [
            {
                "title": "weather",
                "categories": ["sunny", "rain"],
                "series": {"before": [30, 10], "after": [4, 4]},
            }
        ],
    },
    {
        "index": 2,
        "input": "PREDICTIONS vehicles",
        "strategy": "BALANCE",
        "strength": 1.0,
        "params": {"strategy.target": {"car": 0.5, "bus": 0.5}},
        "target": {"car": 0.5, "bus": 0.5},
        "achieved": {"car": 0.625, "bus": 0.375},
        "free_form_result": "kept going",
    },
]


def _report(tmp: Path) -> dict[str, Any]:
    keys = [f"cam/img_{i:03d}.jpg" for i in range(N)]
    selected = list(range(0, N, 5))
    analysis = _analysis(keys, selected)
    shown = list(dict.fromkeys([*(keys[i] for i in selected), *example_keys(analysis)]))
    return {
        "schema_version": 1,
        "run_id": "20261124-214501-3fa2c1",
        "state": "COMPLETED",
        "started_at": "2026-11-24T21:45:01+00:00",
        "finished_at": "2026-11-24T21:45:13+00:00",
        "duration_s": 12.3,
        "dataset": {"name": "cam1-parking", "type": "IMAGES"},
        "datasource": {"input": "/in/cam1", "lightly": "/li/cam1", "web_server_location": "x"},
        "counts": {
            "found": 43,
            "skipped": 2,
            "skipped_by_reason": {"not in relevant_filenames_file": 2},
            "corrupt": 1,
            "duplicates": 2,
            "candidates": N,
            "selected": K,
        },
        "timings_s": {"discover": 0.1, "embed": 2.0},
        "model": {"name": "efficientnet-lite0", "embedding_dim": 16, "input_size": 128},
        "embedding_cache": {"hits": 0, "misses": N},
        "fingerprints": {"config": "c" * 64, "data": "d" * 64, "model": "e" * 64},
        "selection": {
            "n_requested": K,
            "n_selected": K,
            "stopped_by": "n_samples",
            "notes": [],
            "strategies": STRATEGIES,
        },
        "samples": {
            "selected": [keys[i] for i in selected],
            "corrupt": {"bad.jpg": "OSError: truncated"},
            "duplicates": {"copy.jpg": "cam/img_000.jpg", "copy2.jpg": "cam/img_001.jpg"},
            "skipped": {"not in relevant_filenames_file": ["a.jpg", "b.jpg"]},
        },
        "thumbnails": {key: f"thumbnails/{i:04d}.jpg" for i, key in enumerate(shown)},
        "versions": {"lightly_runner": "0.1.0"},
        "config": {"selection": {"n_samples": K}, "report": {"n_example_images": 24}},
        "analysis": analysis,
        "inputs": {
            "predictions": {"vehicles": {"task_type": "object-detection", "n_files": 40}},
            "metadata": {
                "weather.temperature": {
                    "type": "NUMERIC_FLOAT",
                    "histogram": {
                        "edges": [0, 10, 20, 30],
                        "series": {"before": [5, 20, 15], "after": [2, 3, 3]},
                    },
                },
                "weather.kind": {
                    "type": "CATEGORICAL_STRING",
                    "counts": {"before": {"sun": 30, "rain": 10}, "after": {"sun": 5, "rain": 3}},
                },
            },
        },
    }


def _write_run(run_dir: Path, report: dict[str, Any]) -> Path:
    (run_dir / "thumbnails").mkdir(parents=True, exist_ok=True)
    for i, rel in enumerate(report["thumbnails"].values()):
        Image.new("RGB", (120, 90), (40 * (i % 6), 120, 200 - 20 * (i % 8))).save(run_dir / rel)
    (run_dir / "report.json").write_text(json.dumps(report), encoding="utf-8")
    return run_dir


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    run_dir = tmp_path_factory.mktemp("sections") / "run"
    report = _report(run_dir)
    _write_run(run_dir, report)
    outcome = render_report(run_dir)
    assert outcome.pdf is not None and outcome.warning is None
    text = "\n".join(page.extract_text() for page in PdfReader(outcome.pdf).pages)
    return run_dir, report, text


def _flat(text: str) -> str:
    return "".join(text.split())


def test_dashboard_numbers_in_the_pdf_are_those_of_report_json(
    rendered: tuple[Path, dict[str, Any], str],
) -> None:
    _, report, text = rendered
    flat = _flat(text)
    for heading in ("Selection dashboard", "Embedding analysis", "Predictions and metadata"):
        assert _flat(heading) in flat, heading
    for row in report["analysis"]["dashboard"]["rows"]:
        assert _flat(row["label"]) in flat
        assert fmt_number(row["selection"]) in flat, row
        assert fmt_number(row["random"]) in flat, row
    assert "Balance(vehicles)" in flat
    stats = report["analysis"]["dashboard"]["distances"]["selection"]
    assert fmt_number(stats["mean"]) in flat and fmt_number(stats["max"]) in flat


def test_strategy_specific_parts_are_rendered(rendered: tuple[Path, dict[str, Any], str]) -> None:
    run_dir, _, text = rendered
    flat = _flat(text)
    assert _flat("Kept 31 of 40 candidates; 9 filtered out (22.5 %)") in flat
    assert "Strategy3:BALANCE" in flat and "0.625" in flat and "keptgoing" in flat
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    # dashboard, map, NN histogram, THRESHOLD histogram, WEIGHTS and BALANCE bars, the task's
    # class distribution and two metadata charts
    assert html.count('src="data:image/svg+xml;base64,') == 9
    assert "free_form_result" in html and "n_before" not in html


def test_inputs_and_examples_sections(rendered: tuple[Path, dict[str, Any], str]) -> None:
    run_dir, report, text = rendered
    flat = _flat(text)
    assert "Predictions:vehicles" in flat and "object-detection" in flat
    assert "weather.temperature" in flat and "weather.kind" in flat
    classes = report["analysis"]["classes"]["vehicles"]
    assert f"{classes['candidates'][0]:,}" in flat
    assert "Removedsamplesnexttotheirnearestselectedsample" in flat
    for pair in report["analysis"]["examples"]["pairs"]:
        assert _flat(pair["removed"]) in flat
    images = {img.data for page in PdfReader(run_dir / "report.pdf").pages for img in page.images}
    assert len(images) == len(report["thumbnails"])


def test_absent_optional_data_omits_the_sections(tmp_path: Path) -> None:
    report = _report(tmp_path)
    for key in ("analysis", "inputs"):
        del report[key]
    report["selection"]["strategies"] = [{"index": 0, "strategy": "DIVERSITY", "odd": [1] * 30}]
    run_dir = _write_run(tmp_path / "run", report)

    html = render_report(run_dir).html.read_text(encoding="utf-8")

    assert "Selection dashboard" not in html and "Predictions and metadata" not in html
    assert "Embedding analysis" not in html and "data:image/svg" not in html
    assert "30 values" in html  # unknown result keys are still listed


def test_renders_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plots, "available", lambda: False)
    run_dir = _write_run(tmp_path / "run", _report(tmp_path))

    html = render_report(run_dir).html.read_text(encoding="utf-8")

    assert "data:image/svg" not in html and "matplotlib is not installed" in html


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) missing")
def test_first_page_png_is_not_blank(rendered: tuple[Path, dict[str, Any], str]) -> None:
    run_dir, _, _ = rendered
    subprocess.run(
        ["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "1", "-singlefile", "report.pdf", "p1"],
        cwd=run_dir,
        check=True,
    )
    pixels = np.asarray(Image.open(run_dir / "p1.png").convert("L"), dtype=np.float64)
    assert pixels.shape[0] > pixels.shape[1] > 200  # portrait A4
    assert pixels.std() > 10 and (pixels < 128).mean() > 0.005  # text and rules, not blank


def test_charts_are_deterministic(rendered: tuple[Path, dict[str, Any], str]) -> None:
    run_dir, _, _ = rendered
    first = (run_dir / "report.html").read_bytes()
    render_report(run_dir)
    assert (run_dir / "report.html").read_bytes() == first
