"""The pieces of ``report.json["analysis"]``: each turns arrays into small JSON-ready dicts.

Kept apart from :mod:`runner.report.analysis` (which runs the searches) so every formula can
be read, and tested, on its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from runner.report.metrics import METRICS, Better
from runner.report.neighbours import Nearest
from runner.selection.herding import squared_distances

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.int64]
DECIMALS = 6  # floats in report.json: enough for the report, short enough to diff


@dataclass(frozen=True)
class ClassCounts:
    """Objects per class of one prediction task, per candidate.

    Attributes:
        names: Class names, in column order (every class of the task's schema).
        counts: (N, C) non-negative counts aligned with the candidates' keys (objects of each
            class in a detection task; one-hot rows for classification).
    """

    names: tuple[str, ...]
    counts: npt.NDArray[np.floating[Any]] | npt.NDArray[np.integer[Any]]


def rounded(value: float | None) -> float | None:
    """A finite float rounded to :data:`DECIMALS`, else None."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), DECIMALS)


def mean_or_none(values: FloatArray) -> float | None:
    """Mean of the finite values, or None if there are none."""
    finite = values[np.isfinite(values)]
    return rounded(float(finite.mean())) if finite.size else None


def coverage(found: Nearest) -> float | None:
    """``1 / (1 + mean distance to the nearest member)``; None if there is no member."""
    mean = mean_or_none(found.distance)
    return None if mean is None else rounded(1.0 / (1.0 + mean))


def normalised_entropy(counts: Sequence[float] | FloatArray) -> float | None:
    """Entropy of ``counts / sum`` divided by ``log(len(counts))``: 1 is perfectly balanced.

    Returns:
        A value in [0, 1], or None with fewer than two classes or no objects at all.
    """
    c = np.asarray(counts, dtype=np.float64)
    total = float(c.sum())
    if c.size < 2 or total <= 0:
        return None
    p = c[c > 0] / total
    return rounded(float(-(p * np.log(p)).sum() / math.log(c.size)))


def distance_stats(distances: FloatArray) -> dict[str, Any]:
    """Mean, median, min and max of the finite distances and how many there were."""
    finite = distances[np.isfinite(distances)]
    if not finite.size:
        return {"n": 0, "mean": None, "median": None, "min": None, "max": None}
    return {
        "n": int(finite.size),
        "mean": rounded(float(finite.mean())),
        "median": rounded(float(np.median(finite))),
        "min": rounded(float(finite.min())),
        "max": rounded(float(finite.max())),
    }


def dashboard_rows(
    *,
    within: Mapping[str, FloatArray],
    to_selected: Nearest,
    to_random: Nearest,
    classes: Mapping[str, Mapping[str, Any]],
    density: Mapping[str, float | None] | None = None,
) -> list[dict[str, Any]]:
    """One row per metric: the selection, the random subset and (for reference) all candidates.

    Args:
        within: Nearest-neighbour distances within ``candidates``, ``selection``, ``random``.
        to_selected: Nearest selected sample of the candidate queries.
        to_random: Nearest random-subset sample of the same queries.
        classes: :func:`class_section`'s output (one balance row per task).
        density: :func:`density_match` of the ``selection`` and the ``random`` subset.
    """
    rows = [
        _row(
            "diversity",
            "Diversity",
            selection=mean_or_none(within["selection"]),
            random=mean_or_none(within["random"]),
            candidates=mean_or_none(within["candidates"]),
        ),
        _row(
            "coverage",
            "Coverage",
            selection=coverage(to_selected),
            random=coverage(to_random),
            candidates=1.0,
        ),
    ]
    if density is not None:
        rows.append(
            _row(
                "density_match",
                "Density match",
                selection=density["selection"],
                random=density["random"],
                candidates=0.0,
            )
        )
    for task, section in classes.items():
        balance = section["balance"]
        rows.append(
            _row(
                "balance",
                f"Balance ({task})",
                selection=balance["selection"],
                random=balance["random"],
                candidates=balance["candidates"],
                task=task,
            )
        )
    return rows


def _row(
    metric: str,
    label: str,
    *,
    selection: float | None,
    random: float | None,
    candidates: float | None,
    task: str | None = None,
) -> dict[str, Any]:
    change = None
    if selection is not None and random:
        change = rounded(selection / random - 1.0)
    return {
        "metric": metric,
        "label": label,
        "task": task,
        "selection": selection,
        "random": random,
        "candidates": candidates,
        "change_vs_random": change,
        "higher_is_better": METRICS[metric].better is Better.HIGHER,
        "definition": METRICS[metric].formula,
    }


def histogram(series: Mapping[str, FloatArray], *, bins: int) -> dict[str, Any]:
    """Counts of each series' finite values on shared bins spanning all of them (padded 2 %)."""
    finite = {name: v[np.isfinite(v)] for name, v in series.items()}
    low = min((float(v.min()) for v in finite.values() if v.size), default=0.0)
    high = max((float(v.max()) for v in finite.values() if v.size), default=1.0)
    pad = 0.02 * (high - low) if high > low else 0.5 * max(abs(high), 1e-6)
    edges = np.linspace(max(0.0, low - pad), high + pad, bins + 1)
    return {
        "xlabel": "distance to the nearest neighbour within the set",
        "edges": [rounded(float(e)) for e in edges],
        "series": {
            name: np.histogram(v, bins=edges)[0].astype(int).tolist() for name, v in finite.items()
        },
    }


def map_points(
    xy: npt.NDArray[np.floating[Any]], *, selected: IndexArray, max_points: int, seed: int
) -> dict[str, Any]:
    """The 2-D map's points: candidates (background) and the selection, at most ``max_points``.

    Above ``max_points`` candidates, up to a third of the points are selected samples and the
    rest a uniform sample of all candidates; both draws use ``seed``.
    """
    n, k = xy.shape[0], selected.size
    rng = np.random.default_rng([seed, 5])
    subsampled = n > max_points
    n_sel = min(k, max_points // 3) if subsampled else k
    sel_rows = np.sort(rng.choice(selected, size=n_sel, replace=False)) if n_sel < k else selected
    n_bg = max_points - n_sel if subsampled else n
    bg_rows = np.sort(rng.choice(n, size=n_bg, replace=False)) if n_bg < n else np.arange(n)
    return {
        "method": "PCA",
        "n_candidates": n,
        "n_selected": int(k),
        "subsampled": subsampled,
        "note": (
            f"showing {n_bg:,} of {n:,} candidates and {n_sel:,} of {k:,} selected samples"
            if subsampled
            else "showing every candidate"
        ),
        "background": _xy(xy[bg_rows]),
        "selected": _xy(xy[sel_rows]),
    }


def _xy(points: npt.NDArray[np.floating[Any]]) -> dict[str, list[float]]:
    pts = np.round(np.asarray(points, dtype=np.float64), 4)
    return {"x": pts[:, 0].tolist(), "y": pts[:, 1].tolist()}


def example_pairs(
    *,
    keys: Sequence[str],
    selected: IndexArray,
    queries: IndexArray,
    found: Nearest,
    n_examples: int,
) -> dict[str, Any]:
    """Removed candidates next to their nearest selected sample, spread over the distances.

    The pairs are taken at evenly spaced ranks of the distance, from the removed sample most
    similar to the selection (redundant) to the least covered one.
    """
    is_selected = np.zeros(len(keys), dtype=bool)
    is_selected[selected] = True
    removed = np.flatnonzero(~is_selected[queries] & (found.index >= 0))
    order = removed[np.argsort(found.distance[removed], kind="stable")]
    if order.size > n_examples > 0:
        picks = np.unique(np.linspace(0, order.size - 1, n_examples).round().astype(np.int64))
        order = order[picks]
    elif n_examples <= 0:
        order = order[:0]
    return {
        "n_removed": int(len(keys) - selected.size),
        "n_considered": int(removed.size),
        "pairs": [
            {
                "removed": keys[int(queries[i])],
                "selected": keys[int(selected[found.index[i]])],
                "distance": rounded(float(found.distance[i])),
            }
            for i in order
        ],
    }


def class_section(
    class_counts: Mapping[str, ClassCounts], *, selected: IndexArray, random_rows: IndexArray
) -> dict[str, dict[str, Any]]:
    """Per task: objects per class among candidates, selection and random subset, and balance."""
    out: dict[str, dict[str, Any]] = {}
    for task, cc in class_counts.items():
        counts = np.asarray(cc.counts, dtype=np.float64)
        if counts.ndim != 2 or counts.shape[1] != len(cc.names):
            raise ValueError(f"class counts of task {task!r}: shape {counts.shape}")
        totals = {
            "candidates": counts.sum(axis=0),
            "selection": counts[selected].sum(axis=0),
            "random": counts[random_rows].sum(axis=0),
        }
        out[task] = {
            "names": list(cc.names),
            **{name: _ints(t) for name, t in totals.items()},
            "balance": {name: normalised_entropy(t) for name, t in totals.items()},
        }
    return out


def _ints(values: FloatArray) -> list[float]:
    """Counts as ints when they are whole numbers, else rounded floats."""
    if np.all(values == np.round(values)):
        return [int(v) for v in values]
    return [float(round(v, 4)) for v in values]


def density_match(
    sets: Mapping[str, npt.NDArray[np.float32]],
    reference: npt.NDArray[np.float32],
    sigma2: float,
) -> dict[str, float | None]:
    """The kernel distance (MMD) of each set to the reference, Gaussian kernel of ``sigma2``.

    ``MMD² = mean K(M, M) - 2 mean K(M, R) + mean K(R, R)`` (biased estimate): 0 when the
    members are distributed like the reference. A random subset is close on average; HERDING
    minimises it directly. ``mean K(R, R)``, the dearest term, is computed once for all sets.

    Args:
        sets: Name -> the set's rows.  # (m, D) float32 each
        reference: The rows the sets should represent (all candidates or a sample).  # (r, D)
        sigma2: The kernel's ``sigma**2``.

    Returns:
        Name -> ``MMD``, or None for an empty set (or an empty reference).
    """

    def mean_kernel(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
        d2 = squared_distances(a, b, np.einsum("nd,nd->n", b, b))
        return float(np.exp(d2 * np.float32(-0.5 / sigma2), out=d2).mean())

    base = mean_kernel(reference, reference) if reference.shape[0] else 0.0
    out: dict[str, float | None] = {}
    for name, members in sets.items():
        if not members.shape[0] or not reference.shape[0]:
            out[name] = None
            continue
        squared = mean_kernel(members, members) - 2.0 * mean_kernel(members, reference) + base
        out[name] = rounded(math.sqrt(max(squared, 0.0)))
    return out
