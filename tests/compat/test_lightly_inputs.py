"""Lightly's documented input files (predictions of its five task types, custom metadata) and
selection configs in the shape of its examples, run through the real pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import FAST, LIGHTLY_TASKS, Mounts, run_cli, write_lightly_inputs

KEYS = [f"img_{i:02d}.png" for i in range(6)] + [f"sub/pic_{i:02d}.jpg" for i in range(6)]

SELECTION: dict[str, Any] = {
    "n_samples": 4,
    "strategies": [
        {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY", "strength": 1.0}},
        {
            "input": {
                "type": "SCORES",
                "task": "weather-classification",
                "score": "uncertainty_entropy",
            },
            "strategy": {"type": "WEIGHTS", "strength": 1.0},
        },
        {
            "input": {"type": "SCORES", "task": "vehicles-detection", "score": "object_frequency"},
            "strategy": {"type": "WEIGHTS"},
        },
        {
            "input": {"type": "SCORES", "task": "road-segmentation", "score": "uncertainty_margin"},
            "strategy": {"type": "WEIGHTS"},
        },
        {
            "input": {"type": "SCORES", "task": "pose-keypoints", "score": "mean_uncertainty"},
            "strategy": {"type": "WEIGHTS"},
        },
        {
            "input": {
                "type": "PREDICTIONS",
                "task": "vehicles-detection",
                "name": "CLASS_DISTRIBUTION",
            },
            "strategy": {"type": "BALANCE", "target": {"car": 0.5, "traffic light": 0.5}},
        },
        {
            "input": {"type": "METADATA", "key": "weather.temperature"},
            "strategy": {"type": "THRESHOLD", "threshold": 2, "operation": "BIGGER_EQUAL"},
        },
        {
            "input": {"type": "METADATA", "key": "lightly.sharpness"},
            "strategy": {"type": "WEIGHTS"},
        },
    ],
}


def run_yaml(mounts: Mounts, tmp_path: Path, selection: dict[str, Any]) -> Any:
    conf = tmp_path / "lightly_conf" / "dataset"
    conf.mkdir(parents=True, exist_ok=True)
    body = {"worker": {"pretagging": False}, "selection": selection}
    (conf / "lightly_example.yaml").write_text(
        "# @package _global_\n" + yaml.safe_dump(body, sort_keys=False)
    )
    return run_cli([*mounts.overrides(), *FAST, "+dataset=lightly_example"], cwd=tmp_path)


@pytest.mark.slow
def test_predictions_of_every_task_type_and_metadata_drive_the_selection(
    mounts: Mounts, tmp_path: Path
) -> None:
    write_lightly_inputs(mounts.lightly_dir / ".lightly", KEYS)
    result = run_yaml(mounts, tmp_path, SELECTION)
    assert result.returncode == 0, result.stderr
    run_dir = mounts.runs_dir / "latest"
    selected = (run_dir / "selected_filenames.txt").read_text().splitlines()
    assert len(selected) == 4
    assert all(KEYS.index(key) >= 2 for key in selected)  # the metadata THRESHOLD
    report = json.loads((run_dir / "report.json").read_text())
    read = {source["source"] for source in report["inputs"]["sources"]}
    for task in ("weather-classification", "vehicles-detection", "road-segmentation"):
        assert any(task in source for source in read), (task, read)
    assert any("pose-keypoints" in source for source in read)
    counts = report["inputs"]["predictions"]["vehicles-detection"]["class_counts"]
    assert set(counts["before"]) == {"car", "traffic light"}


@pytest.mark.slow
def test_instance_segmentation_predictions_drive_the_selection(
    mounts: Mounts, tmp_path: Path
) -> None:
    assert LIGHTLY_TASKS["people-instances"]["task_type"] == "instance-segmentation"
    write_lightly_inputs(mounts.lightly_dir / ".lightly", KEYS)
    selection = {
        "n_samples": 3,
        "strategies": [
            {
                "input": {
                    "type": "PREDICTIONS",
                    "task": "people-instances",
                    "name": "CLASS_DISTRIBUTION",
                },
                "strategy": {"type": "BALANCE", "target": {"person": 0.5, "bicycle": 0.5}},
            }
        ],
    }
    result = run_yaml(mounts, tmp_path, selection)
    assert result.returncode == 0, result.stderr
