"""What the report shows about a selection, computed once in the run: ``report.json["analysis"]``.

The PDF renders from ``report.json`` alone, so everything that needs the embeddings is computed
here, in the artifacts stage, and stored as plain JSON:

- **dashboard** — diversity (mean distance from a sample to its nearest neighbour within the
  set), coverage (``1 / (1 + mean distance from every candidate to its nearest selected
  sample)``), density match (the kernel distance, MMD, between the set and the candidates on
  L2-normalised embeddings, kernel width as HERDING's; lower is better) and, per prediction
  task, class balance (entropy of the class distribution
  divided by ``log(number of classes)``), for the selection and for a random subset of the
  same size drawn with the run's seed (Lightly's "Selection Results Dashboard", spec §6.5);
- **nn_histogram** — nearest-neighbour distances within the candidates, the selection and the
  random subset, on shared bins;
- **map** — points of the 2-D PCA map (``projection.npz``), subsampled for the plot;
- **examples** — removed candidates next to their nearest selected sample;
- **classes** — per task, objects per class among the candidates, the selection and the
  random subset.

Distances are Euclidean (the selection's metric), found exactly with faiss. For large runs the
*query* rows are subsampled (see :mod:`runner.report.neighbours`) and ``sampling`` says so.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from runner.report import neighbours as nn
from runner.report.analysis_parts import (
    ClassCounts,
    class_section,
    dashboard_rows,
    density_match,
    distance_stats,
    example_pairs,
    histogram,
    map_points,
)
from runner.selection.diversity import unit_float32
from runner.selection.herding import bandwidth

__all__ = ["ClassCounts", "analyze", "example_keys", "read_projection_xy"]

ANALYSIS_VERSION = 1
MAX_MAP_POINTS = 3_000
HISTOGRAM_BINS = 30
DENSITY_ROWS = 4_000  # rows per set (and of the candidates) for the density match


def analyze(
    *,
    keys: Sequence[str],
    embeddings: npt.NDArray[np.floating[Any]],
    selected_indices: Sequence[int],
    projection_xy: npt.NDArray[np.floating[Any]],
    seed: int,
    n_examples: int,
    max_points: int = MAX_MAP_POINTS,
    class_counts: Mapping[str, ClassCounts] | None = None,
) -> dict[str, Any]:
    """Compute the report's selection dashboard, embedding analysis and examples.

    Args:
        keys: Candidate keys, row ``i`` of ``embeddings`` belongs to ``keys[i]``.
        embeddings: (N, D) candidate embeddings.
        selected_indices: Rows of the selected candidates, in pick order.
        projection_xy: (N, 2) 2-D map of the candidates (``projection.npz``'s ``xy``).
        seed: The run's seed; draws the random baseline and every subsample.
        n_examples: How many removed / nearest-selected pairs to keep.
        max_points: Most points the map keeps (selected ones highlighted among them).
        class_counts: Per prediction task, objects per class per candidate, if any.

    Returns:
        The JSON-ready ``analysis`` dict documented in ``docs/report.md``.

    Raises:
        ValueError: If the shapes of the arrays and ``keys`` disagree.
    """
    started = time.perf_counter()
    emb = np.ascontiguousarray(embeddings, dtype=np.float32)
    n = emb.shape[0]
    selected = np.asarray(selected_indices, dtype=np.int64)
    _check_shapes(n_keys=len(keys), emb=emb, xy=projection_xy, selected=selected)
    rng = np.random.default_rng(seed)
    random_rows = np.sort(rng.choice(n, size=selected.size, replace=False)).astype(np.int64)
    cap = nn.query_cap(n_database_rows=n + 4 * selected.size, dim=emb.shape[1])
    candidate_queries = nn.sample_rows(n, cap, np.random.default_rng([seed, 1]))

    within = {
        "candidates": _within(emb, np.arange(n, dtype=np.int64), cap, seed, 2),
        "selection": _within(emb, selected, cap, seed, 3),
        "random": _within(emb, random_rows, cap, seed, 4),
    }
    to_selected = nn.nearest(emb[candidate_queries], emb[selected])
    to_random = nn.nearest(emb[candidate_queries], emb[random_rows])
    classes = class_section(class_counts or {}, selected=selected, random_rows=random_rows)
    density = _density(emb, selected, random_rows, seed)
    result: dict[str, Any] = {
        "version": ANALYSIS_VERSION,
        "metric": "euclidean",
        "n_candidates": n,
        "n_selected": int(selected.size),
        "random_baseline": {"seed": seed, "size": int(selected.size)},
        "sampling": _sampling(n=n, n_selected=int(selected.size), cap=cap),
        "dashboard": {
            "rows": dashboard_rows(
                within=within,
                to_selected=to_selected,
                to_random=to_random,
                classes=classes,
                density=density,
            ),
            "distances": {name: distance_stats(d) for name, d in within.items()},
        },
        "nn_histogram": histogram(within, bins=HISTOGRAM_BINS),
        "map": map_points(projection_xy, selected=selected, max_points=max_points, seed=seed),
        "examples": example_pairs(
            keys=keys,
            selected=selected,
            queries=candidate_queries,
            found=to_selected,
            n_examples=n_examples,
        ),
        "classes": classes,
    }
    result["elapsed_s"] = round(time.perf_counter() - started, 3)
    return result


def read_projection_xy(path: Path) -> npt.NDArray[np.float32]:
    """The (N, 2) ``xy`` array of a ``projection.npz``."""
    with np.load(path) as data:
        xy: npt.NDArray[np.float32] = np.asarray(data["xy"], dtype=np.float32)
    return xy


def example_keys(analysis: Mapping[str, Any]) -> list[str]:
    """Keys shown in the example pairs (removed, then its nearest selected), without repeats."""
    pairs = analysis.get("examples", {}).get("pairs", [])
    return list(dict.fromkeys(key for p in pairs for key in (p["removed"], p["selected"])))


def _density(
    emb: npt.NDArray[np.float32],
    selected: npt.NDArray[np.int64],
    random_rows: npt.NDArray[np.int64],
    seed: int,
) -> dict[str, float | None]:
    """Density match (MMD) of the selection and of the random subset, on unit rows.

    Each set, and the candidates it is compared with, is a random sample of at most
    :data:`DENSITY_ROWS` rows: the kernel means are ``DENSITY_ROWS²`` evaluations at most.
    """
    rng = np.random.default_rng([seed, 5])
    unit = unit_float32(emb[nn.sample_rows(emb.shape[0], DENSITY_ROWS, rng)])  # (r, D)
    sigma2 = bandwidth(unit, k=30) if unit.shape[0] > 1 else 1.0
    sets = {
        name: unit_float32(emb[rows[nn.sample_rows(rows.size, DENSITY_ROWS, rng)]])
        for name, rows in (("selection", selected), ("random", random_rows))
    }
    return density_match(sets, unit, sigma2)


def _within(
    emb: npt.NDArray[np.float32], rows: npt.NDArray[np.int64], cap: int, seed: int, stream: int
) -> npt.NDArray[np.float64]:
    """Nearest-neighbour distances within the set ``emb[rows]`` for up to ``cap`` members."""
    whole = rows.size == emb.shape[0] and bool(np.all(rows == np.arange(rows.size)))
    members = emb if whole else emb[rows]
    queries = nn.sample_rows(rows.size, cap, np.random.default_rng([seed, stream]))
    return nn.nearest_other(members, queries).distance


def _sampling(*, n: int, n_selected: int, cap: int) -> dict[str, Any]:
    """Whether the distance statistics used all rows, and how many query rows they used."""
    subsampled = max(n, n_selected) > cap
    return {
        "subsampled": subsampled,
        "max_queries": cap,
        "n_queries_candidates": min(n, cap),
        "n_queries_selected": min(n_selected, cap),
        "note": (
            f"distance statistics estimated from {min(n, cap):,} random candidates "
            f"(and at most {cap:,} members per set) of {n:,}; nearest neighbours are exact"
            if subsampled
            else "distance statistics use every sample"
        ),
    }


def _check_shapes(
    *,
    n_keys: int,
    emb: npt.NDArray[np.float32],
    xy: npt.NDArray[np.floating[Any]],
    selected: npt.NDArray[np.int64],
) -> None:
    if emb.ndim != 2 or emb.shape[0] != n_keys:
        raise ValueError(f"embeddings {emb.shape} do not match {n_keys} keys")
    if xy.shape != (n_keys, 2):
        raise ValueError(f"projection {xy.shape} does not match {n_keys} keys")
    if selected.size and (selected.min() < 0 or selected.max() >= n_keys):
        raise ValueError("selected_indices out of range")
    if np.unique(selected).size != selected.size:
        raise ValueError("selected_indices has repeats")
