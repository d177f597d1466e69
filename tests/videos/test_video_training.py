"""Training on video frames: SimCLR over the frames of a small fixture video, decoded in chunks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from videofix import scene_frames, write_video

from runner.config import DatasetType, LightlyConfig
from runner.datasource.discover import discover
from runner.datasource.sample import Sample
from runner.datasource.video_samples import frame_samples
from runner.decode.video import VideoInfo
from runner.decode.video_inspect import inspect_videos
from runner.embedding.models import WeightsSource, build_backbone, feature_net, load_checkpoint
from runner.training.train import train
from tests.conftest import FAST, Mounts, run_cli

N_FRAMES = 32


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Sample], dict[Path, VideoInfo]]:
    folder = tmp_path_factory.mktemp("video")
    write_video(folder / "cut.mp4", scene_frames(), gop=6)
    found = discover(folder, dataset_type=DatasetType.VIDEOS)
    inspection = inspect_videos(
        found.videos,
        cache_file=None,
        check_corruptness=True,
        corruption_threshold=0.1,
        num_threads=1,
    )
    return frame_samples(found.videos, inspection), inspection.infos_by_path()


def _cfg() -> LightlyConfig:
    cfg = LightlyConfig(seed=2)
    cfg.loader.num_workers = 0
    cfg.loader.batch_size = 8
    cfg.collate.input_size = 32
    cfg.trainer.gpus = 0
    cfg.trainer.max_epochs = 1
    cfg.model.name = "resnet-18"
    cfg.model.pretrained = False
    return cfg


def test_training_on_the_frames_of_a_video(
    frames: tuple[list[Sample], dict[Path, VideoInfo]], tmp_path: Path
) -> None:
    samples, videos = frames
    assert len(samples) == N_FRAMES
    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    trained = train(
        samples,
        cfg=_cfg(),
        crop_task=None,
        start_from=None,
        dot_lightly=tmp_path,
        run_dir=run_dir,
        run_id="r1",
        videos=videos,
    )
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
