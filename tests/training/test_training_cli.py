"""Training, checkpoint reuse and user embeddings through the installed ``lightly-run``."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import FAST, Mounts, run_cli

TRAIN = [*FAST, "lightly.loader.batch_size=4", "selection.n_samples=3"]


def _run(mounts: Mounts, tmp_path: Path, *extra: str) -> Path:
    result = run_cli([*mounts.overrides(), *TRAIN, *extra], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return (mounts.runs_dir / "latest").resolve()


def _embeddings(run_dir: Path) -> dict[str, list[str]]:
    with (run_dir / "embeddings.csv").open() as f:
        return {row[0]: row[1:] for row in list(csv.reader(f))[1:]}


def _report(run_dir: Path) -> dict[str, object]:
    report: dict[str, object] = json.loads((run_dir / "report.json").read_text())
    return report


@pytest.mark.slow
def test_train_then_reuse_the_checkpoint_in_a_later_run(mounts: Mounts, tmp_path: Path) -> None:
    plain = _embeddings(_run(mounts, tmp_path))
    trained_dir = _run(
        mounts, tmp_path, "worker.enable_training=true", "lightly.trainer.max_epochs=1"
    )
    run_id = trained_dir.name
    kept = mounts.lightly_dir / ".lightly" / "checkpoints" / f"{run_id}.ckpt"
    assert kept.read_bytes() == (trained_dir / "checkpoint.ckpt").read_bytes()
    training = _report(trained_dir)["training"]
    assert isinstance(training, dict)
    assert training["epochs"] == 1 and training["steps"] == 3  # 12 images, batches of 4
    assert training["device"] == "cpu" and training["checkpoint"] == str(kept)
    html = (trained_dir / "report.html").read_text()
    assert 'id="training"' in html and "Mean loss per epoch" in html
    trained = _embeddings(trained_dir)
    assert trained.keys() == plain.keys() and trained != plain  # training changed them
    shutil.rmtree(mounts.lightly_dir / ".lightly" / "cache")  # the later run loads the weights
    reused_dir = _run(mounts, tmp_path, f"worker.checkpoint_run_id={run_id}")
    assert _embeddings(reused_dir) == trained
    model = _report(reused_dir)["model"]
    assert isinstance(model, dict) and model["checkpoint"] == str(kept)
    assert "training" not in _report(reused_dir)


@pytest.mark.slow
def test_a_sweep_over_epochs_trains_once_per_setting(mounts: Mounts, tmp_path: Path) -> None:
    result = run_cli(
        [
            "-m",
            *mounts.overrides(),
            *TRAIN,
            "worker.enable_training=true",
            "lightly.model.name=resnet-18",
            "lightly.model.pretrained=false",
            "lightly.trainer.max_epochs=0,1",
        ],
        cwd=tmp_path,
        timeout=1800,  # two jobs, each training and rendering a report
    )
    assert result.returncode == 0, result.stderr
    runs = sorted(p for p in mounts.runs_dir.iterdir() if p.is_dir() and not p.is_symlink())
    trainings = [_report(run)["training"] for run in runs]
    assert sorted(t["epochs"] for t in trainings) == [0, 1]  # type: ignore[index]
    checkpoints = {(run / "checkpoint.ckpt").read_bytes() for run in runs}
    assert len(checkpoints) == 2


@pytest.mark.slow
def test_user_embeddings_replace_the_model(mounts: Mounts, tmp_path: Path) -> None:
    keys = sorted(str(p.relative_to(mounts.input_dir)) for p in mounts.input_dir.rglob("*.*"))
    rows = np.random.default_rng(0).normal(size=(len(keys), 5))
    lines = ["filenames," + ",".join(f"embedding_{i}" for i in range(5)) + ",labels"]
    for key, row in zip(keys, rows, strict=True):
        lines.append(f"{key}," + ",".join(f"{v:.6f}" for v in row) + ",0")
    lines.append("not-in-the-input.png,1,1,1,1,1,0")
    (mounts.lightly_dir / "mine.csv").write_text("\n".join(lines) + "\n")
    run_dir = _run(mounts, tmp_path, "worker.embeddings=mine.csv")
    model = _report(run_dir)["model"]
    assert isinstance(model, dict)
    assert model["source"] == "file" and model["rows_ignored"] == 1
    written = _embeddings(run_dir)
    normalised = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    for key, row in zip(keys, normalised, strict=True):
        np.testing.assert_allclose([float(v) for v in written[key][:-1]], row, rtol=1e-4)
    assert "read from a file" in (run_dir / "report.html").read_text()


def test_a_checkpoint_of_another_architecture_is_one_line(mounts: Mounts, tmp_path: Path) -> None:
    from runner.embedding.models import WeightsSource, build_backbone
    from runner.training.checkpoints import checkpoint_bytes

    resnet = build_backbone("resnet-18", WeightsSource(None, seed=1), input_size=64).module
    data = checkpoint_bytes(
        backbone=resnet.state_dict(), head={}, epoch=1, global_step=1, hyper_parameters={}
    )
    (mounts.lightly_dir / "resnet.ckpt").write_bytes(data)
    (mounts.lightly_dir / "corrupt.ckpt").write_bytes(b"PK\x03\x04 not really a zip")
    for name, message in (("resnet.ckpt", "does not fit the model"), ("corrupt.ckpt", "not a")):
        result = run_cli([*mounts.overrides(), *TRAIN, f"worker.checkpoint={name}"], cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        errors = [line for line in result.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1 and message in errors[0], result.stderr
        assert "Traceback" not in result.stderr
