"""One decode per image, and reruns that load nothing heavy and render nothing again."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import runner.artifacts.lightly_thumbnails as lightly_thumbnails
import runner.decode.inspect as inspect_module
import runner.embedding.dataset as dataset_module
import runner.report.thumbnails as report_thumbnails
from runner.datasource.sample import Sample, SampleKind
from runner.decode.image import open_image
from runner.decode.spool import SHARED_DRAFT, SpoolWriter, model_pixels
from runner.decode.uses import DecodeUses
from runner.embedding.transforms import Preprocess
from tests.conftest import FAST, Mounts, run_cli, write_images

SMALL = {"loader": {"num_workers": 0, "batch_size": 8}, "collate": {"input_size": 64}}
DIVERSITY = {
    "n_samples": 4,
    "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
}


def test_each_image_is_decoded_once_for_every_use(
    mounts: Mounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runner.api import ApiWorkflowClient

    inspected: list[str] = []
    real_inspect = inspect_module.inspect_file

    def count_inspection(sample: Any, **kwargs: Any) -> Any:
        inspected.append(sample.key)
        return real_inspect(sample, **kwargs)

    def no_second_decode(*args: object, **kwargs: object) -> None:
        raise AssertionError("an image was decoded a second time")

    report_sources: list[Path] = []
    real_load = report_thumbnails._load_thumbnail

    def record(*, path: Path, size: int, box: Any = None) -> Any:
        report_sources.append(path)
        return real_load(path=path, size=size, box=box)

    monkeypatch.setattr(inspect_module, "inspect_file", count_inspection)
    monkeypatch.setattr(dataset_module, "open_image", no_second_decode)
    monkeypatch.setattr(lightly_thumbnails, "open_image", no_second_decode)
    monkeypatch.setattr(report_thumbnails, "_load_thumbnail", record)
    client = ApiWorkflowClient(
        input_mount=str(mounts.input_mount), lightly_mount=str(mounts.lightly_mount)
    )
    client.set_local_config(relative_path="cam1", purpose="INPUT")
    client.set_local_config(relative_path="cam1", purpose="LIGHTLY")
    run_id = client.schedule_compute_worker_run(lightly_config=SMALL, selection_config=DIVERSITY)
    # The local worker runs it in the background, as Lightly's does: wait for its end.
    states = list(client.compute_worker_run_info_generator(scheduled_run_id=run_id))
    assert states[-1].ended_successfully(), states[-1].message
    assert sorted(inspected) == sorted(set(inspected)) and len(inspected) == 12
    thumbnails = sorted(p for p in (mounts.lightly_dir / ".lightly/thumbnails").rglob("*.*"))
    assert len(thumbnails) == 12  # written by the inspection, from its decode
    assert report_sources and all(".lightly/thumbnails" in str(p) for p in report_sources)
    assert not list((mounts.lightly_dir / ".lightly/cache/spool").glob("*"))  # consumed
    report = json.loads((mounts.runs_dir / run_id / "report.json").read_text())
    assert report["embedding_cache"]["misses"] == 12


def _sample(path: Path) -> Sample:
    stat = path.stat()
    return Sample(path.name, path, SampleKind.IMAGE, stat.st_size, stat.st_mtime_ns)


def test_spooled_input_equals_a_fresh_decode_for_the_model(tmp_path: Path) -> None:
    """Both routes to the model input give the same pixels (the run stays deterministic)."""
    paths = write_images(tmp_path / "in", ["a.jpg", "b.png"])
    big = tmp_path / "in" / "big.jpg"
    open_image(paths[0]).resize((1600, 1200)).save(big, quality=90)  # draft mode shrinks it
    writer = SpoolWriter(tmp_path / "spool", size=48)
    for path in [*paths, big]:
        inspect_module.inspect_file(
            _sample(path), check_corruptness=True, uses=DecodeUses(spool=writer)
        )
    spool = writer.finish()
    assert len(spool.slots) == 3
    preprocess = Preprocess(size=48, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    for path in [*paths, big]:
        spooled = spool.read(hashlib.sha256(path.read_bytes()).hexdigest())
        assert spooled is not None
        fresh = open_image(path, draft_size=SHARED_DRAFT)  # what the embedding dataset does
        np.testing.assert_array_equal(spooled, model_pixels(fresh, 48))
        assert preprocess.from_pixels(spooled).equal(preprocess(fresh))
    spool.remove()
    assert not spool.path.exists()


_HEAVY = re.compile(r"^import time:.*\|\s*(torch|lightning|weasyprint|torchvision)(\.|\s*$)")


@pytest.mark.slow
def test_rerun_on_unchanged_data_loads_no_torch_and_reuses_the_report(
    mounts: Mounts, tmp_path: Path
) -> None:
    first = run_cli([*mounts.overrides(), *FAST, "selection.n_samples=4"], cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    first_run = (mounts.runs_dir / "latest").resolve()
    again = run_cli(
        [*mounts.overrides(), *FAST, "selection.n_samples=4"],
        cwd=tmp_path,
        env={"PYTHONPROFILEIMPORTTIME": "1"},
    )
    assert again.returncode == 0, again.stderr
    heavy = [line for line in again.stderr.splitlines() if _HEAVY.match(line)]
    assert not heavy, heavy[:3]
    rerun = (mounts.runs_dir / "latest").resolve()
    assert rerun != first_run
    report = json.loads((rerun / "report.json").read_text())
    assert report["embedding_cache"] == {"hits": 12, "misses": 0}
    for name in ("report.pdf", "report.html"):
        assert (rerun / name).read_bytes() == (first_run / name).read_bytes()
    assert (rerun / "selected_filenames.txt").read_bytes() == (
        first_run / "selected_filenames.txt"
    ).read_bytes()
    # Another selection is another report: rendered, not reused.
    third = run_cli([*mounts.overrides(), *FAST, "selection.n_samples=5"], cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    latest = (mounts.runs_dir / "latest").resolve()
    assert (latest / "report.pdf").read_bytes() != (first_run / "report.pdf").read_bytes()
