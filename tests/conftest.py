"""Shared fixtures: small real image folders and the two mounts of a run."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
LIGHTLY_RUN = Path(sys.executable).parent / "lightly-run"

# Settings that keep the real pipeline fast in tests: small inputs, no worker processes.
FAST = [
    "lightly.loader.num_workers=0",
    "lightly.loader.batch_size=8",
    "lightly.collate.input_size=64",
]


@dataclass(frozen=True)
class Mounts:
    input_mount: Path
    lightly_mount: Path
    relative_path: str

    @property
    def input_dir(self) -> Path:
        return self.input_mount / self.relative_path

    @property
    def lightly_dir(self) -> Path:
        return self.lightly_mount / self.relative_path

    @property
    def runs_dir(self) -> Path:
        return self.lightly_dir / ".lightly" / "runs"

    def overrides(self) -> list[str]:
        return [
            f"mounts.input_mount={self.input_mount}",
            f"mounts.lightly_mount={self.lightly_mount}",
            f"datasource.input.relative_path={self.relative_path}",
            f"datasource.lightly.relative_path={self.relative_path}",
        ]


def photo_crops(count: int, *, size: int = 96, seed: int = 0) -> list[Image.Image]:
    """Real photo crops from scikit-image (no download), varied in content."""
    from skimage import data

    sources = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    rng = np.random.default_rng(seed)
    images = []
    for i in range(count):
        src = sources[i % len(sources)]
        h, w = src.shape[:2]
        side = int(min(h, w) * rng.uniform(0.3, 0.6))
        top, left = int(rng.integers(0, h - side)), int(rng.integers(0, w - side))
        crop = Image.fromarray(src[top : top + side, left : left + side]).resize((size, size))
        images.append(crop)
    return images


def write_images(folder: Path, names: Sequence[str], *, seed: int = 0) -> list[Path]:
    paths = []
    for name, image in zip(names, photo_crops(len(names), seed=seed), strict=True):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, quality=92) if path.suffix.lower() in (".jpg", ".jpeg") else image.save(
            path
        )
        paths.append(path)
    return paths


def write_prediction_task(
    lightly_dir: Path,
    task: str,
    *,
    task_type: str,
    categories: Sequence[str],
    predictions: dict[str, list[dict[str, object]]],
) -> None:
    """Lightly's prediction files of one task: tasks.json (appended), schema.json and one
    ``{"file_name", "predictions"}`` file per key (category ids are the list positions)."""
    import json

    root = lightly_dir / ".lightly" / "predictions"
    (root / task).mkdir(parents=True, exist_ok=True)
    tasks_file = root / "tasks.json"
    tasks = json.loads(tasks_file.read_text()) if tasks_file.is_file() else []
    tasks_file.write_text(json.dumps([*tasks, task]))
    schema = {
        "task_type": task_type,
        "categories": [{"id": i, "name": name} for i, name in enumerate(categories)],
    }
    (root / task / "schema.json").write_text(json.dumps(schema))
    for key, singletons in predictions.items():
        path = root / task / Path(key).with_suffix(".json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"file_name": key, "predictions": singletons}))


def image_samples(folder: Path, keys: Sequence[str]) -> tuple[list[Any], dict[str, str]]:
    """``Sample`` objects of image files under ``folder`` and their content hashes by key."""
    from runner.datasource.sample import Sample, SampleKind

    samples, hashes = [], {}
    for key in keys:
        path = folder / key
        stat = path.stat()
        samples.append(Sample(key, path, SampleKind.IMAGE, stat.st_size, stat.st_mtime_ns))
        hashes[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return samples, hashes


def tiny_training(*, seed: int, batch_size: int = 4, **model: Any) -> Any:
    """A ``LightlyConfig`` that trains in seconds on the shared CPU: one epoch, 32 px views,
    no worker processes, ResNet-18 from random weights (``model`` overrides its keys)."""
    from runner.config import LightlyConfig, ModelConfig

    cfg = LightlyConfig(seed=seed)
    cfg.loader.num_workers = 0
    cfg.loader.batch_size = batch_size
    cfg.collate.input_size = 32
    cfg.trainer.gpus = 0
    cfg.trainer.max_epochs = 1
    cfg.model = ModelConfig(**{"name": "resnet-18", "pretrained": False, **model})
    return cfg


def train_samples(samples: Sequence[Any], cfg: Any, *, root: Path, run_id: str, **kw: Any) -> Any:
    """Run the training stage in process on ``samples``, with ``root`` as the ``.lightly``
    folder (the checkpoint goes to ``root/checkpoints/<run_id>.ckpt``); ``kw``: ``videos``,
    ``progress``."""
    from runner.training.train import train

    run_dir = root / "runs" / run_id
    run_dir.mkdir(parents=True)
    return train(
        samples,
        cfg=cfg,
        crop_task=None,
        start_from=None,
        dot_lightly=root,
        run_dir=run_dir,
        run_id=run_id,
        **kw,
    )


@pytest.fixture()
def mounts(tmp_path: Path) -> Mounts:
    """Input mount with 12 images in subfolders, plus an empty Lightly datasource."""
    m = Mounts(tmp_path / "input_mount", tmp_path / "lightly_mount", "cam1")
    names = [f"img_{i:02d}.png" for i in range(6)] + [f"sub/pic_{i:02d}.jpg" for i in range(6)]
    write_images(m.input_dir, names)
    m.lightly_dir.mkdir(parents=True)
    return m


def run_cli(
    args: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``lightly-run`` script in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [str(LIGHTLY_RUN), *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mode below ``folder`` (to prove nothing was written there)."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mode)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def make_read_only(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~0o222)


def make_writable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)


def copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst)


# --- bad inputs: hostile files, names and trees (tests/test_bad_inputs.py) ---------------------

RUNS_AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def image_bytes(fmt: str = "PNG", *, seed: int = 0, size: int = 64) -> bytes:
    """A real photo crop encoded as ``fmt`` (distinct content per ``seed``)."""
    import io

    buffer = io.BytesIO()
    photo_crops(1, size=size, seed=seed)[0].save(buffer, format=fmt)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature, a valid IHDR claiming ``width`` x ``height``, and IEND: a tiny bomb."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def tree_fingerprint(folder: Path) -> dict[bytes, tuple[object, ...]]:
    """Every entry below ``folder`` (no symlink followed): kind, mode, mtime, bytes or target.

    Works with names that are not UTF-8, symlink loops, FIFOs and unreadable files; equal
    fingerprints before and after a run mean the tree is byte-identical and untouched.
    """
    import hashlib

    out: dict[bytes, tuple[object, ...]] = {}
    root = os.fsencode(folder)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in [*dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            info = os.lstat(path)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                out[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                out[rel] = ("dir", info.st_mode, info.st_mtime_ns)
            elif not os.path.isfile(path):
                out[rel] = ("special", info.st_mode, info.st_mtime_ns)
            else:
                try:
                    with open(path, "rb") as handle:
                        digest = hashlib.sha256(handle.read()).hexdigest()
                except OSError:
                    digest = "unreadable"
                out[rel] = ("file", info.st_mode, info.st_mtime_ns, digest)
    return out


def dead_pid() -> int:
    """The pid of a process that has exited (not reused this soon on a normal machine)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# Lightly's five prediction task types, as its docs name and lay them out (spec §2).
LIGHTLY_TASKS: dict[str, dict[str, Any]] = {
    "weather-classification": {
        "task_type": "classification",
        "categories": [{"id": 0, "name": "sunny"}, {"id": 1, "name": "cloudy"}],
    },
    "vehicles-detection": {
        "task_type": "object-detection",
        "categories": [{"id": 0, "name": "car"}, {"id": 1, "name": "traffic light"}],
    },
    "road-segmentation": {
        "task_type": "semantic-segmentation",
        "categories": [{"id": 0, "name": "road"}, {"id": 1, "name": "sky"}],
    },
    "pose-keypoints": {
        "task_type": "keypoint-detection",
        "categories": [{"id": 0, "name": "person", "keypoint_names": ["head", "foot"]}],
    },
    "people-instances": {
        "task_type": "instance-segmentation",
        "categories": [{"id": 0, "name": "person"}, {"id": 1, "name": "bicycle"}],
    },
}


def write_lightly_inputs(dot_lightly: Path, keys: Sequence[str], *, side: int = 96) -> None:
    """Lightly's documented input files for ``keys`` (square images of ``side`` px):
    ``tasks.json``, a ``schema.json`` and one prediction file per sample for every task of
    :data:`LIGHTLY_TASKS`, and custom metadata (``schema.json`` + one file per sample)."""
    predictions = dot_lightly / "predictions"
    predictions.mkdir(parents=True, exist_ok=True)
    (predictions / "tasks.json").write_text(json.dumps(list(LIGHTLY_TASKS)))
    for task, schema in LIGHTLY_TASKS.items():
        (predictions / task).mkdir(exist_ok=True)
        (predictions / task / "schema.json").write_text(json.dumps(schema))
    pixels = side * side
    for i, key in enumerate(keys):
        p = (i % 5 + 1) / 6  # varies per sample, in (0, 1)
        box = [4.0 + i, 6.0, 20.0, 30.0]
        per_task: dict[str, list[dict[str, Any]]] = {
            "weather-classification": [{"category_id": i % 2, "probabilities": [p, 1 - p]}],
            "vehicles-detection": [
                {"category_id": j % 2, "bbox": box, "score": p} for j in range(1 + i % 3)
            ],
            "road-segmentation": [
                {
                    "category_id": 0,
                    "segmentation": [0, pixels // (i + 2), pixels - pixels // (i + 2)],
                    "score": p,
                },
                {"category_id": 1, "segmentation": [pixels // 2, pixels // 2], "score": 1 - p},
            ],
            "pose-keypoints": [
                {"category_id": 0, "keypoints": [10.0, 12.0, p, 30.0, 60.0, 1 - p], "score": p}
            ],
            "people-instances": [
                {
                    "category_id": i % 2,
                    "bbox": box,
                    "segmentation": [side * 6, 20, pixels - side * 6 - 20],
                    "score": p,
                }
            ],
        }
        stem = Path(key).with_suffix(".json")
        for task, singletons in per_task.items():
            path = predictions / task / stem
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"file_name": key, "predictions": singletons}))
        meta = dot_lightly / "metadata" / stem
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta.write_text(
            json.dumps(
                {"file_name": key, "type": "image", "metadata": {"weather": {"temperature": i}}}
            )
        )
    (dot_lightly / "metadata" / "schema.json").write_text(
        json.dumps(
            [
                {
                    "name": "Temperature",
                    "path": "weather.temperature",
                    "defaultValue": 0,
                    "valueDataType": "NUMERIC_INT",
                }
            ]
        )
    )
