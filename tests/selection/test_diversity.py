"""DIVERSITY against a plain numpy k-center oracle, plus its stopping condition and start."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from runner.selection.diversity import DiversityObjective, unit_float32


def unit_rows(n: int, d: int, seed: int) -> npt.NDArray[np.float32]:
    """Random rows on the unit sphere.  # (n, d) float32"""
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    unit: npt.NDArray[np.float32] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return unit


def oracle_kcenter(x: npt.NDArray[np.floating], first: int, k: int) -> list[int]:
    """Textbook farthest-point selection: recompute every distance each pick, in float64."""
    x64 = x.astype(np.float64)
    picks = [first]
    while len(picks) < k:
        diff = x64[:, None, :] - x64[picks][None, :, :]  # (N, |S|, D)
        nearest = np.sqrt((diff**2).sum(axis=2)).min(axis=1)  # (N,)
        nearest[picks] = -1.0
        picks.append(int(np.argmax(nearest)))
    return picks


def run_greedy(objective: DiversityObjective, k: int, n: int) -> list[int]:
    """The bare greedy loop over one objective (select.py's loop without the extras)."""
    picks: list[int] = []
    for _ in range(k):
        scores = objective.scores()
        scores[picks] = -np.inf
        best = int(np.argmax(scores))
        objective.update(best)
        picks.append(best)
    return picks


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_picks_equal_oracle(seed: int) -> None:
    x = unit_rows(300, 16, seed)
    objective = DiversityObjective(
        embeddings=x, preselected=np.empty(0, np.int64), seed=seed, backend="numpy"
    )
    picks = run_greedy(objective, 60, 300)
    assert picks == oracle_kcenter(x, picks[0], 60)


def test_preselected_rows_seed_the_distances() -> None:
    x = unit_rows(200, 8, 7)
    pre = np.array([5, 17, 123], dtype=np.int64)
    objective = DiversityObjective(embeddings=x, preselected=pre, seed=0, backend="numpy")
    scores = objective.scores()
    diff = x[:, None, :].astype(np.float64) - x[pre][None, :, :]  # (N, M, D)
    expected = np.linalg.norm(diff, axis=2).min(axis=1)  # (N,)
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    assert np.all(scores[pre] < 1e-3)


def test_first_pick_is_seeded_and_uniform_scores() -> None:
    x = unit_rows(100, 8, 0)
    none = np.empty(0, np.int64)
    a = DiversityObjective(embeddings=x, preselected=none, seed=3).scores()
    b = DiversityObjective(embeddings=x, preselected=none, seed=3).scores()
    firsts = {
        int(np.argmax(DiversityObjective(embeddings=x, preselected=none, seed=s).scores()))
        for s in range(10)
    }
    assert np.array_equal(a, b)
    assert np.all((a >= 1.0) & (a < 2.0))
    assert len(firsts) > 1


def test_should_stop_is_strict() -> None:
    x = np.eye(4, dtype=np.float32)  # every pair sqrt(2) apart
    pre = np.array([0], dtype=np.int64)
    at = DiversityObjective(embeddings=x, preselected=pre, seed=0, min_distance=float(np.sqrt(2)))
    above = DiversityObjective(embeddings=x, preselected=pre, seed=0, min_distance=1.5)
    assert at.should_stop(1) is None  # exactly at the minimum distance: go on
    assert above.should_stop(1) == "DIVERSITY: minimum distance 1.5 reached"
    assert above.summary()["stop_distance"] == pytest.approx(np.sqrt(2), abs=1e-6)


def test_summary_reports_pick_distances() -> None:
    x = unit_rows(50, 4, 1)
    objective = DiversityObjective(embeddings=x, preselected=np.empty(0, np.int64), seed=0)
    picks = run_greedy(objective, 5, 50)
    summary = objective.summary()
    distances = summary["pick_min_distances"]
    assert isinstance(distances, list) and distances[0] is None and len(distances) == 5
    pairwise = np.linalg.norm(x[picks][:, None] - x[picks][None, :], axis=2)
    true_min = pairwise[np.triu_indices(5, k=1)].min()
    assert summary["final_min_distance"] == pytest.approx(true_min, abs=1e-5)
    assert summary["backend"] == "numpy-lazy"


def test_unit_float32_normalises_only_when_needed() -> None:
    x = unit_rows(10, 4, 0)
    assert unit_float32(x) is x
    scaled = unit_float32(3.0 * x.astype(np.float64))
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(scaled, axis=1), 1.0, atol=1e-6)
    assert not np.any(unit_float32(np.zeros((2, 3))))


def test_torch_backend_matches_numpy() -> None:
    x = unit_rows(300, 16, 9)
    none = np.empty(0, np.int64)
    ref = run_greedy(DiversityObjective(embeddings=x, preselected=none, seed=9), 40, 300)
    torch_objective = DiversityObjective(embeddings=x, preselected=none, seed=9, backend="torch")
    assert run_greedy(torch_objective, 40, 300) == ref
    assert str(torch_objective.summary()["backend"]).startswith("torch-")


def test_lazy_argmax_on_both_backends_equals_the_oracle() -> None:
    x = unit_rows(400, 16, 12)
    factor = np.random.default_rng(1).uniform(0.5, 1.0, 400)
    for backend in ("numpy", "torch"):
        objective = DiversityObjective(
            embeddings=x, preselected=np.array([3], dtype=np.int64), seed=0, backend=backend
        )
        blocked = np.zeros(400, dtype=bool)
        blocked[3] = True
        picks = []
        for _ in range(30):
            found = objective.argmax(factor=factor, strength=2.0, blocked=blocked)
            assert found is not None
            best, score = found
            distance = objective.scores()[best]
            assert score == pytest.approx(factor[best] * distance**2, rel=1e-5)
            objective.update(best)
            blocked[best] = True
            picks.append(best)
        x64 = x.astype(np.float64)
        nearest = np.linalg.norm(x64 - x64[3], axis=1)
        expected: list[int] = []
        for _ in range(30):
            keys = factor * nearest**2.0
            keys[[3, *expected]] = -np.inf
            expected.append(int(np.argmax(keys)))
            nearest = np.minimum(nearest, np.linalg.norm(x64 - x64[expected[-1]], axis=1))
        assert picks == expected, backend
    # a negative strength is not for the lazy path
    assert objective.argmax(factor=None, strength=-1.0, blocked=blocked) is None
