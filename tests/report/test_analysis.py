"""The report's analysis (dashboard, distances, map, examples) against hand computation."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from runner.report import neighbours
from runner.report.analysis import ClassCounts, analyze, example_keys
from runner.report.analysis_parts import normalised_entropy

# Five 2-D points; selected: rows 0, 2, 3.
POINTS = np.array([[0, 0], [1, 0], [0, 3], [4, 0], [0, 0.5]], dtype=np.float32)
KEYS = ["p0.png", "p1.png", "p2.png", "p3.png", "p4.png"]
SELECTED = [0, 2, 3]


def _analyze(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "keys": KEYS,
        "embeddings": POINTS,
        "selected_indices": SELECTED,
        "projection_xy": POINTS,
        "seed": 7,
        "n_examples": 6,
    }
    args.update(overrides)
    return analyze(**args)


def _row(result: dict[str, Any], metric: str) -> dict[str, Any]:
    rows = [r for r in result["dashboard"]["rows"] if r["metric"] == metric]
    assert len(rows) == 1
    return rows[0]


def _brute_diversity(points: np.ndarray) -> float:
    d = np.linalg.norm(points[:, None] - points[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    return float(d.min(axis=1).mean())


def _brute_coverage(points: np.ndarray, members: np.ndarray) -> float:
    d = np.linalg.norm(points[:, None] - members[None], axis=-1)
    return 1.0 / (1.0 + float(d.min(axis=1).mean()))


def test_diversity_and_coverage_match_hand_computation() -> None:
    result = _analyze()

    # Nearest neighbours within {p0, p2, p3}: p0-p2 = 3, p2-p0 = 3, p3-p0 = 4.
    assert _row(result, "diversity")["selection"] == pytest.approx(10 / 3, abs=1e-6)
    # Every candidate to its nearest selected: 0, 1, 0, 0, 0.5 -> mean 0.3.
    assert _row(result, "coverage")["selection"] == pytest.approx(1 / 1.3, abs=1e-6)
    # Within all candidates: 0.5, 1, 2.5, 3, 0.5 -> mean 1.5.
    assert _row(result, "diversity")["candidates"] == pytest.approx(1.5, abs=1e-6)
    assert result["dashboard"]["distances"]["selection"] == {
        "n": 3,
        "mean": pytest.approx(10 / 3, abs=1e-6),
        "median": pytest.approx(3.0),
        "min": pytest.approx(3.0),
        "max": pytest.approx(4.0),
    }
    assert result["sampling"]["subsampled"] is False


def test_random_baseline_is_seeded_and_uses_the_same_formulas() -> None:
    first, again, other = _analyze(), _analyze(), _analyze(seed=8)

    assert first["dashboard"] == again["dashboard"]
    assert first["random_baseline"] == {"seed": 7, "size": 3}
    rows = np.sort(np.random.default_rng(7).choice(5, size=3, replace=False))
    random_set = POINTS[rows].astype(np.float64)
    assert _row(first, "diversity")["random"] == pytest.approx(_brute_diversity(random_set))
    assert _row(first, "coverage")["random"] == pytest.approx(
        _brute_coverage(POINTS.astype(np.float64), random_set)
    )
    assert other["random_baseline"]["seed"] == 8
    change = _row(first, "diversity")["change_vs_random"]
    assert change == pytest.approx(
        _row(first, "diversity")["selection"] / _row(first, "diversity")["random"] - 1, abs=1e-5
    )


def test_examples_pair_removed_samples_with_their_nearest_selected() -> None:
    result = _analyze()

    assert result["examples"]["n_removed"] == 2
    assert result["examples"]["pairs"] == [
        {"removed": "p4.png", "selected": "p0.png", "distance": pytest.approx(0.5)},
        {"removed": "p1.png", "selected": "p0.png", "distance": pytest.approx(1.0)},
    ]
    assert example_keys(result) == ["p4.png", "p0.png", "p1.png"]
    assert _analyze(n_examples=1)["examples"]["pairs"][0]["removed"] == "p4.png"


def test_class_balance_is_normalised_entropy() -> None:
    counts = np.array([[1, 0], [1, 0], [0, 1], [2, 0], [0, 0]])
    result = _analyze(class_counts={"det": ClassCounts(names=("car", "person"), counts=counts)})

    classes = result["classes"]["det"]
    assert classes["names"] == ["car", "person"]
    assert classes["candidates"] == [4, 1] and classes["selection"] == [3, 1]
    expected = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25)) / math.log(2)
    balance = _row(result, "balance")
    assert balance["label"] == "Balance (det)" and balance["task"] == "det"
    assert balance["selection"] == pytest.approx(expected, abs=1e-6)
    assert normalised_entropy([5, 5, 5]) == pytest.approx(1.0)
    assert normalised_entropy([3, 0]) == 0.0
    assert normalised_entropy([3]) is None and normalised_entropy([0, 0]) is None


def test_identical_embeddings_have_distance_zero_not_self() -> None:
    points = np.array([[1, 1], [1, 1], [5, 5]], dtype=np.float32)
    found = neighbours.nearest_other(points, np.arange(3))

    assert found.distance.tolist() == pytest.approx([0.0, 0.0, math.sqrt(32)])
    assert found.index[0] == 1 and found.index[1] == 0


def test_large_runs_subsample_queries_and_the_map_and_say_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(neighbours, "BUDGET_MULADDS", 1.0)
    monkeypatch.setattr(neighbours, "MIN_QUERIES", 50)
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((400, 8)).astype(np.float32)
    keys = [f"k{i:03d}" for i in range(400)]
    selected = rng.choice(400, size=120, replace=False).tolist()

    result = analyze(
        keys=keys,
        embeddings=emb,
        selected_indices=selected,
        projection_xy=emb[:, :2],
        seed=1,
        n_examples=4,
        max_points=90,
    )

    assert result["sampling"]["subsampled"] is True
    assert result["sampling"]["n_queries_candidates"] == 50
    assert "estimated from 50 random candidates" in result["sampling"]["note"]
    assert result["dashboard"]["distances"]["candidates"]["n"] == 50
    assert sum(result["nn_histogram"]["series"]["selection"]) == 50
    points = result["map"]
    assert points["subsampled"] is True
    assert len(points["selected"]["x"]) == 30 and len(points["background"]["x"]) == 60
    assert len(result["examples"]["pairs"]) == 4
    json.dumps(result)  # plain JSON all the way down


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="projection"):
        _analyze(projection_xy=POINTS[:3])
    with pytest.raises(ValueError, match="repeats"):
        _analyze(selected_indices=[0, 0])
    with pytest.raises(ValueError, match="range"):
        _analyze(selected_indices=[9])


def test_query_cap_fits_the_budget() -> None:
    cap = neighbours.query_cap(n_database_rows=500_000, dim=1280)
    assert cap == max(neighbours.MIN_QUERIES, int(neighbours.BUDGET_MULADDS // (500_000 * 1280)))
    assert neighbours.query_cap(n_database_rows=10, dim=4) > 1_000_000


def test_density_match_is_zero_for_the_data_itself_and_grows_with_a_lopsided_set() -> None:
    from runner.report.analysis_parts import density_match

    rng = np.random.default_rng(0)
    two = np.concatenate([rng.normal(0, 0.1, (100, 4)), rng.normal(1, 0.1, (100, 4))])
    two = two.astype(np.float32)
    balanced = two[::10]  # 10 of each cluster
    lopsided = two[:20]  # 20 of the first cluster only
    found = density_match(
        {"all": two, "lopsided": lopsided, "balanced": balanced, "empty": two[:0]}, two, 0.05
    )
    assert found["all"] == pytest.approx(0.0, abs=1e-3)
    assert found["lopsided"] > 3 * found["balanced"]
    assert found["empty"] is None


def test_dashboard_has_a_density_match_row_where_lower_is_better() -> None:
    result = _analyze()
    row = _row(result, "density_match")
    assert row["higher_is_better"] is False
    assert row["selection"] is not None and row["random"] is not None
    assert "MMD" in row["definition"]
