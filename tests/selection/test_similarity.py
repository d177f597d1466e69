"""SIMILARITY: neighbours of the query set first; the query set from a tag via query_keys."""

from __future__ import annotations

from collections.abc import Callable, Sequence

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
from runner.selection.similarity import max_cosine

N_CLUSTERS, PER_CLUSTER = 6, 50


def clusters(seed: int = 0) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], list[str]]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((N_CLUSTERS, 16))
    labels = np.repeat(np.arange(N_CLUSTERS), PER_CLUSTER)
    x = (centres[labels] + 0.15 * rng.standard_normal((labels.size, 16))).astype(np.float32)
    keys = [f"cluster{c}/img_{i:03d}.jpg" for i, c in enumerate(labels)]
    return x, labels, keys


def similarity(tag: str = "query", strength: float = 1.0, **fields: str) -> StrategyEntry:
    return StrategyEntry(
        input=SelectionInput(type=InputType.EMBEDDINGS, tag_name=tag, **fields),  # type: ignore[arg-type]
        strategy=SelectionStrategy(type=StrategyType.SIMILARITY, strength=strength),
    )


def diversity() -> StrategyEntry:
    return StrategyEntry(
        input=SelectionInput(type=InputType.EMBEDDINGS),
        strategy=SelectionStrategy(type=StrategyType.DIVERSITY),
    )


def tags(mapping: dict[str, list[str]]) -> Callable[[SelectionInput], Sequence[str]]:
    def query_keys(selection_input: SelectionInput) -> Sequence[str]:
        return mapping[str(selection_input.tag_name)]

    return query_keys


def test_neighbours_of_the_query_come_first_and_queries_are_not_selected() -> None:
    x, labels, keys = clusters()
    query = [keys[100], keys[101], keys[102]]  # cluster 2
    cfg = SelectionConfig(n_samples=40, strategies=[similarity()])
    result = select(
        embeddings=x,
        cfg=cfg,
        seed=0,
        keys=keys,
        query_keys=tags({"query": query}),
    )
    assert set(labels[result.indices]) == {2}
    assert not {100, 101, 102} & set(result.indices)
    assert result.n_candidates == x.shape[0] - 3
    cosine = max_cosine(x, x[100:103])
    assert (
        result.indices
        == [int(i) for i in np.argsort(-cosine, kind="stable") if i not in (100, 101, 102)][:40]
    )
    assert "tag 'query': 3 query samples, not selectable themselves" in result.notes
    assert result.per_strategy[0]["query_size"] == 3


def test_max_keeps_every_mode_of_the_query_set() -> None:
    x, labels, keys = clusters(1)
    query = [keys[0], keys[250]]  # clusters 0 and 5
    cfg = SelectionConfig(n_samples=60, strategies=[similarity()])
    result = select(embeddings=x, cfg=cfg, seed=0, keys=keys, query_keys=tags({"query": query}))
    assert set(labels[result.indices]) == {0, 5}


def test_negative_strength_picks_the_least_similar() -> None:
    x, _, keys = clusters(2)
    cfg = SelectionConfig(n_samples=5, strategies=[similarity(strength=-1.0)])
    result = select(
        embeddings=x,
        cfg=cfg,
        seed=0,
        keys=keys,
        query_keys=tags({"query": [keys[0]]}),
    )
    cosine = max_cosine(x, x[:1])
    assert result.indices == np.argsort(cosine, kind="stable")[:5].tolist()


def test_similarity_times_diversity_spreads_inside_the_query_cluster() -> None:
    x, labels, keys = clusters(3)
    query = [keys[60]]
    lookup = tags({"query": query})
    cfg = SelectionConfig(n_samples=10, strategies=[similarity(strength=20.0), diversity()])
    result = select(embeddings=x, cfg=cfg, seed=0, keys=keys, query_keys=lookup)
    assert set(labels[result.indices]) == {1}
    plain = SelectionConfig(n_samples=10, strategies=[similarity()])
    nearest = select(embeddings=x, cfg=plain, seed=0, keys=keys, query_keys=lookup)

    def min_pairwise(rows: list[int]) -> float:
        d = np.linalg.norm(x[rows][:, None] - x[rows][None], axis=2)
        return float(d[np.triu_indices(len(rows), 1)].min())

    assert min_pairwise(result.indices) > min_pairwise(nearest.indices)


def test_query_problems() -> None:
    x, _, keys = clusters()
    cfg = SelectionConfig(n_samples=5, strategies=[similarity(dataset_id="a" * 24)])
    partly = select(
        embeddings=x,
        cfg=cfg,
        seed=0,
        keys=keys,
        query_keys=tags({"query": [keys[0], "elsewhere/a.jpg"]}),
    )
    assert any("1 samples are not in this input (elsewhere/a.jpg)" in n for n in partly.notes)
    assert any("dataset_id is ignored locally" in n for n in partly.notes)
    with pytest.raises(ConfigError, match="none of the 1 samples of tag 'query' is in this input"):
        select(
            embeddings=x,
            cfg=cfg,
            seed=0,
            keys=keys,
            query_keys=tags({"query": ["nope.jpg"]}),
        )
    with pytest.raises(ConfigError, match="SIMILARITY needs a query set"):
        select(embeddings=x, cfg=cfg, seed=0, keys=keys)
