"""The "Predictions and metadata" section's values, from ``report.json``.

Two sources, both optional (see ``docs/report.md``):

- ``analysis.classes[task]``: objects per class among the candidates, the selection and the
  random subset (computed in the run from per-sample class counts);
- ``inputs.predictions[task]``: what the prediction loader reports (``task_type``,
  ``class_counts.before`` / ``.after`` as ``{class: count}``, notes, …) and
  ``inputs.metadata[path]``: ``type`` plus a ``histogram`` object (numeric) or
  ``counts.before`` / ``.after`` (categorical).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.report import plots
from runner.report.view import distribution_chart

_TASK_KEYS = ("class_counts",)
_METADATA_KEYS = ("histogram", "counts")


def inputs_view(report: Mapping[str, Any]) -> dict[str, Any] | None:
    """Predictions per task and metadata per field, or None when the run has neither."""
    inputs = report.get("inputs") if isinstance(report.get("inputs"), Mapping) else {}
    assert isinstance(inputs, Mapping)
    analysis = report.get("analysis") if isinstance(report.get("analysis"), Mapping) else {}
    assert isinstance(analysis, Mapping)
    classes = analysis.get("classes") if isinstance(analysis.get("classes"), Mapping) else {}
    loaded = inputs.get("predictions") if isinstance(inputs.get("predictions"), Mapping) else {}
    assert isinstance(classes, Mapping) and isinstance(loaded, Mapping)
    tasks = [
        _task(name, computed=classes.get(name), loaded=loaded.get(name))
        for name in dict.fromkeys([*classes, *loaded])
    ]
    metadata = inputs.get("metadata") if isinstance(inputs.get("metadata"), Mapping) else {}
    assert isinstance(metadata, Mapping)
    fields = [_metadata(path, m) for path, m in metadata.items() if isinstance(m, Mapping)]
    other = {k: v for k, v in inputs.items() if k not in ("predictions", "metadata")}
    if not tasks and not fields and not other:
        return None
    return {"tasks": tasks, "metadata": fields, "other": other}


def _task(name: str, *, computed: Any, loaded: Any) -> dict[str, Any]:
    """Class counts before/after (and random) of one task, with its chart."""
    info = dict(loaded) if isinstance(loaded, Mapping) else {}
    series: dict[str, list[Any]] = {}
    balance = None
    if isinstance(computed, Mapping) and isinstance(computed.get("names"), list):
        names = [str(n) for n in computed["names"]]
        for source, target in (
            ("candidates", "before"),
            ("selection", "after"),
            ("random", "random"),
        ):
            if isinstance(computed.get(source), list):
                series[target] = list(computed[source])
        balance = computed.get("balance")
    else:
        counts = info.get("class_counts", {})
        counts = counts if isinstance(counts, Mapping) else {}
        parts = {k: v for k, v in counts.items() if isinstance(v, Mapping)}
        names = [str(n) for n in dict.fromkeys(n for part in parts.values() for n in part)]
        series = {k: [part.get(n, 0) for n in names] for k, part in parts.items()}
    totals = {
        k: sum(v for v in values if isinstance(v, int | float)) for k, values in series.items()
    }
    rows = [
        {"name": n, **{k: values[i] for k, values in series.items()}} for i, n in enumerate(names)
    ]
    chart = distribution_chart(
        {"title": f"{name}: share of objects per class", "categories": names, "series": series}
    )
    return {
        "task": name,
        "info": {k: v for k, v in info.items() if k not in _TASK_KEYS},
        "series": list(series),
        "rows": rows,
        "totals": totals,
        "balance": balance,
        "chart": chart,
    }


def _metadata(path: str, field: Mapping[str, Any]) -> dict[str, Any]:
    """One metadata field: a histogram (numeric) or category counts before/after."""
    chart = None
    hist = field.get("histogram")
    if isinstance(hist, Mapping):
        chart = plots.histogram_chart(hist, title=path)
    counts = field.get("counts")
    if chart is None and isinstance(counts, Mapping):
        parts = {k: v for k, v in counts.items() if isinstance(v, Mapping)}
        names = [str(n) for n in dict.fromkeys(n for part in parts.values() for n in part)]
        chart = distribution_chart(
            {
                "title": path,
                "categories": names,
                "series": {k: [part.get(n, 0) for n in names] for k, part in parts.items()},
            }
        )
    return {
        "path": path,
        "chart": chart,
        "info": {k: v for k, v in field.items() if k not in _METADATA_KEYS},
    }
