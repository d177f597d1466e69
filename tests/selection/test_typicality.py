"""TYPICALITY: dense regions first, the formula, the minimum-typicality stop, the fast paths."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

import runner.selection.typicality as typicality_module
from runner.config import (
    InputType,
    SelectionConfig,
    SelectionInput,
    SelectionStrategy,
    StrategyEntry,
    StrategyType,
)
from runner.selection.select import select
from runner.selection.typicality import typicality


def spearman(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    """Rank correlation (no ties in float data)."""
    ranks_a = np.argsort(np.argsort(a)).astype(np.float64)
    ranks_b = np.argsort(np.argsort(b)).astype(np.float64)
    return float(np.corrcoef(ranks_a, ranks_b)[0, 1])


def typicality_entry(
    k: int | None = None, minimum: float | None = None, strength: float = 1.0
) -> StrategyEntry:
    strategy = SelectionStrategy(
        type=StrategyType.TYPICALITY,
        num_nearest_neighbors=k,
        stopping_condition_minimum_typicality=minimum,
        strength=strength,
    )
    return StrategyEntry(input=SelectionInput(type=InputType.EMBEDDINGS), strategy=strategy)


def diversity() -> StrategyEntry:
    return StrategyEntry(
        input=SelectionInput(type=InputType.EMBEDDINGS),
        strategy=SelectionStrategy(type=StrategyType.DIVERSITY),
    )


def dense_and_sparse(seed: int = 0) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """200 points in a tight blob plus 100 scattered ones; ``True`` marks the blob."""
    rng = np.random.default_rng(seed)
    blob = rng.standard_normal((200, 8)) * 0.05 + np.eye(8)[0]
    scattered = rng.standard_normal((100, 8))
    x = np.concatenate([blob, scattered]).astype(np.float32)
    return x, np.arange(300) < 200


def clustered(n: int, d: int, seed: int) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    spectrum = 1.0 / np.arange(1, d + 1) ** 0.8
    centres = 3 * rng.standard_normal((30, d)) * spectrum
    labels = rng.integers(0, 30, n)
    spread = rng.uniform(0.2, 1.0, 30)[labels, None]
    return (centres[labels] + rng.standard_normal((n, d)) * spectrum * spread).astype(np.float32)


def brute_force(x: npt.NDArray[np.floating], k: int) -> npt.NDArray[np.float64]:
    unit = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float64)
    d = np.sqrt(np.maximum(2.0 - 2.0 * unit @ unit.T, 0.0))  # (N, N) unit rows
    np.fill_diagonal(d, np.inf)
    mean = np.sort(d, axis=1)[:, :k].mean(axis=1)
    out: npt.NDArray[np.float64] = (1e-6 + mean.min()) / (1e-6 + mean)
    return out


def test_formula_matches_brute_force() -> None:
    x = clustered(400, 12, 0)
    for k in (2, 5, 20):
        np.testing.assert_allclose(typicality(x, k), brute_force(x, k), rtol=1e-3)
    scores = typicality(x, 20)
    assert scores.max() == 1.0 and scores.min() > 0


def test_dense_regions_come_first() -> None:
    x, dense = dense_and_sparse()
    cfg = SelectionConfig(n_samples=50, strategies=[typicality_entry(k=10)])
    result = select(embeddings=x, cfg=cfg, seed=0)
    assert dense[result.indices].all()
    scores = typicality(x, 10)
    assert result.indices == np.argsort(-scores, kind="stable")[:50].tolist()
    assert result.per_strategy[0]["num_nearest_neighbors"] == 10


def test_negative_strength_prefers_outliers() -> None:
    x, dense = dense_and_sparse(1)
    cfg = SelectionConfig(n_samples=30, strategies=[typicality_entry(k=10, strength=-1.0)])
    assert not dense[select(embeddings=x, cfg=cfg, seed=0).indices].any()


@pytest.mark.parametrize("minimum", [0.3, 0.6, 0.9])
def test_minimum_typicality_stop_holds(minimum: float) -> None:
    x = clustered(500, 10, 2)
    cfg = SelectionConfig(
        n_samples=-1, strategies=[diversity(), typicality_entry(k=10, minimum=minimum)]
    )
    result = select(embeddings=x, cfg=cfg, seed=0)
    scores = typicality(x, 10)
    assert result.indices and (scores[result.indices] >= minimum).all()
    assert result.stopped_by == f"TYPICALITY: minimum typicality {minimum:g} reached"
    stop = result.per_strategy[1]["stop_typicality"]
    assert isinstance(stop, float) and stop < minimum
    # TYPICALITY alone picks in typicality order, so it takes exactly the rows above the bar
    alone = select(
        embeddings=x,
        cfg=SelectionConfig(n_samples=-1, strategies=[typicality_entry(k=10, minimum=minimum)]),
        seed=0,
    )
    assert sorted(alone.indices) == np.flatnonzero(scores >= minimum).tolist()


def test_diversity_times_typicality_avoids_outliers() -> None:
    x, dense = dense_and_sparse(2)
    plain = select(
        embeddings=x, cfg=SelectionConfig(n_samples=20, strategies=[diversity()]), seed=0
    )
    both = select(
        embeddings=x,
        cfg=SelectionConfig(n_samples=20, strategies=[diversity(), typicality_entry(k=10)]),
        seed=0,
    )
    assert dense[both.indices].sum() > dense[plain.indices].sum()


def test_strength_zero_is_irrelevant() -> None:
    x = clustered(300, 8, 4)
    alone = select(
        embeddings=x, cfg=SelectionConfig(n_samples=25, strategies=[diversity()]), seed=3
    )
    zero = select(
        embeddings=x,
        cfg=SelectionConfig(n_samples=25, strategies=[diversity(), typicality_entry(strength=0)]),
        seed=3,
    )
    assert zero.indices == alone.indices


def test_sampled_neighbour_base_and_projection_keep_the_ranking(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    x = clustered(3000, 96, 5)  # 96 dims: projected to 64
    exact = brute_force(x, 20)
    projected = typicality(x, 20)
    assert spearman(exact, projected) > 0.98
    monkeypatch.setattr(typicality_module, "_MAX_PAIRS", 3000 * 600)  # base: 600 rows, k: 4
    monkeypatch.setattr(typicality_module, "_MIN_BASE", 100)
    sampled = typicality(x, 20)
    assert spearman(exact, sampled) > 0.85
    assert sampled.max() == 1.0 and sampled.min() > 0
