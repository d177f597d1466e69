"""Values derived from ``report.json`` for the analysis sections, charts included.

The templates stay simple: every optional part of ``report.json`` (``analysis``, per-strategy
results, ``inputs``) becomes a small dict here, or None when the data is absent, and the
template omits the section. Field names are documented in ``docs/report.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from runner.report import plots
from runner.report.metrics import Better, explain, verdict

ThumbnailSrc = Callable[[str], str | None]


def analysis_view(report: Mapping[str, Any], *, thumb: ThumbnailSrc) -> dict[str, Any] | None:
    """The dashboard, embedding analysis and example pairs, or None without ``analysis``."""
    analysis = report.get("analysis")
    if not isinstance(analysis, Mapping):
        return None
    dashboard = analysis.get("dashboard", {})
    rows = list(dashboard.get("rows", []))
    hist = analysis.get("nn_histogram")
    points = analysis.get("map")
    examples = analysis.get("examples", {})
    strategies = {
        str(s.get("strategy", ""))
        for s in report.get("selection", {}).get("strategies", [])
        if isinstance(s, Mapping)
    }
    return {
        "rows": [explained_row(row, strategies=strategies) for row in rows],
        "definitions": {r["metric"]: r.get("definition", "") for r in rows},
        "distances": dashboard.get("distances", {}),
        "sampling": analysis.get("sampling", {}),
        "random_baseline": analysis.get("random_baseline", {}),
        "dashboard_chart": plots.dashboard_chart(rows),
        "map": points if isinstance(points, Mapping) else None,
        "map_chart": plots.map_chart(points) if isinstance(points, Mapping) else None,
        "histogram_chart": plots.histogram_chart(hist) if isinstance(hist, Mapping) else None,
        "examples": {
            "n_removed": examples.get("n_removed", 0),
            "n_considered": examples.get("n_considered", 0),
            "pairs": [
                {
                    **pair,
                    "removed_src": thumb(pair["removed"]),
                    "selected_src": thumb(pair["selected"]),
                }
                for pair in examples.get("pairs", [])
            ],
        },
        "elapsed_s": analysis.get("elapsed_s"),
    }


def explained_row(row: Mapping[str, Any], *, strategies: Collection[str] = ()) -> dict[str, Any]:
    """A dashboard row with what its metric measures, the better direction and a verdict.

    Explanations come from :data:`runner.report.metrics.METRICS`; a metric not listed there
    (a newer report.json) falls back to the row's own ``definition`` and ``higher_is_better``.
    ``strategies`` (the strategy types of the run) decide whether a caveat applies.
    """
    info = explain(str(row.get("metric", "")))
    if info is not None:
        better, measures, caveat = info.better, info.measures, info.caveat_for(strategies)
    else:
        better = Better.HIGHER if row.get("higher_is_better", True) else Better.LOWER
        measures, caveat = str(row.get("definition", "")).capitalize(), ""
    return {
        **row,
        "measures": measures,
        "better": better.value,
        "direction": f"{better.value.capitalize()} is better.",
        "caveat": caveat,
        "verdict": verdict(row.get("change_vs_random"), better),
    }


# Per-strategy keys with a rendering of their own; the others are listed as results.
STRATEGY_HEADER_KEYS = ("index", "input", "strategy", "strength", "params")
STRATEGY_SPECIAL_KEYS = (
    "histograms",
    "histogram",
    "distributions",
    "pick_min_distances",
    "n_before",
    "n_after",
    "target",
    "achieved",
)


def strategies_view(strategies: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per configured strategy: header, parameters, specific parts, other results."""
    return [_strategy(st) for st in strategies if isinstance(st, Mapping)]


def _strategy(st: Mapping[str, Any]) -> dict[str, Any]:
    hidden = (*STRATEGY_HEADER_KEYS, *STRATEGY_SPECIAL_KEYS)
    charts = [c for c in _histogram_charts(st) if c]
    charts += [c for c in _distribution_charts(st) if c]
    balance = _balance(st)
    if balance is not None and balance["chart"]:
        charts.append(balance["chart"])
    picks = st.get("pick_min_distances")
    pick_chart = None
    if isinstance(picks, list):
        pick_chart = plots.line_chart(picks, xlabel="pick (in order)", ylabel="distance")
    return {
        "index": st.get("index"),
        "strategy": st.get("strategy"),
        "input": st.get("input"),
        "strength": st.get("strength"),
        "params": st.get("params") if isinstance(st.get("params"), Mapping) else {},
        "threshold": _threshold(st),
        "balance": balance,
        "pick_chart": pick_chart,
        "charts": charts,
        "results": {k: v for k, v in st.items() if k not in hidden},
        "unplotted": {k: st[k] for k in ("pick_min_distances",) if k in st and pick_chart is None},
    }


def _threshold(st: Mapping[str, Any]) -> dict[str, Any] | None:
    """``n_before`` / ``n_after`` as kept and filtered counts (THRESHOLD)."""
    before, after = st.get("n_before"), st.get("n_after")
    if not isinstance(before, int) or not isinstance(after, int):
        return None
    return {"n_before": before, "n_after": after, "n_filtered": before - after}


def _balance(st: Mapping[str, Any]) -> dict[str, Any] | None:
    """``target`` and ``achieved`` class shares side by side (BALANCE)."""
    target, achieved = st.get("target"), st.get("achieved")
    if not isinstance(target, Mapping) or not isinstance(achieved, Mapping):
        return None
    names = list(dict.fromkeys([*target, *achieved]))
    rows = [{"name": n, "target": target.get(n), "achieved": achieved.get(n)} for n in names]
    series = {
        "target": [_num(target.get(n)) for n in names],
        "achieved": [_num(achieved.get(n)) for n in names],
    }
    return {
        "rows": rows,
        "chart": plots.grouped_bars(names, series, ylabel="share", title="target vs achieved"),
    }


def _histogram_charts(st: Mapping[str, Any]) -> list[str | None]:
    hists = st.get("histograms", [])
    if isinstance(st.get("histogram"), Mapping):
        hists = [st["histogram"], *hists] if isinstance(hists, list) else [st["histogram"]]
    if not isinstance(hists, list):
        return []
    return [
        plots.histogram_chart(h, title=str(h.get("title", ""))) if isinstance(h, Mapping) else None
        for h in hists
    ]


def _distribution_charts(st: Mapping[str, Any]) -> list[str | None]:
    dists = st.get("distributions", [])
    if not isinstance(dists, list):
        return []
    return [distribution_chart(d) for d in dists if isinstance(d, Mapping)]


def distribution_chart(dist: Mapping[str, Any]) -> str | None:
    """A distribution object (``categories`` + ``series``) as grouped bars of shares."""
    categories, series = dist.get("categories"), dist.get("series")
    if not isinstance(categories, list) or not isinstance(series, Mapping):
        return None
    if not all(isinstance(v, list) and len(v) == len(categories) for v in series.values()):
        return None
    shares = {name: _shares(values) for name, values in series.items()}
    title = str(dist.get("title", ""))
    return plots.grouped_bars([str(c) for c in categories], shares, ylabel="share", title=title)


def _shares(values: Sequence[Any]) -> list[float]:
    numbers = [_num(v) for v in values]
    total = sum(numbers)
    return [v / total if total else 0.0 for v in numbers]


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
