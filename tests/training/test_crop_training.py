"""Training on object crops (``worker.training.task_name``) through the installed ``lightly-run``.

Six of the twelve fixture images get two detections each; the other six have none. With
``worker.training.task_name=det`` and a selection of the crops of ``det``, the model trains on
those twelve crops only, and the crops are embedded with the trained weights.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from runner.errors import ConfigError
from runner.training.on_crops import check_crop_training
from tests.conftest import FAST, Mounts, run_cli, write_prediction_task

DEVICES = "lightly.trainer.devices=2"
MODEL = ["lightly.model.name=resnet-18", "lightly.model.pretrained=false"]
CROPS = "selection.strategies=[{input:{type:EMBEDDINGS,task:det},strategy:{type:DIVERSITY}}]"
TRAIN = [
    "worker.enable_training=true",
    "worker.training.task_name=det",
    "lightly.trainer.max_epochs=1",
    "lightly.loader.batch_size=4",
]


def _write_detections(m: Mounts) -> int:
    """Two boxes on each ``img_*.png`` (96 x 96 px), none on ``sub/pic_*.jpg``; the crop count."""
    found = {
        f"img_{i:02d}.png": [
            {"category_id": j, "bbox": [4 + 8 * j + i, 6 + 5 * j, 40, 36], "score": 0.8}
            for j in range(2)
        ]
        for i in range(6)
    }
    write_prediction_task(
        m.lightly_dir, "det", task_type="object-detection", categories=["a", "b"], predictions=found
    )
    return sum(len(v) for v in found.values())


def _run(m: Mounts, tmp_path: Path, *extra: str) -> Path:
    result = run_cli(
        [*m.overrides(), *FAST, *MODEL, "selection.n_samples=4", CROPS, *extra], cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    return (m.runs_dir / "latest").resolve()


def _embeddings(run_dir: Path) -> dict[str, list[str]]:
    with (run_dir / "embeddings.csv").open() as f:
        return {row[0]: row[1:] for row in list(csv.reader(f))[1:]}


@pytest.mark.slow
def test_training_on_crops_trains_on_each_crop_and_embeds_them(
    mounts: Mounts, tmp_path: Path
) -> None:
    from runner.embedding.models import WeightsSource, build_backbone, load_checkpoint

    n_crops = _write_detections(mounts)
    plain = _embeddings(_run(mounts, tmp_path))
    run_dir = _run(mounts, tmp_path, *TRAIN)
    training = json.loads((run_dir / "report.json").read_text())["training"]
    assert training["samples"] == n_crops == 12  # crops only: the six bare images add none
    assert training["crops_of_task"] == "det"
    assert training["steps"] == 3  # 12 crops, batches of 4
    assert "12 object crops of task &#39;det&#39;" in (run_dir / "report.html").read_text()
    trained = _embeddings(run_dir)
    assert len(trained) == n_crops and trained.keys() == plain.keys()
    assert all(trained[k] != plain[k] for k in plain)  # the trained model embedded every crop
    backbone = build_backbone("resnet-18", WeightsSource(None, seed=5), input_size=64).module
    load_checkpoint(backbone, run_dir / "checkpoint.ckpt")  # weights only, fits the model

    # The alternative that launched runs are told to use: two ddp_spawn processes on this
    # machine train once and embed the crops with the trained model, as one process does.
    spawn = Mounts(mounts.input_mount, mounts.lightly_mount.parent / "spawn", "cam1")
    spawn.lightly_dir.mkdir(parents=True)
    _write_detections(spawn)
    spawned = _run(spawn, tmp_path, *TRAIN, "lightly.trainer.accelerator=cpu", DEVICES)
    assert (spawned / "checkpoint.ckpt").read_bytes() == (run_dir / "checkpoint.ckpt").read_bytes()
    shards = (spawn.lightly_dir / ".lightly" / "cache" / "embeddings").rglob("*.hashes.npy")
    assert any("r1" in p.name.split("-") for p in shards)  # the second process embedded some
    two = _embeddings(spawned)
    assert two.keys() == trained.keys()
    for key, row in trained.items():  # fp16 cache rows, other batching
        np.testing.assert_allclose(np.array(two[key], float), np.array(row, float), atol=2e-3)


def test_the_training_task_must_be_the_selected_crop_task() -> None:
    check_crop_training("", None)  # whole images
    check_crop_training("", "det")  # whole images train, the trained model embeds crops
    check_crop_training("det", "det")
    with pytest.raises(ConfigError, match="the selection is of whole images"):
        check_crop_training("det", None)  # through lightly-run: tests/test_validation.py
    with pytest.raises(ConfigError, match="differs from the task whose crops are selected"):
        check_crop_training("other", "det")
