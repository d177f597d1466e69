"""Jinja2 filters for the report templates: numbers, durations, dates, YAML, generic values.

Every filter returns plain text; autoescaping happens afterwards in the template, so none of
them may return ``Markup``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime
from numbers import Real
from typing import Any

import yaml  # type: ignore[import-untyped,unused-ignore]

SHORT_LIST = 10  # lists longer than this are summarised instead of printed in full
MISSING = "—"
YAML_WIDTH = 1_000_000  # never fold long strings; the CSS wraps lines in the <pre>


def fmt_number(value: Any) -> str:
    """``1234`` → ``1,234``; floats with 4 significant digits; None → a dash."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) and abs(value) < 1e6 else f"{value:.4e}"
    return str(value)


def fmt_percent(part: Any, whole: Any) -> str:
    """``part / whole`` as a percentage with one decimal, or a dash if ``whole`` is 0."""
    if not isinstance(part, Real) or not isinstance(whole, Real) or not whole:
        return MISSING
    return f"{100.0 * float(part) / float(whole):.1f} %"


def fmt_signed_percent(value: Any) -> str:
    """A relative change as ``+12.3 %`` / ``\u22124.0 %`` (a true minus); else a dash."""
    if not isinstance(value, Real) or isinstance(value, bool) or not math.isfinite(value):
        return MISSING
    percent = round(100.0 * float(value), 1)
    sign = "+" if percent > 0 else "\u2212" if percent < 0 else "±"
    return f"{sign}{abs(percent):.1f} %"


def fmt_seconds(value: Any) -> str:
    """Seconds as ``0.05 s``, ``12.3 s`` or ``2 min 05 s``."""
    if not isinstance(value, Real) or isinstance(value, bool):
        return MISSING
    seconds = float(value)
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {rest:02d} s"


def fmt_datetime(value: Any) -> str:
    """An ISO 8601 timestamp as ``2026-11-24 21:45:01 UTC``; anything else unchanged."""
    if not isinstance(value, str):
        return fmt_value(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    offset = moment.utcoffset()
    if offset is None:
        return text
    return f"{text} UTC" if not offset else f"{text} {moment.strftime('%z')}"


def fmt_value(value: Any) -> str:
    """Any JSON value as short text: numbers formatted, long lists summarised, dicts inline."""
    if value is None or isinstance(value, bool | int | float):
        return fmt_number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {fmt_value(v)}" for k, v in value.items()) or "{}"
    if isinstance(value, list | tuple):
        return _fmt_list(list(value))
    return str(value)


def _fmt_list(values: list[Any]) -> str:
    """Short lists in full; long numeric lists as count/min/mean/max; others cut off."""
    if not values:
        return "[]"
    numeric = all(isinstance(v, Real) and not isinstance(v, bool) for v in values)
    if len(values) <= SHORT_LIST:
        return ", ".join(fmt_value(v) for v in values)
    if numeric:
        floats = [float(v) for v in values]
        return (
            f"{len(floats):,} values: first {fmt_number(floats[0])}, "
            f"last {fmt_number(floats[-1])}, min {fmt_number(min(floats))}, "
            f"mean {fmt_number(sum(floats) / len(floats))}, max {fmt_number(max(floats))}"
        )
    head = ", ".join(fmt_value(v) for v in values[:SHORT_LIST])
    return f"{head}, … ({len(values) - SHORT_LIST:,} more)"


def to_yaml(value: Any) -> str:
    """A JSON-like value as block-style YAML, keys in their original order."""
    text: str = yaml.safe_dump(
        value, sort_keys=False, allow_unicode=True, default_flow_style=False, width=YAML_WIDTH
    )
    return text


FILTERS: dict[str, Callable[..., str]] = {
    "number": fmt_number,
    "percent": fmt_percent,
    "signed_percent": fmt_signed_percent,
    "seconds": fmt_seconds,
    "datetime": fmt_datetime,
    "value": fmt_value,
    "to_yaml": to_yaml,
}
