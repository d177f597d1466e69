"""Build the demo dataset from real images bundled in scikit-image and scikit-learn.

Layout (the seed's two mounts)::

    <root>/input/example/   photos, their crops and flips, faces, digits, textures; plus one
                            exact duplicate, one truncated JPEG and a text file, so the demo
                            shows the corruptness check, duplicate removal and skipped files
    <root>/lightly/example/ the (empty) Lightly datasource

Usage: ``python examples/build_example_dataset.py [ROOT]`` (default: ``$LIGHTLY_RUNNER_DEMO``,
else ``<checkout>/demo``, the root ``lightly-run +dataset=example`` reads). Nothing is
downloaded.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from runner.resources import demo_root


def _photos() -> dict[str, np.ndarray]:
    from skimage import data
    from sklearn.datasets import load_sample_images

    names = [
        "astronaut",
        "camera",
        "chelsea",
        "coffee",
        "rocket",
        "hubble_deep_field",
        "immunohistochemistry",
        "retina",
        "colorwheel",
        "brick",
        "grass",
        "gravel",
        "coins",
        "moon",
        "page",
        "text",
        "horse",
        "clock",
        "cell",
        "checkerboard",
        "microaneurysms",
        "motorcycle_left",
    ]
    photos: dict[str, np.ndarray] = {}
    for name in names:
        loader = getattr(data, name.replace("motorcycle_left", "stereo_motorcycle"))
        image = loader()
        if name == "motorcycle_left":
            image = image[0]
        if image.dtype != np.uint8:
            image = (255 * (image.astype(np.float64) / max(float(image.max()), 1e-9))).astype(
                np.uint8
            )
        photos[name] = image
    sample = load_sample_images()
    for filename, image in zip(sample.filenames, sample.images, strict=True):
        photos[Path(filename).stem] = image
    return photos


def _write(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        image.convert("RGB").save(path, quality=90)
    else:
        image.save(path)


def build(root: Path) -> Path:
    """Create the demo mounts under ``root`` (replacing an earlier build); return the input dir."""
    from skimage import data
    from sklearn.datasets import load_digits

    input_dir = root / "input" / "example"
    lightly_dir = root / "lightly" / "example"
    if input_dir.exists():
        shutil.rmtree(input_dir)
    lightly_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, array in _photos().items():
        image = Image.fromarray(array)
        _write(image, input_dir / "photos" / f"{name}.jpg")
        width, height = image.size
        for i in range(3):  # near-duplicates: crops and flips of the same photo
            box_w, box_h = int(width * rng.uniform(0.6, 0.9)), int(height * rng.uniform(0.6, 0.9))
            left = int(rng.integers(0, width - box_w + 1))
            top = int(rng.integers(0, height - box_h + 1))
            crop = image.crop((left, top, left + box_w, top + box_h))
            if i == 1:
                crop = ImageOps.mirror(crop)
            _write(crop, input_dir / "photos" / "variants" / f"{name}_{i}.jpg")
    faces = data.lfw_subset()  # 100 faces, then 100 non-faces, 25x25 floats
    for i in list(range(0, 20)) + list(range(100, 120)):
        kind = "face" if i < 100 else "nonface"
        image = Image.fromarray((faces[i] * 255).astype(np.uint8)).resize((100, 100))
        _write(image, input_dir / "lfw" / f"{kind}_{i:03d}.png")
    digits = load_digits()
    for i in range(30):
        pixels = (digits.images[i] * (255 / 16)).astype(np.uint8)
        image = Image.fromarray(pixels).resize((64, 64), Image.Resampling.NEAREST)
        _write(image, input_dir / "digits" / f"digit_{digits.target[i]}_{i:03d}.png")
    shutil.copyfile(input_dir / "photos" / "coffee.jpg", input_dir / "photos" / "coffee_copy.jpg")
    good = (input_dir / "photos" / "chelsea.jpg").read_bytes()
    (input_dir / "photos" / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (input_dir / "README.txt").write_text("Demo dataset for lightly-runner.\n")
    return input_dir


def main() -> None:
    root = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else demo_root()
    input_dir = build(root)
    count = sum(1 for p in input_dir.rglob("*") if p.is_file())
    print(f"demo dataset: {count} files in {input_dir}; Lightly datasource {root}/lightly/example")


if __name__ == "__main__":
    main()
