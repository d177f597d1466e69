"""Embedding video frames (decoded in DataLoader workers) and selecting from them."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from videofix import frames_of, scene_frames, write_video

from runner.config import (
    InputType,
    LightlyConfig,
    SelectionConfig,
    SelectionInput,
    SelectionStrategy,
    StrategyEntry,
    StrategyType,
)
from runner.datasource.sample import Sample, SampleKind
from runner.datasource.sequences import build_sequences, sequence_selection_config
from runner.datasource.video_samples import frame_content_hashes
from runner.datasource.videos import parse_frame_name
from runner.decode.video import VideoInfo
from runner.embedding.embed import EmbeddingResult, embed
from runner.embedding.frame_dataset import FrameChunkDataset, plan_chunks
from runner.embedding.frame_thumbnails import FrameThumbnailCache
from runner.embedding.transforms import Preprocess
from runner.selection.select import select

N_SCENE_A = 16  # frames 0..15: astronaut (8 static, 8 panning); 16..31: coffee


def _diversity(n: int) -> SelectionConfig:
    entry = StrategyEntry(
        input=SelectionInput(type=InputType.EMBEDDINGS),
        strategy=SelectionStrategy(type=StrategyType.DIVERSITY),
    )
    return SelectionConfig(n_samples=n, strategies=[entry])


def _cfg(*, num_workers: int) -> LightlyConfig:
    cfg = LightlyConfig()
    cfg.loader.num_workers = num_workers
    cfg.loader.batch_size = 8
    cfg.collate.input_size = 64
    cfg.trainer.gpus = 0
    return cfg


def _embed(folder: Path, cache: Path, *, num_workers: int) -> EmbeddingResult:
    samples, inspection = frames_of(folder)
    return embed(
        samples,
        content_hashes=frame_content_hashes(samples, inspection),
        cfg=_cfg(num_workers=num_workers),
        checkpoint="",
        normalize=True,
        cache_dir=cache,
        videos=inspection.infos_by_path(),
    )


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scenes")
    write_video(folder / "cut.mp4", scene_frames(), gop=6)
    return folder


@pytest.fixture(scope="module")
def embedded(scenes: Path, tmp_path_factory: pytest.TempPathFactory) -> EmbeddingResult:
    return _embed(scenes, tmp_path_factory.mktemp("cache"), num_workers=0)


def test_every_frame_is_embedded_once_with_its_key(embedded: EmbeddingResult) -> None:
    assert embedded.keys == [f"cut-{i:02d}-mp4.png" for i in range(32)]
    assert embedded.embeddings.shape == (32, 1280)
    np.testing.assert_allclose(np.linalg.norm(embedded.embeddings, axis=1), 1.0, atol=1e-4)
    rows = embedded.embeddings
    static = rows[:8]  # identical pictures (only the barcode differs)
    across = rows[:N_SCENE_A] @ rows[N_SCENE_A:].T  # (16, 16) scene A vs scene B
    assert float((static @ static.T).min()) > float(across.max()) + 0.2


def test_selecting_two_frames_takes_one_from_each_scene(embedded: EmbeddingResult) -> None:
    for seed in (1, 2, 3):
        result = select(embeddings=embedded.embeddings, cfg=_diversity(2), seed=seed)
        indices = sorted(parse_frame_name(embedded.keys[i]).index for i in result.indices)
        assert indices[0] < N_SCENE_A <= indices[1]


def test_sequences_of_frames_are_selected_whole(embedded: EmbeddingResult) -> None:
    sequences = build_sequences(embedded.keys, embedded.embeddings, length=4, normalize=True)
    assert len(sequences.keys) == 8
    cfg = sequence_selection_config(_diversity(8), length=4)
    assert cfg.n_samples == 2
    picks = select(embeddings=sequences.embeddings, cfg=cfg, seed=1).indices
    frames = sorted(parse_frame_name(k).index for k in sequences.expand(picks))
    assert len(frames) == 8
    starts = {f - f % 4 for f in frames}
    assert len(starts) == 2 and min(starts) < N_SCENE_A <= max(starts)


def test_worker_processes_give_the_same_embeddings(
    scenes: Path, embedded: EmbeddingResult, tmp_path: Path
) -> None:
    parallel = _embed(scenes, tmp_path / "cache", num_workers=2)
    assert parallel.keys == embedded.keys
    np.testing.assert_allclose(parallel.embeddings, embedded.embeddings, atol=2e-3)


def _table(n_frames: int, keyframes: tuple[int, ...]) -> VideoInfo:
    return VideoInfo(
        n_frames=n_frames,
        fps=25.0,
        time_base=Fraction(1, 25),
        width=64,
        height=48,
        codec="mpeg4",
        pts=tuple(range(n_frames)),
        keyframes=keyframes,
    )


def _frames(path: Path, indices: range | list[int]) -> list[Sample]:
    return [
        Sample(f"{path.stem}-{i:03d}-mp4.png", path, SampleKind.VIDEO_FRAME, 1, 1, i)
        for i in indices
    ]


def test_chunks_start_at_keyframes_and_split_across_workers() -> None:
    a, b = Path("/v/a.mp4"), Path("/v/b.mp4")
    infos = {a: _table(300, (0, 50, 100, 150, 200, 250)), b: _table(40, (0,))}
    samples = _frames(b, range(40)) + _frames(a, range(0, 300, 2))
    chunks = plan_chunks(samples, infos, min_frames=40)
    assert [(c.path.name, c.indices[0], len(c.indices)) for c in chunks] == [
        ("a.mp4", 0, 50),
        ("a.mp4", 100, 50),
        ("a.mp4", 200, 50),
        ("b.mp4", 0, 40),
    ]
    assert chunks[0].keys[1] == "a-002-mp4.png"
    preprocess = Preprocess(size=8, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    dataset = FrameChunkDataset(
        chunks, infos=infos, preprocess=preprocess, batch_size=16, num_workers=2
    )
    # worker 0: chunks 0 and 2 (100 frames, 7 batches); worker 1: chunks 1 and 3 (90, 6)
    assert len(dataset) == 13


def test_every_embedded_frame_gets_a_thumbnail_once(scenes: Path, tmp_path: Path) -> None:
    samples, inspection = frames_of(scenes)
    hashes = frame_content_hashes(samples, inspection)
    cache = FrameThumbnailCache(tmp_path / "frame_thumbnails", size=48)

    def run() -> EmbeddingResult:
        return embed(
            samples,
            content_hashes=hashes,
            cfg=_cfg(num_workers=0),
            checkpoint="",
            normalize=True,
            cache_dir=tmp_path / "embeddings",
            videos=inspection.infos_by_path(),
            frame_thumbnails=cache,
        )

    first = run()
    paths = cache.paths(hashes)
    assert len(paths) == len(samples) == 32
    assert all(path.is_file() for path in paths.values())
    with Image.open(next(iter(paths.values()))) as image:
        assert max(image.size) == 48
    stamps = {key: path.stat().st_mtime_ns for key, path in paths.items()}

    again = run()  # embeddings and thumbnails cached: nothing is decoded
    assert again.cache_misses == 0
    assert {key: path.stat().st_mtime_ns for key, path in paths.items()} == stamps
    np.testing.assert_array_equal(again.embeddings, first.embeddings)

    lost = samples[5].key
    paths[lost].unlink()
    run()  # a missing thumbnail is decoded again, alone
    assert paths[lost].is_file()
    assert {k: p.stat().st_mtime_ns for k, p in paths.items() if k != lost} == {
        k: v for k, v in stamps.items() if k != lost
    }
