"""The viewer's JSON API over HTTP, on a real ``lightly-run`` run (made once per session)."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlencode

import numpy as np
import pytest

from runner.serve.cache import BoundedCache
from runner.serve.paths import Roots
from runner.serve.run_data import load_embeddings
from runner.serve.server import LightlyServer, running_server
from runner.serve.viewer import Viewer
from tests.conftest import FAST, Mounts, run_cli, write_images

N_SELECTED = 5
ODD_NAME = "sub dir/pic ü 1.jpg"


@dataclass(frozen=True)
class RealRun:
    mounts: Mounts
    run_dir: Path
    report: dict[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.mounts.relative_path}/{self.run_dir.name}"

    @property
    def selected(self) -> list[str]:
        return (self.run_dir / "selected_filenames.txt").read_text().splitlines()


def make_real_run(base: Path) -> RealRun:
    """Run ``lightly-run`` once per session on real photos with a corrupt file and a duplicate."""
    mounts = Mounts(base / "input_mount", base / "lightly_mount", "cam1")
    if not (base / "done").exists():
        names = [f"img_{i:02d}.png" for i in range(10)] + [f"sub dir/p_{i}.jpg" for i in range(3)]
        write_images(mounts.input_dir, [*names, ODD_NAME], seed=5)
        (mounts.input_dir / "zz_copy.png").write_bytes(
            (mounts.input_dir / "img_03.png").read_bytes()
        )
        (mounts.input_dir / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
        mounts.lightly_dir.mkdir(parents=True)
        result = run_cli(
            # DIVERSITY: its pick distances are a sort field of the viewer
            [
                *mounts.overrides(),
                *FAST,
                "selection=diversity",
                f"selection.n_samples={N_SELECTED}",
            ],
            cwd=base,
        )
        assert result.returncode == 0, result.stderr
        run_dir = (mounts.runs_dir / "latest").resolve()
        if not (run_dir / "projection.npz").exists():  # fallback until every run writes one
            emb = load_embeddings(run_dir / "embeddings.csv")
            centred = emb.matrix - emb.matrix.mean(axis=0)
            xy = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T
            np.savez(run_dir / "projection.npz", keys=np.array(emb.keys), xy=xy.astype(np.float32))
        (base / "done").touch()
    run_dir = (mounts.runs_dir / "latest").resolve()
    return RealRun(mounts, run_dir, json.loads((run_dir / "report.json").read_text()))


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> RealRun:
    return make_real_run(tmp_path_factory.getbasetemp() / "serve_real_run")


@pytest.fixture(scope="module")
def server(real_run: RealRun) -> Iterator[LightlyServer]:
    roots = Roots.resolve(real_run.mounts.input_mount, real_run.mounts.lightly_mount)
    with running_server(roots, viewer=Viewer(roots)) as srv:
        yield srv


def get(server: LightlyServer, path: str, **params: Any) -> tuple[int, Any]:
    url = server.url("127.0.0.1") + path + (f"?{urlencode(params)}" if params else "")
    try:
        with urllib.request.urlopen(url, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def fetch(server: LightlyServer, path: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(server.url("127.0.0.1") + path, timeout=30) as reply:
        return reply.status, reply.headers["Content-Type"], reply.read()


def api_run(run: RealRun, action: str = "") -> str:
    return f"/_lightly/api/runs/{quote(run.ref)}" + (f"/{action}" if action else "")


def sample_detail(server: LightlyServer, run: RealRun, key: str, k: int = 4) -> dict[str, Any]:
    """The sample endpoint, asked again while the embeddings are still loading."""
    deadline = time.monotonic() + 60
    while True:
        status, data = get(server, api_run(run, "sample"), key=key, k=k)
        assert status == 200, data
        if data["neighbours_status"] != "loading" or time.monotonic() > deadline:
            return data
        time.sleep(0.2)


def test_runs_list_shows_the_run_with_summary_and_links(
    server: LightlyServer, real_run: RealRun
) -> None:
    status, data = get(server, "/_lightly/api/runs")
    assert status == 200
    [datasource] = data["datasources"]
    assert datasource["datasource"] == "cam1"
    [run] = datasource["runs"]
    assert run["run_id"] == real_run.run_dir.name and run["latest"] is True
    assert run["counts"] == real_run.report["counts"]
    assert run["selection"]["strategies"] == ["EMBEDDINGS/DIVERSITY"]
    assert run["viewer_url"] == "/_lightly/run.html?run=" + quote(real_run.ref, safe="")
    code, kind, body = fetch(server, run["files"]["report.pdf"])
    assert code == 200 and kind == "application/pdf" and body.startswith(b"%PDF")


def test_summary_counts_filters_and_sort_fields(server: LightlyServer, real_run: RealRun) -> None:
    status, data = get(server, api_run(real_run))
    assert status == 200
    counts = real_run.report["counts"]
    assert data["filters"] == {
        "all": counts["candidates"] + counts["corrupt"] + counts["duplicates"],
        "selected": N_SELECTED,
        "not_selected": counts["candidates"] - N_SELECTED,
        "corrupt": 1,
        "duplicate": 1,
    }
    assert {"key", "rank", "pick_distance", "file_size"} <= set(data["sort_fields"])
    assert data["has_projection"] is True and data["candidates_from"] == "projection.npz"
    latest_status, latest = get(server, "/_lightly/api/runs/cam1/latest")
    assert latest_status == 200 and latest["run_id"] == real_run.run_dir.name


def test_selected_page_in_selection_order_with_working_images(
    server: LightlyServer, real_run: RealRun
) -> None:
    status, page = get(server, api_run(real_run, "samples"), filter="selected", sort="rank")
    assert status == 200 and page["total"] == N_SELECTED
    assert [item["key"] for item in page["items"]] == real_run.selected
    lightly_dir = real_run.mounts.lightly_dir
    for rank, item in enumerate(page["items"], start=1):
        assert item["status"] == "selected" and item["fields"]["rank"] == rank
        key = PurePosixPath(item["key"])
        relative = f"{key.with_suffix('')}_thumb{key.suffix}"  # Lightly's thumbSuffix default
        if (lightly_dir / ".lightly" / "thumbnails" / relative).is_file():
            expected = "/cam1/.lightly/thumbnails/" + quote(relative)
        else:
            report_thumb = real_run.report["thumbnails"][item["key"]]
            expected = f"/cam1/.lightly/runs/{real_run.run_dir.name}/{quote(report_thumb)}"
        assert item["thumb"] == expected
        code, kind, _ = fetch(server, item["thumb"])
        assert code == 200 and kind.startswith("image/")
        _, _, original = fetch(server, item["url"])
        assert original == (real_run.mounts.input_dir / item["key"]).read_bytes()


def test_pages_cover_every_sample_once(server: LightlyServer, real_run: RealRun) -> None:
    keys: list[str] = []
    offset = 0
    while True:
        _, page = get(server, api_run(real_run, "samples"), offset=offset, limit=4)
        keys += [item["key"] for item in page["items"]]
        offset += 4
        if offset >= page["total"]:
            break
    assert keys == sorted(keys) and len(keys) == len(set(keys)) == page["total"]
    assert {"broken.jpg", "zz_copy.png", "img_03.png", ODD_NAME} <= set(keys)


def test_sorting_puts_missing_values_last(server: LightlyServer, real_run: RealRun) -> None:
    _, down = get(server, api_run(real_run, "samples"), sort="rank", order="desc", limit=500)
    ranks = [item["fields"]["rank"] for item in down["items"]]
    assert ranks[:N_SELECTED] == list(range(N_SELECTED, 0, -1))
    assert all(r is None for r in ranks[N_SELECTED:])
    _, by_size = get(server, api_run(real_run, "samples"), sort="file_size", limit=500)
    sizes = [item["fields"]["file_size"] for item in by_size["items"]]
    assert sizes == sorted(sizes)


def test_corrupt_and_duplicate_filters_carry_reasons(
    server: LightlyServer, real_run: RealRun
) -> None:
    _, corrupt = get(server, api_run(real_run, "samples"), filter="corrupt")
    assert [i["key"] for i in corrupt["items"]] == ["broken.jpg"]
    assert corrupt["items"][0]["reason"].startswith("corrupt: ")
    _, duplicate = get(server, api_run(real_run, "samples"), filter="duplicate")
    [(dup, original)] = real_run.report["samples"]["duplicates"].items()
    assert [i["key"] for i in duplicate["items"]] == [dup]
    assert duplicate["items"][0]["reason"] == f"exact duplicate of {original}"


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"filter": "bogus"}, "unknown filter"),
        ({"sort": "bogus"}, "unknown sort"),
        ({"order": "sideways"}, "order must be"),
        ({"limit": "many"}, "limit must be an integer"),
    ],
)
def test_bad_parameters_are_400(
    server: LightlyServer, real_run: RealRun, params: dict[str, str], fragment: str
) -> None:
    status, data = get(server, api_run(real_run, "samples"), **params)
    assert status == 400 and fragment in data["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/_lightly/api/runs/cam1/no-such-run",
        "/_lightly/api/runs/cam1/%2e%2e/%2e%2e/x",
        "/_lightly/api/runs/..%2f..%2fetc",
        "/_lightly/api/nope",
        "/_lightly/api/runs/cam1/.hidden",
    ],
)
def test_unknown_runs_and_routes_are_404(server: LightlyServer, path: str) -> None:
    status, data = get(server, path)
    assert status == 404 and "error" in data


def test_sample_detail_with_exact_nearest_neighbours(
    server: LightlyServer, real_run: RealRun
) -> None:
    key = real_run.selected[0]
    detail = sample_detail(server, real_run, key, k=4)
    assert detail["status"] == "selected" and detail["fields"]["rank"] == 1
    assert detail["path"] == str(real_run.mounts.input_dir / key)
    assert detail["map"] is not None
    assert detail["metadata"] is None and detail["predictions"] is None and detail["video"] is None
    emb = load_embeddings(real_run.run_dir / "embeddings.csv")
    distances = np.linalg.norm(emb.matrix - emb.matrix[emb.position[key]], axis=1)
    distances[emb.position[key]] = np.inf
    oracle = [emb.keys[i] for i in np.argsort(distances, kind="stable")[:4]]
    assert detail["neighbours_status"] == "ok"
    assert [n["key"] for n in detail["neighbours"]] == oracle
    got = [n["distance"] for n in detail["neighbours"]]
    assert got == sorted(got) and got[0] == pytest.approx(float(np.sort(distances)[0]), abs=1e-4)


def test_duplicate_and_corrupt_sample_details(server: LightlyServer, real_run: RealRun) -> None:
    [(dup, original)] = real_run.report["samples"]["duplicates"].items()
    detail = sample_detail(server, real_run, dup)
    assert detail["status"] == "duplicate" and detail["duplicate_of"] == original
    of_original = sample_detail(server, real_run, original)
    assert detail["neighbours"] == of_original["neighbours"] and of_original["duplicates"] == [dup]
    broken = sample_detail(server, real_run, "broken.jpg")
    assert broken["neighbours"] is None and "no embedding" in broken["neighbours_status"]
    status, _ = get(server, api_run(real_run, "sample"), key="not/there.png")
    assert status == 404


def test_projection_lists_candidates_with_status(server: LightlyServer, real_run: RealRun) -> None:
    status, data = get(server, api_run(real_run, "projection"))
    assert status == 200 and data["available"] is True
    with np.load(real_run.run_dir / "projection.npz") as npz:
        assert data["keys"] == npz["keys"].tolist()
        np.testing.assert_allclose(data["x"], npz["xy"][:, 0], atol=1e-4)
    selected_code = data["statuses"].index("selected")
    chosen = {k for k, s in zip(data["keys"], data["status"], strict=True) if s == selected_code}
    assert chosen == set(real_run.selected)


def test_viewer_pages_are_served(server: LightlyServer) -> None:
    code, kind, body = fetch(server, "/_lightly/")
    assert code == 200 and kind.startswith("text/html") and b"viewer.js" in body
    code, kind, _ = fetch(server, "/_lightly/viewer.js")
    assert code == 200 and kind.startswith("text/javascript")


def test_more_datasources_sweeps_and_a_run_without_map(real_run: RealRun, tmp_path: Path) -> None:
    """Degrades: no projection.npz, no Lightly thumbnails → no map, report thumbs or originals."""
    lightly = tmp_path / "lightly"
    bare = lightly / "site" / "cam2" / ".lightly" / "runs" / real_run.run_dir.name
    shutil.copytree(real_run.run_dir, bare)
    (bare / "projection.npz").unlink()
    for key, thumb in real_run.report["thumbnails"].items():
        if key not in real_run.selected:  # no report thumbnail either: the original is shown
            (bare / thumb).unlink()
    report = json.loads((bare / "report.json").read_text())
    report["datasource"]["lightly"] = str(lightly / "site" / "cam2")
    (bare / "report.json").write_text(json.dumps(report))
    sweep = lightly / "site" / "cam2" / ".lightly" / "sweeps" / "20260101-000000"
    sweep.mkdir(parents=True)
    (sweep / "multirun.yaml").write_text(
        "hydra:\n  overrides:\n    task:\n    - selection.n_samples=2,3\n"
    )
    too_deep = lightly / "a" / "b" / "c" / "d" / "e" / ".lightly" / "runs" / "x"
    too_deep.mkdir(parents=True)
    roots = Roots.resolve(real_run.mounts.input_mount, lightly)
    with running_server(roots, viewer=Viewer(roots)) as srv:
        _, data = get(srv, "/_lightly/api/runs")
        assert [d["datasource"] for d in data["datasources"]] == ["site/cam2"]
        [sweep_info] = data["datasources"][0]["sweeps"]
        assert sweep_info["overrides"] == ["selection.n_samples=2,3"]
        assert fetch(srv, sweep_info["files"]["multirun.yaml"])[0] == 200
        ref = f"/_lightly/api/runs/site/cam2/{bare.name}"
        _, summary = get(srv, ref)
        assert summary["has_projection"] is False and summary["candidates_from"] == "embeddings.csv"
        assert get(srv, ref + "/projection")[1]["available"] is False
        _, page = get(srv, ref + "/samples", filter="selected", sort="rank")
        first = page["items"][0]
        assert first["thumb"].endswith(real_run.report["thumbnails"][first["key"]])
        _, rest = get(srv, ref + "/samples", filter="not_selected")
        assert rest["items"] and all(item["thumb"] == item["url"] for item in rest["items"])


def test_cache_loads_once_and_evicts_by_size() -> None:
    cache: BoundedCache[str] = BoundedCache(max_bytes=10)
    calls: list[str] = []
    gate = threading.Event()

    def slow() -> tuple[str, int]:
        gate.wait(5)
        calls.append("a")
        return "A", 6

    threads = [threading.Thread(target=cache.get, args=("a", slow)) for _ in range(8)]
    for thread in threads:
        thread.start()
    assert cache.get("a", slow, timeout=0.05) is None  # still loading: the caller may say so
    gate.set()
    for thread in threads:
        thread.join()
    assert calls == ["a"] and cache.peek("a") == "A"
    assert cache.get("b", lambda: ("B", 6)) == "B"
    assert cache.peek("a") is None and len(cache) == 1


def test_tags_list_the_first_run_as_initial_tag_with_export_links(
    server: LightlyServer, real_run: RealRun
) -> None:
    status, data = get(server, api_run(real_run, "tags"))
    assert status == 200
    [tag] = data["tags"]
    assert tag["name"] == "initial-tag" and tag["run_id"] == real_run.run_dir.name
    assert tag["this_run"] is True and tag["tot_size"] == len(real_run.selected)
    status, filenames = get(
        server,
        urllib.parse.urlsplit(tag["exports"]["filenames"]).path,
        tag="initial-tag",
        format="filenames",
    )
    assert status == 200 and filenames == real_run.selected


def test_label_studio_export_urls_are_served_by_lightly_serve(
    server: LightlyServer, real_run: RealRun
) -> None:
    """Every image URL of the tasks opens (names with spaces and non-ASCII letters included)."""
    status, tasks = get(
        server, api_run(real_run, "export"), tag="initial-tag", format="label_studio"
    )
    assert status == 200
    assert [t["data"]["lightlyFileName"] for t in tasks] == real_run.selected
    assert [t["id"] for t in tasks] == list(range(len(tasks)))
    status, records = get(
        server, api_run(real_run, "export"), tag="initial-tag", format="read_urls"
    )
    assert [r["readUrl"] for r in records] == [t["data"]["image"] for t in tasks]
    location = "http://localhost:3456"  # the run's datasource.web_server_location (default)
    for task in tasks:
        url = task["data"]["image"]
        assert url.startswith(f"{location}/cam1/")
        _, _, body = fetch(server, url[len(location) :])
        name = task["data"]["lightlyFileName"]
        assert body == (real_run.mounts.input_dir / name).read_bytes()


def test_export_refuses_unknown_tags_and_formats(server: LightlyServer, real_run: RealRun) -> None:
    status, data = get(server, api_run(real_run, "export"), tag="nope", format="filenames")
    assert status == 404 and "tag 'nope' not found" in data["error"]
    status, data = get(server, api_run(real_run, "export"), tag="initial-tag", format="csv")
    assert status == 400 and "format must be one of" in data["error"]
