"""The report's charts: matplotlib (no pyplot, no global state) to SVG ``data:`` URIs.

Every function takes plain JSON data from ``report.json`` and returns a ``data:image/svg+xml``
URI for an ``<img>``, so ``report.html`` stands alone and WeasyPrint embeds the charts as
vectors. The output is deterministic (fixed SVG ids, no date), so re-rendering a run gives
the same file. If matplotlib is missing the functions return None and the report says so.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SELECTION = "#2563eb"
RANDOM = "#f59e0b"
CANDIDATES = "#9aa5b1"
PALETTE = (SELECTION, RANDOM, "#10b981", "#ef4444", "#8b5cf6", CANDIDATES)
SERIES_LABELS = {
    "candidates": "all candidates",
    "selection": "selection",
    "random": "random subset",
    "before": "before selection",
    "after": "after selection",
    "target": "target",
    "achieved": "achieved",
}
SERIES_COLOURS = {
    "candidates": CANDIDATES,
    "selection": SELECTION,
    "random": RANDOM,
    "before": CANDIDATES,
    "after": SELECTION,
    "target": CANDIDATES,
    "achieved": SELECTION,
}
WIDTH_IN = 6.6  # the A4 text width is ~6.9 in
_RC = {
    "svg.fonttype": "none",  # text stays text: small files, searchable PDFs
    "svg.hashsalt": "lightly-runner",  # deterministic element ids
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 8.5,
    "axes.titleweight": "bold",
    "legend.frameon": False,
    "legend.fontsize": 7.5,
}


def available() -> bool:
    """Whether matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


@contextmanager
def _figure(width: float, height: float) -> Iterator[Figure]:
    import matplotlib
    from matplotlib.figure import Figure

    rc: Any = _RC  # matplotlib types rcParams keys as a Literal union
    with matplotlib.rc_context(rc):
        yield Figure(figsize=(width, height), layout="constrained")


def _uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _label(name: str) -> str:
    return SERIES_LABELS.get(name, name)


def _colour(name: str, i: int) -> str:
    return SERIES_COLOURS.get(name, PALETTE[i % len(PALETTE)])


def dashboard_chart(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """One small panel per metric: the selection's bar next to the random subset's."""
    rows = [r for r in rows if r.get("selection") is not None or r.get("random") is not None]
    if not rows or not available():
        return None
    with _figure(WIDTH_IN, 1.8) as fig:
        for ax, row in zip(fig.subplots(1, len(rows), squeeze=False)[0], rows, strict=True):
            values = [row.get("selection"), row.get("random")]
            heights = [v if v is not None else 0.0 for v in values]
            bars = ax.bar([0, 1], heights, color=[SELECTION, RANDOM], width=0.6)
            for bar, value in zip(bars, values, strict=True):
                text = "n/a" if value is None else f"{value:.3g}"
                ax.annotate(
                    text,
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center",
                    va="bottom",
                    fontsize=7.5,
                    xytext=(0, 1),
                    textcoords="offset points",
                )
            ax.set_xticks([0, 1], ["selection", "random"])
            better = "higher" if row.get("higher_is_better", True) else "lower"
            ax.set_title(f"{row.get('label', row.get('metric', ''))}\n({better} is better)")
            ax.set_ylim(0, max(max(heights) * 1.2, 1e-9))
        return _uri(fig)


def map_chart(points: Mapping[str, Any]) -> str | None:
    """The 2-D map: candidates in grey, selected samples highlighted on top."""
    background, selected = points.get("background"), points.get("selected")
    if not isinstance(background, Mapping) or not isinstance(selected, Mapping):
        return None
    if not available():
        return None
    with _figure(WIDTH_IN, 4.4) as fig:
        ax = fig.subplots()
        ax.scatter(
            background["x"],
            background["y"],
            s=5 if len(background["x"]) > 500 else 12,
            c=CANDIDATES,
            alpha=0.6,
            linewidths=0,
            label=f"candidates ({len(background['x']):,} shown)",
        )
        n_selected = len(selected["x"])
        ax.scatter(
            selected["x"],
            selected["y"],
            s=14 if n_selected <= 300 else 7,
            c=SELECTION,
            linewidths=0.4 if n_selected <= 300 else 0.2,
            edgecolors="white",
            label=f"selected ({n_selected:,} shown)",
        )
        method = str(points.get("method", "PCA"))
        ax.set_xlabel(f"{method} 1")
        ax.set_ylabel(f"{method} 2")
        ax.set_aspect("equal", adjustable="datalim")
        ax.legend(loc="best", markerscale=1.5)
        return _uri(fig)


def histogram_chart(hist: Mapping[str, Any], *, title: str = "") -> str | None:
    """A histogram object as shares of each series: the first filled, the others as lines."""
    edges, series = hist.get("edges"), hist.get("series")
    if not _is_histogram(edges, series) or not available():
        return None
    assert isinstance(series, Mapping) and isinstance(edges, Sequence)
    with _figure(WIDTH_IN, 2.2) as fig:
        ax = fig.subplots()
        for i, (name, counts) in enumerate(series.items()):
            total = sum(counts)
            if not total:
                continue
            colour = _colour(name, i)
            ax.stairs(
                [c / total for c in counts],
                edges,
                color=colour,
                fill=i == 0,
                alpha=0.45 if i == 0 else 1.0,
                linewidth=1.4,
                label=f"{_label(name)} (n = {total:,})",
            )
        ax.set_xlabel(str(hist.get("xlabel", "value")))
        ax.set_ylabel("share of samples")
        _legend_and_title(fig, ax, title)
        return _uri(fig)


def _legend_and_title(fig: Figure, ax: Axes, title: str) -> None:
    """Title on the left and the legend above the plot, right-aligned, never over the data."""
    handles, labels = ax.get_legend_handles_labels()
    if title:
        ax.set_title(title, loc="left")
    if handles:
        fig.legend(handles, labels, loc="outside upper right", ncols=min(len(labels), 3))


def _is_histogram(edges: Any, series: Any) -> bool:
    if not isinstance(edges, Sequence) or len(edges) < 2 or not isinstance(series, Mapping):
        return False
    return all(
        isinstance(c, Sequence) and len(c) == len(edges) - 1 and _numbers(c)
        for c in series.values()
    ) and _numbers(edges)


def _numbers(values: Sequence[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def grouped_bars(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    ylabel: str,
    title: str = "",
) -> str | None:
    """Bars per category, one colour per series (class counts before/after, target/achieved)."""
    if not categories or not series or not available():
        return None
    n_series = len(series)
    width = 0.8 / n_series
    with _figure(WIDTH_IN, 2.2) as fig:
        ax: Axes = fig.subplots()
        for i, (name, values) in enumerate(series.items()):
            xs = [c + (i - (n_series - 1) / 2) * width for c in range(len(categories))]
            ax.bar(xs, values, width=width, color=_colour(name, i), label=_label(name))
        rotation = 30 if len(categories) > 6 or max(len(c) for c in categories) > 10 else 0
        ax.set_xticks(
            range(len(categories)),
            [_short(c) for c in categories],
            rotation=rotation,
            ha="right" if rotation else "center",
        )
        ax.set_ylabel(ylabel)
        _legend_and_title(fig, ax, title)
        return _uri(fig)


def _short(text: str, limit: int = 18) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def line_chart(values: Sequence[float | None], *, xlabel: str, ylabel: str) -> str | None:
    """A line over the index of ``values`` (missing values leave a gap)."""
    points = [(i + 1, v) for i, v in enumerate(values) if isinstance(v, int | float)]
    if len(points) < 2 or not available():
        return None
    with _figure(WIDTH_IN, 2.1) as fig:
        ax = fig.subplots()
        ax.plot([p[0] for p in points], [p[1] for p in points], color=SELECTION, linewidth=1.4)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        return _uri(fig)


def sweep_chart(
    jobs: Sequence[str],
    metrics: Mapping[str, Mapping[str, Sequence[float | None]]],
    *,
    xlabel: str = "job",
) -> str | None:
    """A panel per metric; per job, the selection's bar next to the random subset's.

    Args:
        jobs: Job labels along the x axis.
        metrics: Metric label → series name (``selection``, ``random``) → one value per job.
        xlabel: What the job labels are (``job``, or the one override the sweep varies).
    """
    if not jobs or not metrics or not available():
        return None
    with _figure(WIDTH_IN, 2.4) as fig:
        axes = fig.subplots(1, len(metrics), squeeze=False)[0]
        for ax, (metric, series) in zip(axes, metrics.items(), strict=True):
            width = 0.8 / max(1, len(series))
            for i, (name, values) in enumerate(series.items()):
                xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(jobs))]
                heights = [v if isinstance(v, int | float) else 0.0 for v in values]
                ax.bar(xs, heights, width=width, color=_colour(name, i), label=_label(name))
            ax.set_xticks(range(len(jobs)), [_short(j, 12) for j in jobs])
            ax.set_title(metric)
            ax.set_xlabel(xlabel)
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center", ncols=2)
        return _uri(fig)
