"""The viewer under the reserved prefix ``/_lightly/``: static pages and a read-only JSON API.

The viewer owns exactly these URLs; every other path, under ``/_lightly/`` too, is data:

* ``/_lightly/`` (``index.html``), ``/_lightly/run.html``, ``/_lightly/viewer.css``,
  ``/_lightly/viewer.js``: the pages, from ``templates/viewer/``;
* ``/_lightly/api/...``: the API (see :meth:`Viewer.api`);
* ``/_lightly/raw/<path>``: the data file ``/<path>``, so a data file whose path collides with a
  viewer URL stays reachable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from runner.resources import templates_dir
from runner.serve import tags_api, viewer_api
from runner.serve.cache import BoundedCache
from runner.serve.files import content_type
from runner.serve.paths import Roots, relative_parts
from runner.serve.run_data import (
    EMBEDDINGS_FILE,
    PROJECTION_FILE,
    Embeddings,
    Projection,
    file_version,
    load_embeddings,
    load_projection,
    read_embedding_keys,
)
from runner.serve.run_index import STATUSES, RunIndex, build_index
from runner.serve.runs import RunRef, list_all, read_report, run_dir
from runner.serve.viewer_api import ApiError

VIEWER_PREFIX = "/_lightly/"
API_PREFIX = "/_lightly/api/"
RAW_PREFIX = "/_lightly/raw/"
PAGES = {
    "": "index.html",
    "index.html": "index.html",
    "run.html": "run.html",
    "viewer.css": "viewer.css",
    "viewer.js": "viewer.js",
}
RUN_ACTIONS = frozenset({"samples", "sample", "projection", "tags", "export"})
DEFAULT_CACHE_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Response:
    """A complete viewer answer; the server adds CORS, error and length headers."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        """JSON, never cached (runs appear and change while the server runs)."""
        body = json.dumps(data, ensure_ascii=True, separators=(",", ":")).encode("ascii")
        headers = (("Content-Type", "application/json"), ("Cache-Control", "no-store"))
        return cls(status, body, headers)

    @classmethod
    def redirect(cls, location: str) -> Response:
        """A temporary redirect."""
        return cls(302, b"", (("Location", location), ("Cache-Control", "no-store")))


class Viewer:
    """Answers ``/_lightly/`` requests; holds the per-run caches.

    Args:
        roots: The served roots (runs are searched below ``roots.lightly``).
        pages_dir: Folder of the static pages (default: packaged ``templates/viewer``).
        cache_bytes: Memory budget for parsed run files.
    """

    def __init__(
        self, roots: Roots, pages_dir: Path | None = None, cache_bytes: int = DEFAULT_CACHE_BYTES
    ) -> None:
        self.roots = roots
        self.pages_dir = pages_dir or templates_dir() / "viewer"
        self.cache: BoundedCache[Any] = BoundedCache(cache_bytes)

    def respond(self, path: str, query: str) -> Response | None:
        """The answer for a ``/_lightly/...`` path, or ``None`` when the path is data."""
        rest = path[len(VIEWER_PREFIX) :]
        if rest in PAGES:
            return self._page(PAGES[rest])
        if not (path + "/").startswith(API_PREFIX):
            return None
        try:
            return Response.json(self.api(path[len(API_PREFIX) :], parse_qs(query)))
        except ApiError as err:
            return Response.json({"error": str(err)}, status=err.status)

    def _page(self, name: str) -> Response:
        try:
            body = (self.pages_dir / name).read_bytes()
        except OSError:
            return Response.json({"error": f"viewer page {name} is not installed"}, 404)
        return Response(
            200, body, (("Content-Type", content_type(name)), ("Cache-Control", "no-cache"))
        )

    def api(self, route: str, params: dict[str, list[str]]) -> Any:
        """Dispatch an API route (the part after ``/_lightly/api/``).

        Routes: ``info``; ``runs``; ``runs/<ref>`` (summary, filter counts, sort fields);
        ``runs/<ref>/samples?filter=&sort=&order=asc|desc&offset=&limit=``;
        ``runs/<ref>/sample?key=&k=``; ``runs/<ref>/projection``; ``runs/<ref>/tags``;
        ``runs/<ref>/export?tag=&format=filenames|read_urls|label_studio``.

        Raises:
            ApiError: unknown route or run, bad parameter.
        """
        if route == "info":
            return {
                "input_mount": str(self.roots.input),
                "lightly_mount": str(self.roots.lightly),
                "statuses": list(STATUSES),
            }
        if route == "runs":
            return {"datasources": list_all(self.roots)}
        if route.startswith("runs/"):
            ref, folder, action = self._locate(route[len("runs/") :])
            if action is None:
                return viewer_api.summary(self, ref, folder)
            if action == "samples":
                return viewer_api.samples(self, folder, params)
            if action == "sample":
                return viewer_api.sample(self, folder, params)
            if action == "tags":
                return tags_api.tags(API_PREFIX, ref, folder)
            if action == "export":
                return tags_api.export(self.roots, ref, folder, params)
            return viewer_api.projection(self, folder)
        raise ApiError(404, "unknown API route")

    def _locate(self, encoded: str) -> tuple[RunRef, Path, str | None]:
        parts = relative_parts("/" + encoded)
        if not parts:
            raise ApiError(404, "no such run")
        attempts: list[tuple[tuple[str, ...], str | None]] = [(parts, None)]
        if len(parts) > 1 and parts[-1] in RUN_ACTIONS:
            attempts.append((parts[:-1], parts[-1]))
        for ref_parts, action in attempts:
            ref = RunRef.from_parts(ref_parts)
            folder = run_dir(self.roots.lightly, ref) if ref else None
            if ref is not None and folder is not None and (folder / "report.json").is_file():
                return RunRef(ref.datasource, folder.name), folder, action
        raise ApiError(404, "no such run (or it has no report.json yet)")

    def index(self, folder: Path) -> RunIndex:
        """The run's sample index (cached until report/map/embeddings change)."""
        sources = [folder / "report.json", folder / PROJECTION_FILE, folder / EMBEDDINGS_FILE]
        key = ("index", *(file_version(p) for p in sources))

        def load() -> tuple[RunIndex, int]:
            report = read_report(folder)
            if report is None:
                raise ApiError(404, "report.json is missing or unreadable")
            projection = self.projection_data(folder)
            if projection is not None:
                candidates, source = projection.keys, PROJECTION_FILE
            elif (folder / EMBEDDINGS_FILE).is_file():
                candidates, source = read_embedding_keys(folder / EMBEDDINGS_FILE), EMBEDDINGS_FILE
            else:
                candidates, source = [], "report.json"
            built = build_index(folder, report, candidates, source, self.roots)
            return built, built.nbytes

        index = self.cache.get(key, load)
        assert isinstance(index, RunIndex)
        return index

    def projection_data(self, folder: Path) -> Projection | None:
        """The run's 2-D map, or ``None`` when it has none."""
        version = file_version(folder / PROJECTION_FILE)
        if version is None:
            return None

        def load() -> tuple[Projection | None, int]:
            projection = load_projection(folder / PROJECTION_FILE)
            return projection, projection.nbytes if projection else 0

        return self.cache.get(("projection", version), load)

    def embeddings(self, folder: Path, *, wait: float | None) -> Embeddings | None:
        """The run's embeddings (loaded in the background; ``None`` while still loading).

        Raises:
            ValueError, OSError: the file is missing or malformed.
        """
        version = file_version(folder / EMBEDDINGS_FILE)
        if version is None:
            raise FileNotFoundError(f"this run has no {EMBEDDINGS_FILE}")

        def load() -> tuple[Embeddings, int]:
            loaded = load_embeddings(folder / EMBEDDINGS_FILE)
            return loaded, loaded.nbytes

        return self.cache.get(("embeddings", version), load, timeout=wait)
