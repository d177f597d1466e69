"""Training on video frames: SimCLR over the frames of a small fixture video, decoded in chunks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from videofix import frames_of, scene_frames, write_video

from runner.datasource.sample import Sample
from runner.decode.video import VideoInfo
from runner.embedding.models import WeightsSource, build_backbone, feature_net, load_checkpoint
from tests.conftest import FAST, Mounts, run_cli, tiny_training, train_samples

N_FRAMES = 32


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Sample], dict[Path, VideoInfo]]:
    folder = tmp_path_factory.mktemp("video")
    write_video(folder / "cut.mp4", scene_frames(), gop=6)
    samples, inspection = frames_of(folder)
    return samples, inspection.infos_by_path()


def test_training_on_the_frames_of_a_video(
    frames: tuple[list[Sample], dict[Path, VideoInfo]], tmp_path: Path
) -> None:
    samples, videos = frames
    assert len(samples) == N_FRAMES
    cfg = tiny_training(seed=2, batch_size=8)
    trained = train_samples(samples, cfg, root=tmp_path, run_id="r1", videos=videos)
    summary = trained.summary
    assert summary["samples"] == N_FRAMES and summary["epochs"] == 1
    assert summary["steps"] == N_FRAMES // 8  # every frame once, in batches of 8
    assert len(summary["epoch_losses"]) == 1 and math.isfinite(summary["epoch_losses"][0])
    untrained = build_backbone("resnet-18", WeightsSource(None, seed=2), input_size=32).module
    loaded = build_backbone("resnet-18", WeightsSource(None, seed=9), input_size=32).module
    load_checkpoint(loaded, trained.checkpoint)
    before, after = untrained.state_dict(), feature_net(loaded).state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before), "training changed nothing"


@pytest.mark.slow
def test_lightly_run_trains_on_frames_in_worker_processes(tmp_path: Path) -> None:
    m = Mounts(tmp_path / "datasets", tmp_path / "lightly", "cam1")
    write_video(m.input_dir / "walk.mp4", scene_frames(), gop=6)
    m.lightly_dir.mkdir(parents=True)
    result = run_cli(
        [
            *m.overrides(),
            *FAST,
            "dataset.type=VIDEOS",
            "selection.n_samples=2",
            "worker.enable_training=true",
            "lightly.trainer.max_epochs=1",
            "lightly.loader.num_workers=2",  # frame chunks decoded in two worker processes
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(((m.runs_dir / "latest").resolve() / "report.json").read_text())
    training = report["training"]
    assert training["samples"] == N_FRAMES and training["steps"] == N_FRAMES // 8
    assert report["model"]["checkpoint"] == training["checkpoint"]  # embedded with it
    assert "train: 4/4 in " in result.stderr and "epoch=1/1, loss=" in result.stderr
