"""The viewer in a real headless Chromium (Debian's ``chromium``, driven by ``playwright``)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_viewer_api import RealRun, make_real_run

from runner.serve.paths import Roots
from runner.serve.server import LightlyServer, running_server
from runner.serve.viewer import Viewer

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOT_COPY = Path("/tmp/viewer.png")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium "
    "(apt-get install -y --no-install-recommends chromium chromium-driver)",
)


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> RealRun:
    return make_real_run(tmp_path_factory.getbasetemp() / "serve_real_run")


@pytest.fixture(scope="module")
def server(real_run: RealRun) -> Iterator[LightlyServer]:
    roots = Roots.resolve(real_run.mounts.input_mount, real_run.mounts.lightly_mount)
    with running_server(roots, viewer=Viewer(roots)) as srv:
        yield srv


@pytest.fixture()
def page(tmp_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def cell_keys(page: Any) -> list[str]:
    return [
        str(k) for k in page.eval_on_selector_all("#grid .cell", "cs => cs.map(c => c.dataset.key)")
    ]


def test_run_page_grid_filters_map_and_sample(
    page: Any, server: LightlyServer, real_run: RealRun, tmp_path: Path
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    base = server.url("127.0.0.1")

    # The runs list links to the run page.
    page.goto(f"{base}/_lightly/")
    page.click(f"tr[data-ref='{real_run.ref}'] a.run-link")
    page.wait_for_url("**/run.html?run=*")

    # Default view: the selection, in pick order, every thumbnail decoded.
    page.wait_for_function("document.querySelectorAll('#grid .cell').length === 5")
    assert cell_keys(page) == real_run.selected
    page.wait_for_function(
        "[...document.querySelectorAll('#grid img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    assert page.get_attribute("[data-filter='selected']", "aria-pressed") == "true"

    # The map is drawn, with the selection in its highlight colour (#f97316).
    page.wait_for_selector("#map")
    orange = page.evaluate(
        """() => { const c = document.getElementById('map');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 0; i < d.length; i += 4)
          if (d[i] === 249 && d[i + 1] === 115 && d[i + 2] === 22) n++; return n; }"""
    )
    assert orange > 0

    # Toggle filters: not selected, then corrupt.
    counts = real_run.report["counts"]
    page.click("[data-filter='not_selected']")
    expected = counts["candidates"] - len(real_run.selected)
    page.wait_for_function(
        f"document.querySelectorAll('#grid .cell.not_selected').length === {expected}"
    )
    assert not set(cell_keys(page)) & set(real_run.selected)
    page.click("[data-filter='corrupt']")
    page.wait_for_function("document.querySelectorAll('#grid .cell.corrupt').length === 1")
    assert cell_keys(page) == ["broken.jpg"]

    # Back to the selection; open a sample: path, status and neighbours appear.
    page.click("[data-filter='selected']")
    page.wait_for_function("document.querySelectorAll('#grid .cell.selected').length === 5")
    key = real_run.selected[1]
    page.click(f"#grid .cell[data-key='{key}']")
    page.wait_for_function(
        f"document.getElementById('detail-key')?.textContent === {key!r}", timeout=30_000
    )
    page.wait_for_selector("#neighbours .cell", timeout=60_000)
    assert page.text_content("#detail-status") == "Selected"
    assert str(real_run.mounts.input_dir / key) in page.text_content("#detail")
    assert page.locator("#neighbours .cell").count() == min(12, counts["candidates"] - 1)
    assert "key=" in page.url  # the open sample is in the URL (reload or share)

    shot = tmp_path / "viewer.png"
    page.wait_for_timeout(300)  # let the neighbour thumbnails paint
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    shutil.copyfile(shot, SCREENSHOT_COPY)
    assert errors == []
