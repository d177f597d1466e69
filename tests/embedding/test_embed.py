"""The embedding stage end to end on tiny real photos: cache, determinism, checkpoints."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

import runner.embedding.embed as embed_module
from runner.config import LightlyConfig
from runner.datasource.sample import Sample
from runner.embedding.embed import EmbeddingResult, embed
from runner.embedding.models import build_backbone
from runner.embedding.specs import WeightsSource
from runner.errors import ConfigError, DataError
from tests.conftest import image_samples


def _photos() -> dict[str, np.ndarray]:
    """Six small RGB arrays: two overlapping astronaut crops, then four other photos."""
    astronaut, coffee, chelsea, rocket = (
        data.astronaut(),
        data.coffee(),
        data.chelsea(),
        data.rocket(),
    )
    return {
        "astro_a.png": astronaut[0:320, 60:380],
        "astro_b.jpg": astronaut[20:340, 80:400],
        "coffee.jpg": coffee[:, 100:500],
        "sub/chelsea.png": chelsea[:, 50:350],
        "sub/rocket.jpg": rocket[:, 100:427],
        "zz_chelsea_small.png": chelsea[100:250, 100:250],
    }


def _write(path: Path, pixels: np.ndarray, *, size: int = 96) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).resize((size, size), Image.Resampling.BILINEAR).save(path)


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    for key, pixels in _photos().items():
        _write(folder / key, pixels)
    return folder


def _cfg(
    *, input_size: int = 64, batch_size: int = 4, seed: int = 1, **model: Any
) -> LightlyConfig:
    cfg = LightlyConfig(seed=seed)
    cfg.loader.num_workers = 0
    cfg.loader.batch_size = batch_size
    cfg.collate.input_size = input_size
    cfg.trainer.gpus = 0
    for name, value in model.items():
        assert hasattr(cfg.model, name), name
        setattr(cfg.model, name, value)
    return cfg


def _run(
    folder: Path,
    cache_dir: Path,
    cfg: LightlyConfig,
    *,
    keys: Sequence[str] | None = None,
    checkpoint: str = "",
    normalize: bool = True,
) -> EmbeddingResult:
    samples, hashes = image_samples(folder, keys if keys is not None else list(_photos()))
    return embed(
        samples,
        content_hashes=hashes,
        cfg=cfg,
        checkpoint=checkpoint,
        normalize=normalize,
        cache_dir=cache_dir,
    )


def _forbid_trainer(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_trainer(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model must not run when everything is cached")

    monkeypatch.setattr(embed_module, "_embed_missing", no_trainer)


def _count_predicted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record how many samples each predict pass receives."""
    sizes: list[int] = []
    real = embed_module._embed_missing

    def spy(samples: list[Sample], *args: Any, **kwargs: Any) -> Any:
        sizes.append(len(samples))
        return real(samples, *args, **kwargs)

    monkeypatch.setattr(embed_module, "_embed_missing", spy)
    return sizes


def test_pretrained_lite0_features_are_sensible(photos: Path, tmp_path: Path) -> None:
    result = _run(photos, tmp_path / "cache", _cfg(input_size=128))
    emb = {k: result.embeddings[i] for i, k in enumerate(result.keys)}
    norms = np.linalg.norm(result.embeddings.astype(np.float32), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=2e-3)  # unit before the float16 rounding
    same_photo = float(emb["astro_a.png"] @ emb["astro_b.jpg"])
    for other in ("coffee.jpg", "sub/rocket.jpg", "sub/chelsea.png"):
        assert same_photo > float(emb["astro_a.png"] @ emb[other])
        assert same_photo > float(emb["astro_b.jpg"] @ emb[other])
    assert result.model["name"] == "efficientnet-lite0"
    assert "efficientnet-lite0" in str(result.model["weights"])
    assert result.model["device"] == "cpu" and result.model["precision"] == "32-true"


def test_shape_dtype_and_rows_aligned_with_sorted_keys(photos: Path, tmp_path: Path) -> None:
    keys = list(_photos())
    result = _run(photos, tmp_path / "a", _cfg(), keys=keys[::-1])
    assert result.keys == sorted(keys)
    assert result.embeddings.shape == (6, 1280) and result.embeddings.dtype == np.float16
    assert not result.embeddings.flags.writeable  # the one copy, memory-mapped
    assert (result.cache_hits, result.cache_misses) == (0, 6)
    # The same samples, alone and in another order and batch size, give the same rows.
    subset = ["sub/rocket.jpg", "astro_a.png", "zz_chelsea_small.png"]
    alone = _run(photos, tmp_path / "b", _cfg(batch_size=1), keys=subset)
    for i, key in enumerate(alone.keys):
        np.testing.assert_allclose(
            alone.embeddings[i], result.embeddings[result.keys.index(key)], atol=2e-3
        )


def test_rerun_is_all_cache_hits_with_identical_bytes(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _run(photos, tmp_path / "cache", _cfg())
    _forbid_trainer(monkeypatch)
    again = _run(photos, tmp_path / "cache", _cfg())
    assert (again.cache_hits, again.cache_misses) == (6, 0)
    assert again.keys == first.keys
    assert again.embeddings.tobytes() == first.embeddings.tobytes()
    assert again.model == first.model


def test_changed_file_reembeds_only_that_file(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _run(photos, tmp_path / "cache", _cfg())
    _write(photos / "coffee.jpg", data.coffee()[:, :300])  # new bytes, same key
    predicted = _count_predicted(monkeypatch)
    second = _run(photos, tmp_path / "cache", _cfg())
    assert predicted == [1]
    assert (second.cache_hits, second.cache_misses) == (5, 1)
    changed = second.keys.index("coffee.jpg")
    for i in range(6):
        same = second.embeddings[i].tobytes() == first.embeddings[i].tobytes()
        assert same is (i != changed)


def test_identical_content_is_embedded_once(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (photos / "copy_of_coffee.jpg").write_bytes((photos / "coffee.jpg").read_bytes())
    predicted = _count_predicted(monkeypatch)
    result = _run(photos, tmp_path / "cache", _cfg(), keys=[*_photos(), "copy_of_coffee.jpg"])
    assert predicted == [6] and result.cache_misses == 7
    rows = {k: result.embeddings[i] for i, k in enumerate(result.keys)}
    assert rows["coffee.jpg"].tobytes() == rows["copy_of_coffee.jpg"].tobytes()


def test_other_input_size_is_another_fingerprint(photos: Path, tmp_path: Path) -> None:
    small = _run(photos, tmp_path / "cache", _cfg(input_size=64))
    large = _run(photos, tmp_path / "cache", _cfg(input_size=96))
    assert large.model["fingerprint"] != small.model["fingerprint"]
    assert (large.cache_hits, large.cache_misses) == (0, 6)
    assert len([p for p in (tmp_path / "cache").iterdir() if p.is_dir()]) == 2


def test_cache_holds_committed_float16_shards(photos: Path, tmp_path: Path) -> None:
    result = _run(photos, tmp_path / "cache", _cfg())
    folder = tmp_path / "cache" / str(result.model["fingerprint"])[:16]
    hashes_files = sorted(folder.glob("shard-*.hashes.npy"))
    rows_files = sorted(folder.glob("shard-*.rows.npy"))
    assert len(hashes_files) == len(rows_files) == 1  # six rows: one shard
    rows = np.load(rows_files[0])
    assert rows.dtype == np.float16 and rows.shape == (6, 1280)
    digests = np.load(hashes_files[0])
    assert sorted(d.hex() for d in digests) == sorted(
        image_samples(photos, list(_photos()))[1].values()
    )
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temp files left


def test_cpu_embeddings_are_deterministic_across_fresh_runs(photos: Path, tmp_path: Path) -> None:
    one = _run(photos, tmp_path / "one", _cfg())
    two = _run(photos, tmp_path / "two", _cfg())
    assert one.embeddings.tobytes() == two.embeddings.tobytes()
    assert one.model["fingerprint"] == two.model["fingerprint"]


def test_resnet18_random_init_works(photos: Path, tmp_path: Path) -> None:
    result = _run(photos, tmp_path / "cache", _cfg(name="resnet-18", pretrained=False))
    assert result.embeddings.shape == (6, 512)
    assert result.model["weights"] == "random init (seed 1)"
    unnormalized = _run(
        photos, tmp_path / "raw", _cfg(name="resnet-18", pretrained=False), normalize=False
    )
    assert not np.allclose(np.linalg.norm(unnormalized.embeddings, axis=1), 1.0)


def test_resnet18_without_local_weights_embeds_with_the_default_model_and_says_so(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    result = _run(photos, tmp_path / "cache", _cfg(name="resnet-18"))
    default = _run(photos, tmp_path / "cache2", _cfg())
    assert result.model["requested_name"] == "resnet-18"
    assert result.model["name"] == "efficientnet-lite0"
    notice = str(result.model["substitution"])
    assert "resnet-18" in notice and "efficientnet-lite0" in notice and "\n" not in notice
    assert notice in caplog.text
    np.testing.assert_array_equal(result.embeddings, default.embeddings)


def test_checkpoint_with_model_backbone_prefix_is_used(photos: Path, tmp_path: Path) -> None:
    trained = build_backbone("resnet-18", WeightsSource(None, seed=7), input_size=64).module
    state = {f"model.backbone.{k}": v for k, v in trained.state_dict().items()}
    state["model.projection_head.layer.weight"] = torch.zeros(4, 512)  # ignored: not backbone
    ckpt = tmp_path / "worker.ckpt"
    torch.save({"state_dict": state, "epoch": 3}, ckpt)
    loaded = _run(
        photos, tmp_path / "c1", _cfg(name="resnet-18", pretrained=False), checkpoint=str(ckpt)
    )
    reference = _run(photos, tmp_path / "c2", _cfg(name="resnet-18", pretrained=False, seed=7))
    assert loaded.embeddings.tobytes() == reference.embeddings.tobytes()
    assert loaded.model["checkpoint"] == str(ckpt.resolve())


def test_missing_checkpoint_is_a_config_error(photos: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"worker\.checkpoint="):
        _run(photos, tmp_path / "cache", _cfg(), checkpoint=str(tmp_path / "nope.ckpt"))


def test_file_unreadable_during_run_is_a_data_error(photos: Path, tmp_path: Path) -> None:
    samples, hashes = image_samples(photos, list(_photos()))
    (photos / "sub" / "chelsea.png").write_bytes(b"not an image any more")
    with pytest.raises(DataError, match=r"^sub/chelsea\.png: changed or became unreadable"):
        embed(
            samples,
            content_hashes=hashes,
            cfg=_cfg(),
            checkpoint="",
            normalize=True,
            cache_dir=tmp_path / "cache",
        )


def test_no_samples_needs_no_trainer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _forbid_trainer(monkeypatch)
    result = embed(
        [], content_hashes={}, cfg=_cfg(), checkpoint="", normalize=True, cache_dir=tmp_path
    )
    assert result.keys == [] and result.embeddings.shape == (0, 1280)
    assert (result.cache_hits, result.cache_misses) == (0, 0)


@pytest.mark.slow
def test_defaults_with_worker_processes(photos: Path, tmp_path: Path) -> None:
    cfg = LightlyConfig()  # efficientnet-lite0, 128 px, pretrained
    cfg.loader.num_workers = 2
    cfg.loader.batch_size = 2  # three batches, so both workers decode
    result = _run(photos, tmp_path / "cache", cfg)
    in_process = _run(photos, tmp_path / "inproc", _cfg(input_size=128, batch_size=2))
    assert result.embeddings.shape == (6, 1280)
    assert result.embeddings.tobytes() == in_process.embeddings.tobytes()
