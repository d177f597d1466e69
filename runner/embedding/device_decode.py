"""Decode, resize and normalise a batch of image files on a torch device (nvJPEG on CUDA).

The CPU pipeline decodes each file with Pillow in a DataLoader worker; on one H100 that caps
a run at a few hundred images per second per core, while nvJPEG decodes 15-18k JPEGs per
second (see ``/work/shared/design/performance.md``). This module is the device-agnostic
alternative: :class:`DeviceDecoder` takes the *bytes* of a batch of files and returns the
model input on the device, and :func:`device_batches` overlaps reading (a thread pool),
decoding + resizing (a background thread, on its own CUDA stream) and the caller's compute.

* JPEGs of a batch go to ``torchvision.io.decode_jpeg`` as one list (one batched nvJPEG call on
  CUDA). EXIF orientation is read from the header on the host and applied on the device
  (nvJPEG ignores it). A batch the batched call rejects is decoded file by file; a file
  torchvision cannot decode (CMYK, truncated, ...) and every non-JPEG file go through the
  Pillow reader of the CPU path (:func:`runner.decode.image.to_rgb`), so odd modes mean the
  same thing on both paths; a file Pillow cannot read either gets its reason in ``errors``.
* Images of the same size are resized together: bilinear with antialiasing
  (``F.interpolate(..., antialias=True)``, Pillow's filter when shrinking), rounded to 8-bit
  like Pillow's output, then scaled and normalised as :class:`Preprocess` does.
* The result is ``(B, 3, S, S)`` in the requested dtype (bf16 on CUDA) and channels_last.

Agreement with the Pillow path (:class:`runner.embedding.transforms.Preprocess` after
:func:`runner.decode.image.open_image` with ``draft``): Pillow's JPEG ``draft`` decodes at a
reduced DCT scale, this path decodes at full size then resizes, so pixels differ by a few
levels. Tested on photos: against Pillow without ``draft`` every value is within one 8-bit
level (<= 0.018 in normalised units at ImageNet's std); against the ``draft`` path the mean
absolute difference is <= 0.03 (measured 0.005-0.024 at 64-224 px).
"""

from __future__ import annotations

import io
import queue
import threading
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from runner.decode.errors import DecodeError
from runner.decode.image import to_rgb

RGB = tuple[float, float, float]
_JPEG_MAGIC = b"\xff\xd8\xff"
_EXIF_ORIENTATION = 0x0112


def is_jpeg(buffer: bytes) -> bool:
    """Whether the bytes start like a JPEG file (SOI marker)."""
    return buffer[:3] == _JPEG_MAGIC


def exif_orientation(buffer: bytes) -> int:
    """The EXIF orientation (1-8) of an image file's bytes; 1 when absent or unreadable."""
    try:
        with Image.open(io.BytesIO(buffer)) as image:  # parses the header only
            value = image.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # a broken header is the decoder's business, not the orientation's
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def orient(image: torch.Tensor, orientation: int) -> torch.Tensor:
    """Turn a ``(C, H, W)`` image upright, like ``PIL.ImageOps.exif_transpose``.

    Orientation 2: mirrored, 3: rotated 180°, 4: flipped, 5: transposed, 6: needs 90° clockwise,
    7: transversed, 8: needs 90° counter-clockwise (the EXIF 2.3 table).
    """
    if orientation == 2:
        return image.flip(-1)
    if orientation == 3:
        return image.flip(-1).flip(-2)
    if orientation == 4:
        return image.flip(-2)
    if orientation == 5:
        return image.transpose(-1, -2)
    if orientation == 6:
        return image.transpose(-1, -2).flip(-1)
    if orientation == 7:
        return image.transpose(-1, -2).flip(-1).flip(-2)
    if orientation == 8:
        return image.transpose(-1, -2).flip(-2)
    return image


def _pil_decode(buffer: bytes) -> torch.Tensor:
    """The CPU path's reading of one file: upright 8-bit RGB ``(3, H, W)`` uint8.

    Raises:
        DecodeError: Pillow cannot decode the bytes.
    """
    try:
        with Image.open(io.BytesIO(buffer)) as image:
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
            rgb = to_rgb(image)
    except Exception as exc:
        raise DecodeError.from_exception(exc) from exc
    return torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy()).permute(2, 0, 1)


@dataclass(frozen=True)
class DeviceDecoder:
    """Bytes of image files to normalised model input on ``device``.

    Attributes:
        size: Output side ``S`` (``lightly.collate.input_size``).
        mean: Per-channel mean on the [0, 1] scale.
        std: Per-channel standard deviation on the [0, 1] scale.
        device: Where decoding (JPEG), resizing and normalising run.
        dtype: Output dtype (``torch.bfloat16`` for bf16 inference on CUDA).
    """

    size: int
    mean: RGB
    std: RGB
    device: torch.device
    dtype: torch.dtype = torch.float32

    def __call__(self, buffers: Sequence[bytes]) -> tuple[torch.Tensor, list[str]]:
        """Decode and preprocess one batch.

        Args:
            buffers: The files' bytes, in batch order.

        Returns:
            ``(B, 3, S, S)`` on ``device`` in ``dtype``, channels_last; and per file an empty
            string, or why it could not be decoded (its image is then all zeros, as on the
            CPU path).
        """
        images, errors = self.decode(buffers)
        out = torch.zeros(
            (len(buffers), 3, self.size, self.size), dtype=self.dtype, device=self.device
        ).contiguous(memory_format=torch.channels_last)
        by_shape: dict[tuple[int, int], list[int]] = {}
        for i, image in enumerate(images):
            if image is not None:
                by_shape.setdefault((int(image.shape[1]), int(image.shape[2])), []).append(i)
        for rows in by_shape.values():
            out[rows] = self._resize_normalize(torch.stack([images[i] for i in rows]))  # type: ignore[misc]
        return out, errors

    def decode(self, buffers: Sequence[bytes]) -> tuple[list[torch.Tensor | None], list[str]]:
        """Upright ``(3, H, W)`` uint8 images on ``device`` (``None`` and a reason on failure)."""
        images: list[torch.Tensor | None] = [None] * len(buffers)
        errors = [""] * len(buffers)
        jpegs = [i for i, b in enumerate(buffers) if is_jpeg(b)]
        decoded = self._decode_jpegs([buffers[i] for i in jpegs])
        for i, image in zip(jpegs, decoded, strict=True):
            if image is not None:
                images[i] = orient(image, exif_orientation(buffers[i]))
        for i, buffer in enumerate(buffers):
            if images[i] is not None:
                continue
            try:
                images[i] = _pil_decode(buffer).to(self.device, non_blocking=True)
            except DecodeError as exc:
                errors[i] = exc.reason
        return images, errors

    def _decode_jpegs(self, buffers: Sequence[bytes]) -> list[torch.Tensor | None]:
        """torchvision's decode of JPEG bytes; ``None`` where it fails (one batched call)."""
        if not buffers:
            return []
        data = [torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in buffers]
        with warnings.catch_warnings():
            # torchvision 0.29 points to TorchCodec; decode_jpeg stays the batched nvJPEG API
            warnings.filterwarnings("ignore", message=".*TorchVision are deprecated.*")
            from torchvision.io import ImageReadMode, decode_jpeg

            try:
                return list(decode_jpeg(data, mode=ImageReadMode.RGB, device=self.device))
            except RuntimeError:
                pass  # one bad file fails the whole batch: retry file by file
            out: list[torch.Tensor | None] = []
            for one in data:
                try:
                    out.append(decode_jpeg(one, mode=ImageReadMode.RGB, device=self.device))
                except RuntimeError:
                    out.append(None)  # Pillow gets a try (and gives the reason)
            return out

    def _resize_normalize(self, batch: torch.Tensor) -> torch.Tensor:
        """Same-size ``(B, 3, H, W)`` uint8 to normalised ``(B, 3, S, S)`` in ``dtype``."""
        x = batch.to(self.device, torch.float32)
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(
                x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False
            )
            x = x.round_().clamp_(0.0, 255.0)  # Pillow's output is 8-bit
        mean = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1) * 255.0
        std = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1) * 255.0
        return ((x - mean) / std).to(self.dtype)


@dataclass(frozen=True)
class DecodedBatch:
    """One batch of :func:`device_batches`: keys, model input on the device, decode errors."""

    keys: list[str]
    images: torch.Tensor  # (B, 3, S, S) on the decoder's device, channels_last
    errors: list[str]


def _read(path: Path) -> bytes:
    """A file's bytes; empty when it cannot be read (the decoder then names the reason)."""
    try:
        return path.read_bytes()
    except OSError:
        return b""


def device_batches(
    items: Sequence[tuple[str, Path]],
    decoder: DeviceDecoder,
    *,
    batch_size: int,
    read_workers: int = 8,
    depth: int = 2,
) -> Iterator[DecodedBatch]:
    """Batches of decoded files, read and decoded ahead of the consumer.

    Three stages overlap: a pool of ``read_workers`` threads reads the files of upcoming
    batches (file I/O releases the GIL); one background thread decodes and preprocesses up to
    ``depth`` batches ahead, on its own CUDA stream when the device is CUDA (so nvJPEG and the
    resize run while the model computes on the default stream); the consumer gets each batch
    after an event orders it behind that work.

    Args:
        items: ``(key, path)`` of every file, in output order.
        decoder: Decodes one batch.
        batch_size: Files per batch.
        read_workers: Threads reading files.
        depth: Batches decoded ahead of the consumer.

    Yields:
        One :class:`DecodedBatch` per ``batch_size`` files, in order.
    """
    chunks = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    on_cuda = decoder.device.type == "cuda"
    ready: queue.Queue[tuple[DecodedBatch, torch.cuda.Event | None] | BaseException | None]
    ready = queue.Queue(depth)
    stop = threading.Event()

    def produce() -> None:
        stream = torch.cuda.Stream(decoder.device) if on_cuda else None  # type: ignore[no-untyped-call]
        try:
            with ThreadPoolExecutor(read_workers) as pool:
                reads = [pool.map(_read, [p for _, p in c]) for c in chunks[: depth + 1]]
                for n, chunk in enumerate(chunks):
                    if stop.is_set():
                        return
                    if n + depth + 1 < len(chunks):  # keep the readers depth + 1 batches ahead
                        reads.append(pool.map(_read, [p for _, p in chunks[n + depth + 1]]))
                    buffers = list(reads[n])
                    reads[n] = iter(())  # free the bytes
                    event: torch.cuda.Event | None = None
                    if stream is not None:
                        with torch.cuda.stream(stream):
                            images, errors = decoder(buffers)
                            event = torch.cuda.Event()  # type: ignore[no-untyped-call]
                            event.record(stream)
                    else:
                        images, errors = decoder(buffers)
                    ready.put((DecodedBatch([k for k, _ in chunk], images, errors), event))
            ready.put(None)
        except BaseException as exc:  # handed to the consumer, raised there
            ready.put(exc)

    worker = threading.Thread(target=produce, name="device-decode", daemon=True)
    worker.start()
    try:
        while True:
            got = ready.get()
            if got is None:
                return
            if isinstance(got, BaseException):
                raise got
            batch, event = got
            if event is not None:
                torch.cuda.current_stream(decoder.device).wait_event(event)
                batch.images.record_stream(torch.cuda.current_stream(decoder.device))
            yield batch
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                ready.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.1)
