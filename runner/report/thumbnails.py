"""Small JPEG thumbnails of selected samples, for the report's image grid.

The report is rendered from the run directory alone, so the pipeline writes the thumbnails
there (``<run dir>/thumbnails/0000.jpg``, …) and lists them in ``report.json`` under
``thumbnails`` (key → path relative to the run directory).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from PIL import Image, ImageOps

from runner.atomic import atomic_path
from runner.progress import NO_PROGRESS, StageProgress
from runner.write_paths import contained

logger = logging.getLogger(__name__)

JPEG_QUALITY = 85


def make_thumbnails(
    *,
    keys: Sequence[str],
    input_dir: Path,
    out_dir: Path,
    size: int,
    sources: Mapping[str, Path] | None = None,
    boxes: Mapping[str, tuple[int, int, int, int]] | None = None,
    progress: StageProgress = NO_PROGRESS,
) -> dict[str, str]:
    """Write one JPEG thumbnail per key and return where each one went.

    The i-th key becomes ``out_dir / f"{i:04d}.jpg"`` (names are positional, so a key that
    fails leaves a gap instead of shifting the others). Each file is written to a temp name
    and renamed, so a crash never leaves half a JPEG behind.

    Args:
        keys: Input-relative sample paths (``"sub/b.jpg"``), in report order.
        input_dir: The input datasource folder the keys are relative to.
        out_dir: Folder for the thumbnails; created if missing. Usually ``<run dir>/thumbnails``.
        size: Longest side of a thumbnail in pixels; aspect ratio is kept.
        sources: Key -> the image to read instead of ``input_dir / key`` (video frames: the
            thumbnails the embedding pass wrote; object crops: their image).
        boxes: Key -> ``(left, top, right, bottom)`` of the upright image to show (crops).
        progress: Told of every key, advanced as each is done.

    Returns:
        Key → thumbnail path relative to ``out_dir.parent`` in POSIX form
        (``"thumbnails/0000.jpg"``), for the keys whose image could be decoded.

    Raises:
        ValueError: If ``size`` is not positive.
        OSError: If a thumbnail cannot be written (decode failures are only logged).
    """
    if size <= 0:
        raise ValueError(f"thumbnail size must be positive, got {size}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    progress.expect(len(keys))
    for i, key in enumerate(keys):
        source = sources.get(key) if sources is not None else None
        box = boxes.get(key) if boxes is not None else None
        image = _load_thumbnail(path=source or input_dir / key, size=size, box=box)
        progress.advance()
        if image is None:
            continue
        name = f"{i:04d}.jpg"
        _save_jpeg_atomic(image=image, path=contained(out_dir, name))
        written[key] = str(PurePosixPath(out_dir.name) / name)
    return written


def _load_thumbnail(
    *, path: Path, size: int, box: tuple[int, int, int, int] | None = None
) -> Image.Image | None:
    """Decode ``path`` upright, in RGB, cut to ``box`` if given, shrunk to fit ``size`` x
    ``size``; None if it fails."""
    try:
        with Image.open(path) as img:
            if box is None:
                img.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, much faster
            upright = ImageOps.exif_transpose(img)
            if box is not None:
                upright = upright.crop(box)
            rgb = _to_rgb(upright)
            rgb.thumbnail((size, size))
            return rgb
    except Exception as exc:  # decoders raise many types; a bad file must not stop the report
        logger.warning("thumbnail skipped for %s: %s: %s", path, type(exc).__name__, exc)
        return None


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert to RGB, laying transparent pixels over white instead of black."""
    if img.mode == "RGB":
        return img.copy()
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def _save_jpeg_atomic(*, image: Image.Image, path: Path) -> None:
    """Save ``image`` as JPEG to a temp name beside ``path``, then rename it into place."""
    with atomic_path(path, suffix=".jpg") as tmp:
        image.save(tmp, format="JPEG", quality=JPEG_QUALITY)
