"""Bodies of the run endpoints of the viewer API (routing and caches are in ``viewer.py``).

Every answer is plain JSON built from the run folder; nothing is written. Sample-level fields
that later issues add (metadata, predictions with boxes, video frame and timestamp) have their
keys already, set to ``None``, so the page has one place to show them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from runner.serve.run_data import EMBEDDINGS_FILE, PROJECTION_FILE
from runner.serve.run_index import STATUSES, RunIndex
from runner.serve.runs import RunRef, run_summary

if TYPE_CHECKING:
    from runner.serve.viewer import Viewer

MAX_PAGE = 500
DEFAULT_PAGE = 100
DEFAULT_NEIGHBOURS = 12
MAX_NEIGHBOURS = 100
NEIGHBOUR_WAIT_S = 2.0  # then answer "loading"; the page asks again


class ApiError(Exception):
    """A client mistake or a missing run, answered as ``{"error": ...}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _param(params: dict[str, list[str]], name: str, default: str) -> str:
    values = params.get(name)
    return values[0] if values else default


def _int_param(params: dict[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(_param(params, name, str(default)))
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None
    return max(low, min(high, value))


def summary(viewer: Viewer, ref: RunRef, folder: Path) -> dict[str, Any]:
    """``runs/<ref>``: the run's summary, filter counts and sort fields.

    Also starts loading the embeddings in the background, so neighbours are ready by the time
    someone opens a sample.
    """
    index = viewer.index(folder)
    latest = (folder.parent / "latest").resolve() == folder
    data = run_summary(ref, folder, viewer.roots, latest=latest)
    has_embeddings = (folder / EMBEDDINGS_FILE).is_file()
    if has_embeddings:
        try:
            viewer.embeddings(folder, wait=0)
        except (OSError, ValueError):
            has_embeddings = False
    data.update(
        filters=index.counts(),
        sort_fields=index.sort_fields(),
        candidates_from=index.candidates_from,
        has_projection=(folder / PROJECTION_FILE).is_file(),
        has_embeddings=has_embeddings,
        statuses=list(STATUSES),
        max_page=MAX_PAGE,
    )
    return data


def samples(viewer: Viewer, folder: Path, params: dict[str, list[str]]) -> dict[str, Any]:
    """``runs/<ref>/samples``: one page of filtered, sorted samples."""
    index = viewer.index(folder)
    status = _param(params, "filter", "all")
    sort = _param(params, "sort", "key")
    order = _param(params, "order", "asc")
    if order not in ("asc", "desc"):
        raise ApiError(400, "order must be asc or desc")
    offset = _int_param(params, "offset", 0, 0, 2**40)
    limit = _int_param(params, "limit", DEFAULT_PAGE, 1, MAX_PAGE)
    try:
        total, page = index.query(
            status=status, sort=sort, descending=order == "desc", offset=offset, limit=limit
        )
    except ValueError as err:
        raise ApiError(400, str(err)) from None
    return {
        "total": total,
        "offset": offset,
        "limit": limit,
        "filter": status,
        "sort": sort,
        "order": order,
        "items": [index.item(int(i)) for i in page],
    }


def sample(viewer: Viewer, folder: Path, params: dict[str, list[str]]) -> dict[str, Any]:
    """``runs/<ref>/sample?key=``: one sample with its path, status, fields and neighbours."""
    key = _param(params, "key", "")
    if not key:
        raise ApiError(400, "key is required")
    index = viewer.index(folder)
    position = index.position.get(key)
    if position is None:
        raise ApiError(404, "no such sample in this run")
    k = _int_param(params, "k", DEFAULT_NEIGHBOURS, 0, MAX_NEIGHBOURS)
    detail = index.item(position)
    input_dir = index.urls.input_dir
    crop = index.urls.crops.get(key)
    crop_file = index.urls.crop_file(key)
    detail.update(
        path=str(crop_file) if crop_file else (str(input_dir / key) if input_dir else None),
        duplicate_of=index.duplicate_of.get(key),
        duplicates=sorted(d for d, o in index.duplicate_of.items() if o == key),
        map=_map_point(viewer, folder, key),
        # Later issues: Lightly metadata, predictions (boxes drawn on the image), video frames.
        metadata=None,
        predictions=crop,  # an object crop: its image, object index, category, score, boxes
        video=None,
    )
    detail.update(_neighbours(viewer, folder, index, key, k))
    return detail


def _map_point(viewer: Viewer, folder: Path, key: str) -> dict[str, float] | None:
    projection = viewer.projection_data(folder)
    row = projection.position.get(key) if projection else None
    if projection is None or row is None:
        return None
    x, y = projection.xy[row]
    return {"x": float(x), "y": float(y)}


def _neighbours(viewer: Viewer, folder: Path, index: RunIndex, key: str, k: int) -> dict[str, Any]:
    try:
        embeddings = viewer.embeddings(folder, wait=NEIGHBOUR_WAIT_S)
    except (OSError, ValueError) as err:
        return {"neighbours": None, "neighbours_status": f"unavailable: {err}"}
    if embeddings is None:
        return {"neighbours": None, "neighbours_status": "loading"}
    # A removed duplicate has its original's embedding: show the original's neighbours.
    lookup = key if key in embeddings.position else index.duplicate_of.get(key, key)
    pairs = embeddings.nearest(lookup, k)
    if pairs is None:
        return {"neighbours": None, "neighbours_status": "unavailable: no embedding (corrupt)"}
    items = []
    for other, distance in pairs:
        row = index.position.get(other)
        items.append(
            {
                "key": other,
                "distance": round(distance, 6),
                "status": STATUSES[int(index.status[row])] if row is not None else None,
                "thumb": index.urls.thumbnail(other),
            }
        )
    return {"neighbours": items, "neighbours_status": "ok"}


def projection(viewer: Viewer, folder: Path) -> dict[str, Any]:
    """``runs/<ref>/projection``: every map point with its key and status code."""
    data = viewer.projection_data(folder)
    if data is None:
        return {"available": False, "reason": f"this run has no (valid) {PROJECTION_FILE}"}
    index = viewer.index(folder)
    not_selected = STATUSES.index("not_selected")
    codes = [
        int(index.status[index.position[k]]) if k in index.position else not_selected
        for k in data.keys
    ]
    xy = np.round(data.xy.astype(np.float64), 5)  # (N, 2)
    return {
        "available": True,
        "n": len(data.keys),
        "keys": data.keys,
        "x": xy[:, 0].tolist(),
        "y": xy[:, 1].tolist(),
        "status": codes,
        "statuses": list(STATUSES),
    }
