"""``lightly-run`` with predictions, metadata and tags on disk: strategies combined end to end."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import FAST, Mounts, run_cli

KEYS = [f"img_{i:02d}.png" for i in range(6)] + [f"sub/pic_{i:02d}.jpg" for i in range(6)]


def write_predictions(m: Mounts) -> dict[str, float]:
    """A classification task; returns each sample's least-confidence score (1 - max p) * 2."""
    root = m.lightly_dir / ".lightly" / "predictions"
    (root / "clf").mkdir(parents=True)
    (root / "tasks.json").write_text(json.dumps(["clf"]))
    (root / "clf" / "schema.json").write_text(
        json.dumps(
            {
                "task_type": "classification",
                "categories": [{"id": 0, "name": "cat"}, {"id": 1, "name": "dog"}],
            }
        )
    )
    scores = {}
    for i, key in enumerate(KEYS):
        p = 0.5 + 0.04 * i  # 0.50 .. 0.94
        path = root / "clf" / Path(key).with_suffix(".json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "file_name": key,
                    "predictions": [
                        {"category_id": 0 if i % 2 else 1, "probabilities": [p, 1 - p]}
                    ],
                }
            )
        )
        scores[key] = (1 - p) * 2  # rescaled to [0, 1] for two classes
    return scores


def test_threshold_on_scores_then_diversity(mounts: Mounts, tmp_path: Path) -> None:
    scores = write_predictions(mounts)
    strategies = (
        "selection.strategies=["
        "{input:{type:SCORES,task:clf,score:uncertainty_least_confidence},"
        "strategy:{type:THRESHOLD,threshold:0.5,operation:BIGGER}},"
        "{input:{type:EMBEDDINGS},strategy:{type:DIVERSITY}}]"
    )
    result = run_cli(
        [*mounts.overrides(), *FAST, "selection.n_samples=3", strategies], cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    run_dir = (mounts.runs_dir / "latest").resolve()
    selected = (run_dir / "selected_filenames.txt").read_text().splitlines()
    assert len(selected) == 3
    assert all(scores[key] > 0.5 for key in selected), "the threshold is strictly respected"
    report = json.loads((run_dir / "report.json").read_text())
    assert report["inputs"]["predictions"]["clf"]["class_counts"]["before"] == {"cat": 6, "dog": 6}


def test_similarity_to_a_tag_prefers_its_neighbours(mounts: Mounts, tmp_path: Path) -> None:
    tags = mounts.lightly_dir / ".lightly" / "tags"
    tags.mkdir(parents=True)
    (tags / "query.txt").write_text("img_00.png\n")
    strategies = (
        "selection.strategies=[{input:{type:EMBEDDINGS,tag_name:query},strategy:{type:SIMILARITY}}]"
    )
    result = run_cli(
        [*mounts.overrides(), *FAST, "selection.n_samples=2", strategies], cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(((mounts.runs_dir / "latest").resolve() / "report.json").read_text())
    selected = report["samples"]["selected"]
    # The query itself is not selected again; the first pick is another crop of the same
    # photo (astronaut: samples 0, 4, 8).
    assert len(selected) == 2 and "img_00.png" not in selected
    assert selected[0] in {"img_04.png", "sub/pic_02.jpg"}, selected


def test_missing_tag_is_one_line(mounts: Mounts, tmp_path: Path) -> None:
    strategies = (
        "selection.strategies=[{input:{type:EMBEDDINGS,tag_name:nope},strategy:{type:SIMILARITY}}]"
    )
    result = run_cli(
        [*mounts.overrides(), *FAST, "selection.n_samples=2", strategies], cwd=tmp_path
    )
    assert result.returncode == 2
    assert "tag 'nope' not found" in result.stderr.strip().splitlines()[-1]
