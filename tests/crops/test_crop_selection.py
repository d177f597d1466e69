"""Object-level (crop) selection end to end: ``lightly-run`` on images with predictions.

Every image of the ``mounts`` fixture (96 x 96 px) gets detections made here; each object
becomes a crop sample, is embedded, selected by the strategies at crop level, and the selected
crops are written under ``.lightly/crops/<task>/``.
"""

from __future__ import annotations

import csv
import json
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import numpy as np
import pytest
from PIL import Image

from runner.serve.paths import Roots
from runner.serve.server import LightlyServer, running_server
from runner.serve.viewer import Viewer
from tests.conftest import FAST, Mounts, run_cli, write_prediction_task

KEYS = [f"img_{i:02d}.png" for i in range(6)] + [f"sub/pic_{i:02d}.jpg" for i in range(6)]
CATEGORIES = ("cat", "dog")


def detections() -> dict[str, list[dict[str, Any]]]:
    """Two or three objects per image (36 - 1 bad ones), plus the bad cases of the brief:

    ``img_00.png`` object 2 has a zero-area box (a listed skip, its other objects are used);
    ``sub/pic_05.jpg``'s file has a box far outside the image (the whole file is skipped).
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for i, key in enumerate(KEYS):
        objects = []
        for j in range(2 + i % 2):
            x, y = 4 + 9 * j + i, 6 + 7 * j
            w, h = 30 + 3 * j, 26 + 2 * ((i + j) % 4)
            score = round(0.35 + 0.05 * ((i + 2 * j) % 12), 2)
            objects.append({"category_id": (i + j) % 2, "bbox": [x, y, w, h], "score": score})
        out[key] = objects
    out["img_00.png"].append({"category_id": 0, "bbox": [10, 10, 0, 5], "score": 0.9})
    out["sub/pic_05.jpg"].append({"category_id": 0, "bbox": [200, 10, 20, 20], "score": 0.9})
    return out


def write_detections(m: Mounts, task: str = "det") -> dict[str, list[dict[str, Any]]]:
    found = detections()
    write_prediction_task(
        m.lightly_dir, task, task_type="object-detection", categories=CATEGORIES, predictions=found
    )
    return found


def run(m: Mounts, tmp_path: Path, *overrides: str) -> Path:
    result = run_cli([*m.overrides(), *FAST, *overrides], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return (m.runs_dir / "latest").resolve()


def diversity(task: str = "det") -> str:
    entry = f"{{input:{{type:EMBEDDINGS,task:{task}}},strategy:{{type:DIVERSITY}}}}"
    return f"selection.strategies=[{entry}]"


def test_object_diversity_selects_crops_and_writes_them(mounts: Mounts, tmp_path: Path) -> None:
    found = write_detections(mounts)
    run_dir = run(mounts, tmp_path, "selection.n_samples=5", diversity())

    selected = (run_dir / "selected_filenames.txt").read_text().splitlines()
    crops = json.loads((run_dir / "crops.json").read_text())
    assert crops["task"] == "det" and crops["padding"] == 0.0
    # 11 usable files x 2-3 objects, minus the zero-area box: every crop is a candidate row.
    expected = sum(len(v) for k, v in found.items() if k != "sub/pic_05.jpg") - 1
    assert len(crops["crops"]) == expected
    with (run_dir / "embeddings.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["filenames"] for r in rows) == sorted(crops["crops"])
    assert len(selected) == 5 and set(selected) <= set(crops["crops"])

    # Names lead back to image and object; the written crop is exactly the predicted box.
    folder = mounts.lightly_dir / ".lightly" / "crops" / "det"
    for key in selected:
        entry = crops["crops"][key]
        image, index = entry["image"], entry["object"]
        stem, ext = Path(image).stem, Path(image).suffix.lstrip(".")
        assert Path(key).name == f"{stem}-{index}-{ext}.png"
        assert Path(key).parent == Path(image).parent
        x, y, w, h = found[image][index]["bbox"]
        assert entry["box"] == [x, y, x + w, y + h] and entry["bbox"] == [x, y, w, h]
        with Image.open(folder / key) as written, Image.open(mounts.input_dir / image) as full:
            assert written.size == (w, h)
            expected_pixels = full.convert("RGB").crop((x, y, x + w, y + h))
            if image.endswith(".png"):  # lossless: the very pixels
                assert written.tobytes() == expected_pixels.tobytes()
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png")) == sorted(
        selected
    )

    report = json.loads((run_dir / "report.json").read_text())
    section = report["crops"]
    assert section["counts"]["crops"] == expected
    assert section["counts"]["selected"] == 5
    assert section["folder"] == ".lightly/crops/det" and section["written"] == 5
    reasons = {s["file"]: s["reason"] for s in section["skipped"]}
    assert "zero-area bbox" in reasons[".lightly/predictions/det/img_00.json"]
    assert "object 2" in reasons[".lightly/predictions/det/img_00.json"]
    assert "outside" in reasons[".lightly/predictions/det/sub/pic_05.json"]
    assert section["parents"][selected[0]]["image"] == crops["crops"][selected[0]]["image"]
    assert set(selected[:5]) <= set(report["thumbnails"])  # the report shows the crops
    assert report["files"]["crops"] == "crops.json"
    assert (run_dir / "report.html").is_file()
    html = (run_dir / "report.html").read_text()
    assert f"from {crops['crops'][selected[0]]['image']}" in html  # the parent image is named
    assert "Object crops" in html and "zero-area bbox" in html

    # The viewer shows each crop with its image and serves the written crop file.
    roots = Roots.resolve(mounts.input_mount, mounts.lightly_mount)
    with running_server(roots, viewer=Viewer(roots)) as server:
        api = f"/_lightly/api/runs/{quote(mounts.relative_path + '/' + run_dir.name)}"
        page = get_json(server, f"{api}/samples", filter="selected", limit=50)
        assert sorted(item["key"] for item in page["items"]) == sorted(selected)
        for item in page["items"]:
            assert item["image"] == crops["crops"][item["key"]]["image"]
            assert item["url"].endswith(quote(f"/.lightly/crops/det/{item['key']}"))
        detail = get_json(server, f"{api}/sample", key=selected[0])
        assert detail["image"] == crops["crops"][selected[0]]["image"]
        assert detail["predictions"]["object"] == crops["crops"][selected[0]]["object"]
        assert detail["path"] == str(folder / selected[0])
        with urllib.request.urlopen(server.url("127.0.0.1") + detail["url"], timeout=30) as reply:
            assert reply.read() == (folder / selected[0]).read_bytes()


def get_json(server: LightlyServer, path: str, **params: Any) -> Any:
    url = server.url("127.0.0.1") + path + (f"?{urlencode(params)}" if params else "")
    with urllib.request.urlopen(url, timeout=30) as reply:
        return json.loads(reply.read())


def test_padding_grows_crops_and_keeps_its_own_cache_rows(mounts: Mounts, tmp_path: Path) -> None:
    found = write_detections(mounts)
    first = run(mounts, tmp_path, "selection.n_samples=3", diversity())
    n_crops = len(json.loads((first / "crops.json").read_text())["crops"])
    again = run(mounts, tmp_path, "selection.n_samples=3", diversity())
    assert json.loads((again / "report.json").read_text())["embedding_cache"] == {
        "hits": n_crops,
        "misses": 0,
    }
    assert (again / "selected_filenames.txt").read_bytes() == (
        first / "selected_filenames.txt"
    ).read_bytes()
    padded = run(
        mounts, tmp_path, "selection.n_samples=3", diversity(), "worker.object_level.padding=0.25"
    )
    report = json.loads((padded / "report.json").read_text())
    assert report["embedding_cache"]["hits"] == 0, "crops of another padding are not reused"
    crops = json.loads((padded / "crops.json").read_text())["crops"]
    entry = crops["img_03-1-png.png"]
    x, y, w, h = found["img_03.png"][1]["bbox"]
    left, top = max(0, int(x - 0.25 * w)), max(0, int(y - 0.25 * h))
    assert entry["box"][:2] == [left, top]
    assert entry["box"][2] - entry["box"][0] > w and entry["box"][3] - entry["box"][1] > h


def rle(mask: np.ndarray) -> list[int]:
    """Uncompressed row-major RLE counts, 0s first (Lightly's segmentation format)."""
    flat = np.concatenate([[0], mask.reshape(-1).astype(np.int8), [2]])
    edges = np.flatnonzero(np.diff(flat)) + 1  # where the value changes (and the end)
    counts = np.diff(np.concatenate([[1], edges])).tolist()
    return [int(c) for c in counts]


def test_instance_segmentation_crops_with_scores_balance_and_metadata(
    mounts: Mounts, tmp_path: Path
) -> None:
    instances: dict[str, list[dict[str, Any]]] = {}
    for i, key in enumerate(KEYS):
        objects = []
        for j in range(3):
            mask = np.zeros((96, 96), dtype=bool)
            mask[5 + 20 * j : 25 + 20 * j, 10 + i : 40 + i + 5 * j] = True
            box = None if j == 2 else [10 + i, 5 + 20 * j, 30 + 5 * j, 20]
            score = round(0.2 + 0.06 * ((i + 3 * j) % 12), 2)
            singleton = {"category_id": j % 2, "score": score, "segmentation": rle(mask)}
            objects.append(singleton if box is None else {**singleton, "bbox": box})
        instances[key] = objects
    write_prediction_task(
        mounts.lightly_dir,
        "inst",
        task_type="instance-segmentation",
        categories=CATEGORIES,
        predictions=instances,
    )
    strategies = (
        "selection.strategies=["
        "{input:{type:SCORES,task:inst,score:objectness_least_confidence},"
        "strategy:{type:THRESHOLD,threshold:0.3,operation:BIGGER}},"
        "{input:{type:METADATA,key:lightly.sharpness},"
        "strategy:{type:THRESHOLD,threshold:0,operation:BIGGER_EQUAL}},"
        "{input:{type:PREDICTIONS,task:inst,name:CLASS_DISTRIBUTION},"
        "strategy:{type:BALANCE,target:{cat:0.5,dog:0.5}}},"
        "{input:{type:EMBEDDINGS,task:inst},strategy:{type:DIVERSITY}}]"
    )
    run_dir = run(mounts, tmp_path, "selection.n_samples=6", strategies)
    selected = (run_dir / "selected_filenames.txt").read_text().splitlines()
    crops = json.loads((run_dir / "crops.json").read_text())["crops"]
    assert len(crops) == 3 * len(KEYS) and len(selected) == 6
    for key in selected:
        entry = crops[key]
        assert 1 - entry["score"] > 0.3
        assert (mounts.lightly_dir / ".lightly" / "crops" / "inst" / key).is_file()
    assert sorted(crops[k]["category"] for k in selected) == ["cat"] * 3 + ["dog"] * 3
    # Object 2 of each image has no bbox: its box is the extent of its mask.
    derived = crops["img_01-2-png.png"]
    assert derived["box"] == [11, 45, 51, 65] and derived["mask_area"] == 20 * 40
    report = json.loads((run_dir / "report.json").read_text())
    assert report["crops"]["task_type"] == "instance-segmentation"
    assert report["inputs"]["predictions"]["inst"]["class_counts"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            [
                "selection.strategies=[{input:{type:EMBEDDINGS,task:det},strategy:{type:DIVERSITY}},"
                "{input:{type:EMBEDDINGS},strategy:{type:TYPICALITY}}]"
            ],
            "some EMBEDDINGS inputs name task 'det' and some none",
        ),
        (
            [
                "selection.strategies=[{input:{type:EMBEDDINGS,task:det},strategy:{type:DIVERSITY}},"
                "{input:{type:METADATA,key:weather},strategy:{type:WEIGHTS}}]"
            ],
            "custom metadata 'weather' is per image",
        ),
        ([diversity("clf")], "EMBEDDINGS input task 'clf' is classification"),
    ],
    ids=["mixed", "custom-metadata", "classification"],
)
def test_crop_config_mistakes_get_one_line(
    mounts: Mounts, tmp_path: Path, overrides: list[str], message: str
) -> None:
    write_detections(mounts)
    write_prediction_task(
        mounts.lightly_dir,
        "clf",
        task_type="classification",
        categories=CATEGORIES,
        predictions={key: [{"category_id": 0}] for key in KEYS},
    )
    result = run_cli(
        [*mounts.overrides(), *FAST, "selection.n_samples=2", *overrides], cwd=tmp_path
    )
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
