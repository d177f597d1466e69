"""Reference selection methods for the quality benchmark (baselines, not product code).

Each takes L2-normalised embeddings projected onto 64 principal components (the space HERDING
and TYPICALITY work in, ``runner.selection.projection.unit_projection``), a budget and a seed,
and returns row indices. Written from the papers' descriptions:

* k-means medoids: k-means (faiss) into ``budget`` clusters, the row nearest each centroid.
* TypiClust (Hacohen, Dekel and Weinshall, ICML 2022, "TPC_RP"): k-means into ``budget``
  clusters; from the largest clusters first, the most typical row (inverse mean distance to its
  ``min(20, size - 1)`` nearest neighbours inside the cluster).
* ProbCover (Yehuda, Dekel, Hacohen and Weinshall, NeurIPS 2022): greedy maximum coverage of
  δ-balls; δ is the largest radius at which at least 95 % of the balls are pure with respect to
  a k-means clustering into ``n_clusters`` (the paper uses the number of classes; here 10, the
  benchmark's typical class count, which favours the method); random picks once all is covered.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
Rows = list[int]


def _squared(x: F32) -> npt.NDArray[np.float64]:
    sq = np.einsum("nd,nd->n", x, x).astype(np.float64)
    return np.maximum(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0)


def _kmeans(x: F32, k: int, seed: int) -> tuple[F32, npt.NDArray[np.int64]]:
    import faiss

    km = faiss.Kmeans(
        x.shape[1], k, niter=25, seed=seed + 1, min_points_per_centroid=1,
        max_points_per_centroid=10**6,
    )  # fmt: skip
    km.train(x)
    _, assigned = km.index.search(x, 1)
    return km.centroids, assigned[:, 0].astype(np.int64)


def random_draw(x: F32, budget: int, seed: int) -> Rows:
    """A uniform random draw without replacement."""
    return [int(i) for i in np.random.default_rng(seed).permutation(len(x))[:budget]]


def kmeans_medoids(x: F32, budget: int, seed: int) -> Rows:
    """The row nearest each of ``budget`` k-means centroids, largest clusters first."""
    centroids, assigned = _kmeans(x, budget, seed)
    d2 = ((x[:, None, :] - centroids[None]) ** 2).sum(-1)  # (N, K)
    picks: Rows = []
    for cluster in np.argsort(-np.bincount(assigned, minlength=budget), kind="stable"):
        picks.append(next(int(i) for i in np.argsort(d2[:, cluster]) if int(i) not in picks))
    return picks


def typiclust(x: F32, budget: int, seed: int) -> Rows:
    """TypiClust: the most typical row of each of the largest ``budget`` k-means clusters."""
    _, assigned = _kmeans(x, budget, seed)
    picks: Rows = []
    for cluster in np.argsort(-np.bincount(assigned, minlength=budget), kind="stable"):
        members = np.flatnonzero(assigned == cluster)
        if members.size <= 2:
            picks += [int(members[0])] if members.size else []
            continue
        d2 = _squared(x[members])
        np.fill_diagonal(d2, np.inf)
        k = min(20, members.size - 1)
        mean = np.sqrt(np.sort(d2, axis=1)[:, :k]).mean(axis=1)
        picks.append(int(members[np.argmin(mean)]))
    return picks[:budget]


def probcover(x: F32, budget: int, seed: int, alpha: float = 0.95, n_clusters: int = 10) -> Rows:
    """ProbCover: greedy coverage of δ-balls, δ from k-means purity (see the module doc)."""
    d2 = _squared(x)
    _, assigned = _kmeans(x, n_clusters, seed)
    other = assigned[None, :] != assigned[:, None]
    radii = np.quantile(np.sqrt(d2[np.triu_indices(len(x), 1)]), np.linspace(0.005, 0.5, 60))
    delta = float(radii[0])
    for radius in radii:
        if 1.0 - np.mean(((d2 <= radius**2) & other).any(axis=1)) < alpha:
            break
        delta = float(radius)
    balls = d2 <= delta**2
    covered = np.zeros(len(x), dtype=bool)
    picks: Rows = []
    while len(picks) < budget:
        gain = (balls & ~covered[None, :]).sum(axis=1).astype(np.float64)
        gain[picks] = -1.0
        if gain.max() <= 0:
            rest = [i for i in random_draw(x, len(x), seed) if i not in picks]
            return picks + rest[: budget - len(picks)]
        best = int(np.argmax(gain))
        picks.append(best)
        covered |= balls[best]
    return picks
