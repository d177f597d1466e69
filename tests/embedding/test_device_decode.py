"""The device decode path (nvJPEG on CUDA) run on the CPU: same input as the Pillow path."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from runner.decode.image import open_image
from runner.embedding.device_decode import DeviceDecoder, device_batches
from runner.embedding.transforms import Preprocess
from tests.conftest import image_bytes

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
ONE_LEVEL = 1 / 255 / min(STD) + 1e-6  # one 8-bit level in normalised units


def _photos() -> list[np.ndarray]:
    """Whole photos of different sizes (scikit-image and scikit-learn, no download)."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    return [data.astronaut(), data.chelsea(), data.coffee(), *load_sample_images().images]


def _jpeg(pixels: np.ndarray, exif: Image.Exif | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90, exif=exif or Image.Exif())
    return buffer.getvalue()


def _pil_path(buffers: list[bytes], size: int, tmp_path: Path, *, draft: bool) -> torch.Tensor:
    """The CPU pipeline's model input for each file."""
    preprocess = Preprocess(size=size, mean=MEAN, std=STD)
    out = []
    for i, buffer in enumerate(buffers):
        path = tmp_path / f"{i}.img"
        path.write_bytes(buffer)
        out.append(preprocess(open_image(path, draft_size=size if draft else None)))
    return torch.stack(out)


@pytest.mark.parametrize("size", [64, 224])
def test_jpeg_batch_matches_pillow_within_one_level(size: int, tmp_path: Path) -> None:
    buffers = [_jpeg(p) for p in _photos()]
    decoder = DeviceDecoder(size, MEAN, STD, torch.device("cpu"))
    images, errors = decoder(buffers)
    assert errors == [""] * len(buffers)
    assert images.shape == (len(buffers), 3, size, size)
    assert images.is_contiguous(memory_format=torch.channels_last)
    full = _pil_path(buffers, size, tmp_path, draft=False)
    assert float((images - full).abs().max()) <= ONE_LEVEL
    # Against the run's actual path (Pillow's reduced-scale JPEG draft): close on average.
    drafted = _pil_path(buffers, size, tmp_path, draft=True)
    assert float((images - drafted).abs().mean()) <= 0.03


def test_exif_orientation_is_applied_like_pillow(tmp_path: Path) -> None:
    pixels = _photos()[1][:200, :300]  # landscape: a rotation changes the shape
    buffers = []
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        buffers.append(_jpeg(pixels, exif))
    decoder = DeviceDecoder(96, MEAN, STD, torch.device("cpu"))
    upright, errors = decoder.decode(buffers)
    assert errors == [""] * 8
    for i, buffer in enumerate(buffers):
        path = tmp_path / f"{i}.jpg"
        path.write_bytes(buffer)
        expected = np.asarray(open_image(path)).transpose(2, 0, 1)
        got = upright[i]
        assert got is not None and tuple(got.shape) == expected.shape, i + 1
        diff = np.abs(got.numpy().astype(int) - expected.astype(int))
        assert diff.mean() < 1.0, f"orientation {i + 1}"


def test_other_formats_and_broken_files(tmp_path: Path) -> None:
    png = image_bytes("PNG", seed=1, size=80)
    good = _jpeg(_photos()[0])
    truncated = good[: len(good) // 3]
    buffers = [good, png, b"\xff\xd8\xff\xe0 not really a jpeg", truncated, b""]
    decoder = DeviceDecoder(64, MEAN, STD, torch.device("cpu"), dtype=torch.bfloat16)
    images, errors = decoder(buffers)
    assert images.dtype == torch.bfloat16
    assert errors[:2] == ["", ""]
    assert all(errors[2:]), errors  # Pillow's reason, like the CPU path
    assert not images[2:].any()
    expected = _pil_path([png], 64, tmp_path, draft=False)[0]
    assert float((images[1].float() - expected).abs().max()) <= 0.05  # bf16 rounding
    # A batch with a bad JPEG still decodes its good JPEGs (batched call falls back per file).
    assert images[0].float().abs().sum() > 0


def test_device_batches_keep_order_and_keys(tmp_path: Path) -> None:
    photos = _photos()
    items = []
    for i in range(11):
        path = tmp_path / f"{i:02d}.jpg"
        path.write_bytes(_jpeg(photos[i % len(photos)]))
        items.append((f"k{i:02d}", path))
    items.append(("gone", tmp_path / "missing.jpg"))
    decoder = DeviceDecoder(32, MEAN, STD, torch.device("cpu"))
    batches = list(device_batches(items, decoder, batch_size=5, read_workers=3, depth=1))
    assert [b.keys for b in batches] == [
        [k for k, _ in items[i : i + 5]] for i in range(0, len(items), 5)
    ]
    direct, _ = decoder([p.read_bytes() for _, p in items[:5]])
    assert torch.equal(batches[0].images, direct)
    assert batches[-1].errors[-1] and not any(batches[0].errors)


def test_device_batches_stop_early_without_hanging(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(_jpeg(_photos()[0]))
    decoder = DeviceDecoder(32, MEAN, STD, torch.device("cpu"))
    stream = device_batches([(str(i), path) for i in range(40)], decoder, batch_size=2, depth=1)
    first = next(stream)
    stream.close()  # the consumer stops: the producer thread must not stay blocked
    assert first.keys == ["0", "1"]
