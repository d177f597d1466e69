"""One run's samples as arrays: status, sortable fields, URLs; filtered and paged on the server.

The index covers every sample a run looked at: the candidates (keys of ``projection.npz``, else
the ``filenames`` column of ``embeddings.csv``) plus the corrupt samples and the duplicates from
``report.json``. Filtering and sorting are numpy operations over the whole run, so a page of a
100k-sample run costs milliseconds; only the page's items touch the disk (thumbnail checks).

Sortable fields: ``key``, ``rank`` (selection order), ``pick_distance`` (the diversity
distance at which a sample was picked), ``file_size`` (computed on first use) and any numeric
mapping ``report.json`` holds under ``samples.scores.<name>`` (``{key: value}``), the hook for
later issues' scores and metadata.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import numpy as np

from runner.datasource.discover import IMAGE_EXTENSIONS
from runner.serve.paths import Roots, url_for

STATUSES = ("selected", "not_selected", "corrupt", "duplicate")
SELECTED, NOT_SELECTED, CORRUPT, DUPLICATE = range(4)
FILTERS = ("all", *STATUSES)
LAZY_FIELDS = ("file_size",)
DEFAULT_THUMB_SUFFIX = ".lightly/thumbnails/[filename]_thumb.[extension]"


def plain_key(key: str) -> bool:
    """Whether a key from a run file is a plain relative path (safe to join to a folder)."""
    parts = key.split("/")
    return not ("\\" in key or "\x00" in key or any(p in ("", ".", "..") for p in parts))


@dataclass
class SampleUrls:
    """URLs (paths on this server) of a run's originals, Lightly thumbnails and report files."""

    input_dir: Path | None
    lightly_dir: Path
    run_dir: Path
    thumb_suffix: str | None
    report_thumbs: dict[str, str]
    roots: Roots
    crops: dict[str, dict[str, Any]] = field(default_factory=dict)
    crops_dir: Path | None = None

    def __post_init__(self) -> None:
        self._input = url_for(self.input_dir, self.roots) if self.input_dir else None
        self._lightly = url_for(self.lightly_dir, self.roots)
        self._run = url_for(self.run_dir, self.roots)

    def original(self, key: str) -> str | None:
        """URL of the sample's file in the input datasource; for an object crop its file in
        ``.lightly/crops/<task>/`` when written, else its image."""
        crop = self.crops.get(key)
        if crop is not None:
            written = self.crop_file(key)
            if written is not None:
                return url_for(written, self.roots)
            return self.original(str(crop.get("image", "")))
        return None if self._input is None else f"{self._input}/{quote(key)}"

    def crop_file(self, key: str) -> Path | None:
        """The written file of an object crop, if there is one."""
        if self.crops_dir is None or key not in self.crops or not plain_key(key):
            return None
        path = self.crops_dir / key
        return path if path.is_file() else None

    def lightly_thumbnail(self, key: str) -> Path | None:
        """Where Lightly's ``thumbSuffix`` puts this sample's thumbnail."""
        if not self.thumb_suffix or not plain_key(key):
            return None
        pure = PurePosixPath(key)
        stem = str(pure.with_suffix("")) if pure.suffix else key
        relative = self.thumb_suffix.replace("[filename]", stem)
        return self.lightly_dir / relative.replace("[extension]", pure.suffix.lstrip("."))

    def thumbnail(self, key: str) -> str | None:
        """Best small image: Lightly thumbnail, else the report's, else the original image."""
        thumb = self.lightly_thumbnail(key)
        if thumb is not None and self._lightly is not None and thumb.is_file():
            return url_for(thumb, self.roots)
        report_thumb = self.report_thumbs.get(key)
        if report_thumb and self._run is not None and (self.run_dir / report_thumb).is_file():
            return f"{self._run}/{quote(report_thumb)}"
        if key in self.crops:  # an object crop: its file, else its image's thumbnail
            written = self.crop_file(key)
            image = str(self.crops[key].get("image", ""))
            return url_for(written, self.roots) if written is not None else self.thumbnail(image)
        if PurePosixPath(key).suffix.lower() in IMAGE_EXTENSIONS:
            return self.original(key)
        return None


@dataclass
class RunIndex:
    """All samples of one run, sorted by key, with status codes and numeric fields."""

    keys: list[str]
    status: np.ndarray  # (N,) int8 codes, see STATUSES
    reasons: dict[str, str]
    duplicate_of: dict[str, str]
    fields: dict[str, np.ndarray]  # name -> (N,) float64, NaN where missing
    candidates_from: str
    urls: SampleUrls
    position: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.position = {key: i for i, key in enumerate(self.keys)}

    @property
    def nbytes(self) -> int:
        """Approximate memory footprint."""
        return 200 * len(self.keys) + 8 * len(self.keys) * (len(self.fields) + 1)

    def sort_fields(self) -> list[str]:
        """Names the samples can be sorted by."""
        return ["key", *sorted({*self.fields, *LAZY_FIELDS})]

    def counts(self) -> dict[str, int]:
        """Samples per filter."""
        per_status = np.bincount(self.status, minlength=len(STATUSES))
        return {
            "all": len(self.keys),
            **{n: int(c) for n, c in zip(STATUSES, per_status, strict=True)},
        }

    def field_values(self, name: str) -> np.ndarray:
        """The (N,) values of a field, computing a lazy one on first use."""
        with self._lock:
            if name not in self.fields and name == "file_size":
                self.fields[name] = self._file_sizes()
            return self.fields[name]

    def _file_sizes(self) -> np.ndarray:
        sizes = np.full(len(self.keys), np.nan)
        base = self.urls.input_dir
        if base is None:
            return sizes
        for i, key in enumerate(self.keys):
            if not plain_key(key):
                continue
            try:
                sizes[i] = (base / key).stat().st_size
            except OSError:
                continue
        return sizes

    def query(
        self, *, status: str, sort: str, descending: bool, offset: int, limit: int
    ) -> tuple[int, np.ndarray]:
        """Filter, sort and page the samples.

        Args:
            status: One of :data:`FILTERS`.
            sort: One of :meth:`sort_fields`.
            descending: Largest first (missing values stay last either way).
            offset: Index of the first sample of the page.
            limit: Page size.

        Returns:
            The number of samples that pass the filter, and the page's sample indices.

        Raises:
            ValueError: unknown filter or sort field.
        """
        if status not in FILTERS:
            raise ValueError(f"unknown filter {status!r}; use one of {', '.join(FILTERS)}")
        if sort not in self.sort_fields():
            raise ValueError(f"unknown sort {sort!r}; use one of {', '.join(self.sort_fields())}")
        chosen = np.arange(len(self.keys))
        if status != "all":
            chosen = chosen[self.status == STATUSES.index(status)]
        if sort == "key":
            ordered = chosen[::-1] if descending else chosen
        else:
            values = self.field_values(sort)[chosen]
            missing = np.isnan(values)
            signed = np.where(missing, 0.0, -values if descending else values)
            ordered = chosen[np.lexsort((chosen, signed, missing))]
        return len(chosen), ordered[offset : offset + limit]

    def item(self, i: int) -> dict[str, Any]:
        """The JSON of one grid cell."""
        key = self.keys[i]
        crop = self.urls.crops.get(key)
        return {
            "key": key,
            "status": STATUSES[int(self.status[i])],
            "reason": self.reasons.get(key),
            "thumb": self.urls.thumbnail(key),
            "url": self.urls.original(key),
            "fields": {name: _number(values[i]) for name, values in sorted(self.fields.items())},
            "image": crop.get("image") if crop is not None else None,
        }


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _selection_fields(report: dict[str, Any], selected: list[str]) -> dict[str, dict[str, float]]:
    """``rank`` and, for a diversity selection, ``pick_distance`` by key."""
    rank = {key: float(position + 1) for position, key in enumerate(selected)}
    fields: dict[str, dict[str, float]] = {"rank": rank}
    for strategy in report.get("selection", {}).get("strategies", []) or []:
        picks = strategy.get("pick_min_distances") if isinstance(strategy, dict) else None
        if strategy.get("strategy") == "DIVERSITY" and isinstance(picks, list):
            if len(picks) == len(selected):
                fields["pick_distance"] = {
                    k: float(d) for k, d in zip(selected, picks, strict=True) if d is not None
                }
            break
    return fields


def _score_fields(samples: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Numeric per-sample mappings under ``samples.scores`` (hook for later issues)."""
    scores = samples.get("scores")
    if not isinstance(scores, dict):
        return {}
    return {
        str(name): {
            str(k): float(v)
            for k, v in mapping.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        for name, mapping in scores.items()
        if isinstance(mapping, dict)
    }


def _crops(run_dir: Path, report: dict[str, Any]) -> dict[str, Any]:
    """``crops`` (key -> image, object, box, ...) and ``crops_dir`` of a crop selection."""
    section = report.get("crops")
    if not isinstance(section, dict):
        return {}
    try:
        data = json.loads((run_dir / str(section.get("file", "crops.json"))).read_text("utf-8"))
        crops = {str(k): dict(v) for k, v in data["crops"].items() if isinstance(v, dict)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
    lightly = Path(report.get("datasource", {}).get("lightly") or run_dir.parents[2])
    folder = section.get("folder")
    crops_dir = lightly / folder if isinstance(folder, str) and plain_key(folder) else None
    return {"crops": crops, "crops_dir": crops_dir}


def build_index(
    run_dir: Path,
    report: dict[str, Any],
    candidates: list[str],
    candidates_from: str,
    roots: Roots,
) -> RunIndex:
    """Combine ``report.json`` and the run's candidate keys into a :class:`RunIndex`.

    Args:
        run_dir: The run folder.
        report: Its parsed ``report.json``.
        candidates: Keys of every candidate (the samples that were embedded).
        candidates_from: Which file the candidates came from (shown in the viewer).
        roots: The served roots (for URLs).
    """
    samples = report.get("samples", {}) or {}
    selected = [str(k) for k in samples.get("selected", [])]
    corrupt = {str(k): str(v) for k, v in (samples.get("corrupt") or {}).items()}
    duplicates = {str(k): str(v) for k, v in (samples.get("duplicates") or {}).items()}
    keys = sorted({*candidates, *selected, *corrupt, *duplicates})
    position = {key: i for i, key in enumerate(keys)}
    status = np.full(len(keys), NOT_SELECTED, dtype=np.int8)
    for code, group in ((CORRUPT, corrupt), (DUPLICATE, duplicates), (SELECTED, selected)):
        status[[position[k] for k in group]] = code
    reasons = {k: f"corrupt: {v}" for k, v in corrupt.items()}
    reasons.update({k: f"exact duplicate of {v}" for k, v in duplicates.items()})
    fields = {}
    for name, mapping in {**_selection_fields(report, selected), **_score_fields(samples)}.items():
        values = np.full(len(keys), np.nan)
        for key, value in mapping.items():
            if key in position:
                values[position[key]] = value
        fields[name] = values
    datasource = report.get("datasource", {}) or {}
    config_ds = (report.get("config", {}) or {}).get("datasource", {}) or {}
    urls = SampleUrls(
        input_dir=Path(datasource["input"]) if datasource.get("input") else None,
        lightly_dir=Path(datasource.get("lightly") or run_dir.parents[2]),
        run_dir=run_dir,
        thumb_suffix=config_ds.get("thumbnail_suffix", DEFAULT_THUMB_SUFFIX),
        report_thumbs={str(k): str(v) for k, v in (report.get("thumbnails") or {}).items()},
        roots=roots,
        **_crops(run_dir, report),
    )
    return RunIndex(keys, status, reasons, duplicates, fields, candidates_from, urls)
