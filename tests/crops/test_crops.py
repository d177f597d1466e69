"""Crops from predictions, their inputs, and every strategy at crop level (in process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from runner.config import (
    DatasetType,
    InputType,
    RunConfig,
    SelectionConfig,
    SelectionInput,
    SelectionStrategy,
    StrategyEntry,
    StrategyType,
    ThresholdOperation,
)
from runner.crops.inputs import check_crop_inputs, crop_resolver
from runner.crops.objects import CropSet, build_crops, crop_key
from runner.crops.plan import check_object_level, object_task
from runner.datasource.sample import Sample, SampleKind
from runner.embedding.dataset import read_sample
from runner.errors import ConfigError, DataError
from runner.inputs.prediction_checks import InvalidPrediction, mask_box, parse_singleton
from runner.inputs.prediction_schema import TaskSchema, TaskType
from runner.inputs.predictions import load_task
from runner.selection.select import select
from tests.conftest import write_images, write_prediction_task

KEYS = ["a.png", "b.png", "sub/c.jpg", "sub/d-e.png"]
SIZE = 96  # write_images' side


def objects(i: int) -> list[dict[str, Any]]:
    """Three objects per image: categories cat, dog, cat; scores vary by image."""
    return [
        {"category_id": j % 2, "bbox": [5 + 10 * j, 8 + 5 * j, 20 + 4 * j, 18 + i], "score": s}
        for j, s in enumerate((0.3 + 0.1 * i, 0.9, 0.5 + 0.05 * i))
    ]


def make_crops(
    tmp_path: Path,
    predictions: dict[str, list[dict[str, Any]]] | None = None,
    *,
    task_type: str = "object-detection",
    padding: float = 0.0,
) -> CropSet:
    input_dir, lightly_dir = tmp_path / "in", tmp_path / "lightly"
    paths = write_images(input_dir, KEYS)
    found = predictions if predictions is not None else {k: objects(i) for i, k in enumerate(KEYS)}
    write_prediction_task(
        lightly_dir, "det", task_type=task_type, categories=("cat", "dog"), predictions=found
    )
    samples = [
        Sample(key=k, path=p, kind=SampleKind.IMAGE, size=p.stat().st_size, mtime_ns=0)
        for k, p in zip(KEYS, paths, strict=True)
    ]
    sizes = dict.fromkeys(KEYS, (SIZE, SIZE))
    loaded = load_task(lightly_dir / ".lightly", "det", keys=KEYS, image_sizes=sizes)
    return build_crops(
        loaded,
        images=samples,
        hashes={k: f"hash-{k}" for k in KEYS},
        sizes=sizes,
        padding=padding,
        prediction_file={k: f"pred/{k}" for k in KEYS},
    )


def test_crop_names_lead_back_to_image_and_object() -> None:
    assert crop_key("sub/pic_01.jpg", 2) == "sub/pic_01-2-jpg.png"
    assert crop_key("a-b.png", 3, width=2) == "a-b-03-png.png"
    assert crop_key("noext", 0) == "noext-0-none.png"


def test_every_object_is_a_crop_cut_exactly_from_its_image(tmp_path: Path) -> None:
    crops = make_crops(tmp_path)
    assert len(crops.crops) == 3 * len(KEYS) and not crops.skipped
    assert crops.keys == sorted(crops.keys)
    crop = crops.by_key()["sub/d-e-1-png.png"]
    assert (crop.image, crop.index, crop.category) == ("sub/d-e.png", 1, "dog")
    assert crop.box == (15, 13, 15 + 24, 13 + 18 + 3)
    pixels = read_sample(crop.sample(), draft_size=32)
    with Image.open(crop.path) as full:
        assert pixels.tobytes() == full.convert("RGB").crop(crop.box).tobytes()


def test_padding_grows_the_box_clipped_to_the_image_and_changes_the_cache_key(
    tmp_path: Path,
) -> None:
    plain = make_crops(tmp_path / "plain").by_key()["a-0-png.png"]
    padded = make_crops(tmp_path / "padded", padding=0.5).by_key()["a-0-png.png"]
    # bbox [5, 8, 20, 18]: 10 and 9 px more on each side, clipped at 0 on the left and top.
    assert plain.box == (5, 8, 25, 26)
    assert padded.box == (0, 0, 35, 35)
    assert plain.content_hash != padded.content_hash


def test_bad_objects_are_listed_skips_with_the_reason(tmp_path: Path) -> None:
    predictions = {k: objects(i) for i, k in enumerate(KEYS)}
    predictions["a.png"][1]["bbox"] = [10, 10, 0, 4]  # zero width
    predictions["b.png"][2]["bbox"] = [96.5, 10, 0.4, 5]  # within tolerance, yet off the image
    predictions["sub/c.jpg"] = [{"category_id": 0, "bbox": [300, 0, 10, 10], "score": 0.5}]
    crops = make_crops(tmp_path, predictions)
    reasons = {s.file: s.reason for s in crops.skipped}
    assert reasons["pred/a.png"].startswith("object 1: zero-area bbox")
    assert reasons["pred/b.png"].startswith("object 2: ") and "outside" in reasons["pred/b.png"]
    assert [s.file for s in crops.images.skipped] == [".lightly/predictions/det/sub/c.json"]
    assert "outside" in crops.images.skipped[0].reason
    assert len(crops.crops) == 3 * len(KEYS) - 3 - 2


def test_no_croppable_object_stops_with_one_line(tmp_path: Path) -> None:
    zero = [{"category_id": 0, "bbox": [10, 10, 0, 20], "score": 0.5}]
    with pytest.raises(DataError, match="no object can be cropped"):
        make_crops(tmp_path, dict.fromkeys(KEYS, zero))


def test_a_classification_task_cannot_be_cropped(tmp_path: Path) -> None:
    predictions = {key: [{"category_id": 0}] for key in KEYS}
    with pytest.raises(ConfigError, match="is classification; crops need objects with boxes"):
        make_crops(tmp_path, predictions, task_type="classification")


# --- instance segmentation -------------------------------------------------------------------


def rle(mask: np.ndarray) -> list[int]:
    """Uncompressed row-major RLE counts (0s first)."""
    flat = mask.reshape(-1).astype(int)
    counts, current, run = [], 0, 0
    for value in flat:
        if value != current:
            counts.append(run)
            current, run = value, 0
        run += 1
    counts.append(run)
    return counts


def test_mask_box_is_the_extent_of_the_mask() -> None:
    mask = np.zeros((10, 12), dtype=bool)
    mask[2:5, 3:7] = True
    mask[6, 1] = True
    assert mask_box(rle(mask), (12, 10)) == (1.0, 2.0, 6.0, 5.0)
    assert mask_box(rle(np.zeros((10, 12), dtype=bool)), (12, 10)) is None
    with pytest.raises(InvalidPrediction, match="known size"):
        mask_box(rle(mask), None)


def test_instance_segmentation_reads_bbox_or_derives_it_from_the_mask(tmp_path: Path) -> None:
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    mask[10:40, 20:30] = True
    with_box = {"category_id": 1, "bbox": [0, 0, 50, 50], "score": 0.8, "segmentation": rle(mask)}
    without_box = {"category_id": 0, "score": 0.6, "segmentation": rle(mask)}
    predictions = {key: [with_box, without_box] for key in KEYS}
    crops = make_crops(tmp_path, predictions, task_type="instance-segmentation")
    first, second = crops.by_key()["a-0-png.png"], crops.by_key()["a-1-png.png"]
    assert first.box == (0, 0, 50, 50)
    assert second.box == (20, 10, 30, 40)
    assert first.prediction.area == second.prediction.area == 300
    schema = TaskSchema("inst", TaskType.INSTANCE_SEGMENTATION, (0, 1), ("cat", "dog"))
    with pytest.raises(InvalidPrediction, match="covers"):
        parse_singleton({**without_box, "segmentation": [5, 5]}, schema=schema, image_size=(96, 96))


# --- inputs and strategies per crop ------------------------------------------------------------


def entry(itype: InputType, stype: StrategyType, **fields: Any) -> StrategyEntry:
    strategy = {k: v for k, v in fields.items() if k in SelectionStrategy.__dataclass_fields__}
    given = {k: v for k, v in fields.items() if k not in strategy}
    return StrategyEntry(
        input=SelectionInput(type=itype, **given),
        strategy=SelectionStrategy(type=stype, **strategy),
    )


def crop_select(crops: CropSet, n: int, *entries: StrategyEntry) -> list[str]:
    cfg = SelectionConfig(n_samples=n, strategies=list(entries))
    check_crop_inputs(cfg, crops.task)
    resolve, _ = crop_resolver(crops, dot_lightly=Path("/nonexistent"), selection=cfg)
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(len(crops.crops), 8)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    tags = {"query": crops.keys[:2]}
    result = select(
        embeddings=embeddings,
        cfg=cfg,
        seed=1,
        keys=crops.keys,
        resolve_input=resolve,
        query_keys=lambda i: tags[i.tag_name or ""],
    )
    return [crops.keys[i] for i in result.indices]


DIVERSITY = entry(InputType.EMBEDDINGS, StrategyType.DIVERSITY, task="det")


def test_scores_are_per_crop_and_threshold_filters_crops(tmp_path: Path) -> None:
    crops = make_crops(tmp_path)
    cfg = SelectionConfig(
        n_samples=1,
        strategies=[
            entry(
                InputType.SCORES,
                StrategyType.WEIGHTS,
                task="det",
                score="objectness_least_confidence",
            )
        ],
    )
    resolve, report = crop_resolver(crops, dot_lightly=tmp_path, selection=cfg)
    values = resolve(cfg.strategies[0].input).values
    expected = [1 - (c.prediction.score or 0.0) for c in crops.crops]
    assert np.allclose(values, expected)
    assert "det" in report.class_counts
    threshold = entry(
        InputType.SCORES,
        StrategyType.THRESHOLD,
        task="det",
        score="objectness_least_confidence",
        threshold=0.3,
        operation=ThresholdOperation.BIGGER,
    )
    chosen = crop_select(crops, 50, threshold, DIVERSITY)
    uncertain = {c.key for c in crops.crops if 1 - (c.prediction.score or 0.0) > 0.3}
    assert chosen and sorted(chosen) == sorted(uncertain)


def test_category_count_and_balance_read_the_crop_class(tmp_path: Path) -> None:
    crops = make_crops(tmp_path)
    by_key = crops.by_key()
    dogs_only = entry(
        InputType.PREDICTIONS,
        StrategyType.THRESHOLD,
        task="det",
        name="CATEGORY_COUNT",
        categories=["dog"],
        threshold=0.5,
        operation=ThresholdOperation.BIGGER,
    )
    chosen = crop_select(crops, 3, dogs_only, DIVERSITY)
    assert len(chosen) == 3 and {by_key[k].category for k in chosen} == {"dog"}
    balance = entry(
        InputType.PREDICTIONS,
        StrategyType.BALANCE,
        task="det",
        name="CLASS_DISTRIBUTION",
        target={"cat": 0.5, "dog": 0.5},
    )
    chosen = crop_select(crops, 8, balance)
    categories = [by_key[k].category for k in chosen]
    assert categories.count("cat") == categories.count("dog") == 4


def test_lightly_metadata_is_measured_on_the_crop(tmp_path: Path) -> None:
    crops = make_crops(tmp_path)
    widest = entry(InputType.METADATA, StrategyType.WEIGHTS, key="lightly.width")
    chosen = crop_select(crops, 4, widest)
    widths = {c.key: c.box[2] - c.box[0] for c in crops.crops}
    assert sorted(widths[k] for k in chosen) == sorted(widths.values())[-4:]
    cfg = SelectionConfig(n_samples=1, strategies=[widest])
    resolve, _ = crop_resolver(crops, dot_lightly=tmp_path, selection=cfg)
    sharp = resolve(SelectionInput(type=InputType.METADATA, key="lightly.sharpness")).values
    assert len(set(np.round(sharp, 6))) > 1  # per crop, not one value per image


@pytest.mark.parametrize(
    "strategy",
    [
        entry(InputType.EMBEDDINGS, StrategyType.TYPICALITY, task="det"),
        entry(InputType.EMBEDDINGS, StrategyType.HERDING, task="det"),
        entry(InputType.EMBEDDINGS, StrategyType.SIMILARITY, task="det", tag_name="query"),
        entry(InputType.RANDOM, StrategyType.WEIGHTS, random_seed=3),
    ],
    ids=["TYPICALITY", "HERDING", "SIMILARITY", "RANDOM"],
)
def test_every_embedding_strategy_selects_crops(tmp_path: Path, strategy: StrategyEntry) -> None:
    crops = make_crops(tmp_path)
    chosen = crop_select(crops, 4, strategy)
    assert len(chosen) == 4 and set(chosen) <= set(crops.keys)
    if strategy.strategy.type is StrategyType.SIMILARITY:
        assert not set(chosen) & set(crops.keys[:2]), "query crops are not selected"


def test_inputs_without_a_value_per_crop_are_refused() -> None:
    other_task = SelectionConfig(
        n_samples=1,
        strategies=[entry(InputType.SCORES, StrategyType.WEIGHTS, task="cls", score="x")],
    )
    with pytest.raises(ConfigError, match="has no value per crop"):
        check_crop_inputs(other_task, "det")
    custom = SelectionConfig(
        n_samples=1, strategies=[entry(InputType.METADATA, StrategyType.WEIGHTS, key="weather")]
    )
    with pytest.raises(ConfigError, match="custom metadata 'weather' is per image"):
        check_crop_inputs(custom, "det")


def test_object_level_config_checks() -> None:
    cfg = RunConfig()
    cfg.selection.n_samples = 2
    cfg.selection.strategies = [DIVERSITY]
    assert object_task(cfg) == "det"
    check_object_level(cfg)
    cfg.worker.object_level.padding = -0.5
    with pytest.raises(ConfigError, match="padding must be >= 0"):
        check_object_level(cfg)
    cfg.worker.object_level.padding = 0.1
    cfg.worker.use_datapool = True
    with pytest.raises(ConfigError, match=r"cannot be combined with worker\.use_datapool"):
        check_object_level(cfg)
    cfg.worker.use_datapool = False
    cfg.dataset.type = DatasetType.VIDEOS
    with pytest.raises(ConfigError, match="crops of video frames are not supported yet"):
        check_object_level(cfg)
    legacy = RunConfig()
    legacy.selection.strategies = [entry(InputType.EMBEDDINGS, StrategyType.DIVERSITY)]
    assert object_task(legacy) is None
    legacy.worker.object_level.task_name = "det"  # V2/V3: the whole selection is of crops
    assert object_task(legacy) == "det"
    legacy.selection.strategies.append(DIVERSITY)
    legacy.selection.strategies.append(
        entry(InputType.EMBEDDINGS, StrategyType.TYPICALITY, task="other")
    )
    with pytest.raises(ConfigError, match="name different tasks"):
        object_task(legacy)
