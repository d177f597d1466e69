"""The select stage: counts, stopping, strengths, determinism, datapool, the k-center oracle."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from runner.config import (
    InputType,
    SelectionConfig,
    SelectionInput,
    SelectionStrategy,
    StrategyEntry,
    StrategyType,
)
from runner.errors import ConfigError
from runner.selection.select import select


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
        nearest = np.linalg.norm(x64[:, None, :] - x64[picks][None, :, :], axis=2).min(axis=1)
        nearest[picks] = -1.0
        picks.append(int(np.argmax(nearest)))
    return picks


def diversity(
    *,
    n: int | None = None,
    p: float | None = None,
    min_distance: float | None = None,
    strength: float = 1.0,
) -> SelectionConfig:
    strategy = SelectionStrategy(
        type=StrategyType.DIVERSITY,
        stopping_condition_minimum_distance=min_distance,
        strength=strength,
    )
    entry = StrategyEntry(input=SelectionInput(type=InputType.EMBEDDINGS), strategy=strategy)
    return SelectionConfig(n_samples=n, proportion_samples=p, strategies=[entry])


def pairwise(x: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """All pairwise distances in float64.  # (n, n)"""
    x64 = x.astype(np.float64)
    d: npt.NDArray[np.float64] = np.linalg.norm(x64[:, None, :] - x64[None, :, :], axis=2)
    return d


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_single_diversity_is_kcenter_greedy(seed: int) -> None:
    x = unit_rows(300, 16, 100 + seed)
    result = select(embeddings=x, cfg=diversity(n=80), seed=seed)
    assert result.indices == oracle_kcenter(x, result.indices[0], 80)
    assert result.stopped_by == "n_samples"
    assert result.n_requested == 80
    assert len(result.pick_scores) == 80
    # after the random first pick, each pick's combined score is its k-center distance
    pick_distances = result.per_strategy[0]["pick_min_distances"]
    assert isinstance(pick_distances, list)
    np.testing.assert_allclose(result.pick_scores[1:], pick_distances[1:], rtol=1e-12)


def test_minimum_distance_stops_early_and_holds_for_every_pair() -> None:
    x = unit_rows(300, 16, 5)
    result = select(embeddings=x, cfg=diversity(n=300, min_distance=1.1), seed=0)
    assert 1 < len(result.indices) < 300
    assert result.stopped_by == "DIVERSITY: minimum distance 1.1 reached"
    d = pairwise(x[result.indices])
    assert d[np.triu_indices(len(result.indices), k=1)].min() >= 1.1 - 1e-5
    summary = result.per_strategy[0]
    assert isinstance(summary["stop_distance"], float) and summary["stop_distance"] < 1.1
    assert isinstance(summary["final_min_distance"], float)
    assert summary["final_min_distance"] >= 1.1 - 1e-6


def test_unlimited_count_runs_until_the_stopping_condition() -> None:
    x = unit_rows(200, 8, 6)
    result = select(embeddings=x, cfg=diversity(n=-1, min_distance=0.9), seed=0)
    assert result.n_requested is None
    assert result.stopped_by == "DIVERSITY: minimum distance 0.9 reached"
    # ... or until the candidates run out, with a minimum distance of 0
    everything = select(embeddings=x, cfg=diversity(n=-1, min_distance=0.0), seed=0)
    assert sorted(everything.indices) == list(range(200))
    assert everything.stopped_by == "all candidates selected"


def test_more_requested_than_candidates_selects_all_with_a_note() -> None:
    x = unit_rows(120, 8, 0)
    result = select(embeddings=x, cfg=diversity(n=500), seed=0)
    assert sorted(result.indices) == list(range(120))
    assert result.stopped_by == "all candidates selected"
    assert "n_samples=500 is larger than the 120 candidates; selected all" in result.notes


@pytest.mark.parametrize(("p", "expected"), [(0.1, 12), (1.0, 120), (0.001, 1)])
def test_proportion_samples(p: float, expected: int) -> None:
    x = unit_rows(120, 8, 0)
    result = select(embeddings=x, cfg=diversity(p=p), seed=0)
    assert result.n_requested == expected
    assert len(result.indices) == expected
    assert result.stopped_by == "proportion_samples"


def test_invalid_counts_raise_config_error() -> None:
    x = unit_rows(10, 4, 0)
    for cfg in (diversity(n=5, p=0.5), diversity(), diversity(n=-1)):
        with pytest.raises(ConfigError):
            select(embeddings=x, cfg=cfg, seed=0)


def test_same_seed_same_result_other_seed_other_start() -> None:
    x = unit_rows(300, 16, 11)
    a = select(embeddings=x, cfg=diversity(n=50), seed=7)
    b = select(embeddings=x, cfg=diversity(n=50), seed=7)
    assert a == b
    firsts = {select(embeddings=x, cfg=diversity(n=1), seed=s).indices[0] for s in range(8)}
    assert len(firsts) > 1


def test_strength_zero_ignores_the_objective() -> None:
    # The only objective contributes a factor 1: every candidate ties and argmax takes the
    # lowest row, so the picks are the rows in order.
    x = unit_rows(50, 8, 0)
    result = select(embeddings=x, cfg=diversity(n=10, strength=0.0), seed=0)
    assert result.indices == list(range(10))
    assert result.pick_scores == [1.0] * 10
    assert any("strength 0" in note for note in result.notes)


def test_strength_zero_keeps_the_stopping_condition() -> None:
    x = np.repeat(unit_rows(3, 8, 0), 2, axis=0)  # rows 0/1, 2/3, 4/5 are duplicates
    result = select(embeddings=x, cfg=diversity(n=6, min_distance=0.5, strength=0.0), seed=0)
    assert result.indices == [0]
    assert result.stopped_by == "DIVERSITY: minimum distance 0.5 reached"


def test_negative_strength_picks_the_closest() -> None:
    x = unit_rows(200, 8, 3)
    result = select(embeddings=x, cfg=diversity(n=5, strength=-1.0), seed=0)
    first, second = result.indices[:2]
    d = pairwise(x)[first]
    d[first] = np.inf
    assert second == int(np.argmin(d))


def test_negative_strength_with_duplicates_does_not_divide_by_zero() -> None:
    x = np.repeat(unit_rows(5, 4, 0), 2, axis=0)
    result = select(embeddings=x, cfg=diversity(n=10, strength=-1.0), seed=0)
    assert sorted(result.indices) == list(range(10))
    assert all(np.isfinite(result.pick_scores))


def test_one_pick_per_cluster() -> None:
    rng = np.random.default_rng(0)
    centres = unit_rows(5, 16, 1)  # (5, 16), pairwise distances ~1.4
    labels = np.repeat(np.arange(5), 40)  # (200,)
    x = centres[labels] + 0.01 * rng.standard_normal((200, 16)).astype(np.float32)
    for seed in range(3):
        result = select(embeddings=x, cfg=diversity(n=5), seed=seed)
        assert sorted(labels[result.indices]) == [0, 1, 2, 3, 4]


def test_preselected_rows_count_as_selected() -> None:
    rng = np.random.default_rng(0)
    centres = unit_rows(4, 16, 2)
    labels = np.repeat(np.arange(4), 30)
    x = centres[labels] + 0.01 * rng.standard_normal((120, 16)).astype(np.float32)
    pre = [0, 30]  # clusters 0 and 1 are in the datapool
    result = select(embeddings=x, cfg=diversity(n=2), seed=0, preselected=pre)
    assert sorted(labels[result.indices]) == [2, 3]
    assert result.per_strategy[0]["start"] == "2 preselected"
    first_distance = result.per_strategy[0]["pick_min_distances"]
    assert isinstance(first_distance, list) and isinstance(first_distance[0], float)


def test_preselected_proportion_counts_the_other_rows() -> None:
    x = unit_rows(100, 8, 0)
    result = select(embeddings=x, cfg=diversity(p=0.5), seed=0, preselected=range(20))
    assert result.n_requested == 40
    assert not set(result.indices) & set(range(20))


def test_everything_preselected_selects_nothing() -> None:
    x = unit_rows(10, 4, 0)
    result = select(embeddings=x, cfg=diversity(n=3), seed=0, preselected=range(10))
    assert result.indices == []
    assert result.stopped_by == "all candidates selected"


def test_bad_preselected_rows() -> None:
    x = unit_rows(10, 4, 0)
    with pytest.raises(ValueError, match="in \\[0, 10\\)"):
        select(embeddings=x, cfg=diversity(n=3), seed=0, preselected=[10])
    with pytest.raises(ValueError, match="unique"):
        select(embeddings=x, cfg=diversity(n=3), seed=0, preselected=[1, 1])


def test_per_strategy_report() -> None:
    x = unit_rows(30, 4, 0)
    result = select(embeddings=x, cfg=diversity(n=4, min_distance=0.1), seed=0)
    (info,) = result.per_strategy
    assert info["index"] == 0
    assert info["input"] == "EMBEDDINGS"
    assert info["strategy"] == "DIVERSITY"
    assert info["strength"] == 1.0
    assert info["params"] == {"strategy.stopping_condition_minimum_distance": 0.1}
    assert info["start"] == "random first pick (seed 0)"
    assert info["backend"] == "numpy-lazy"
