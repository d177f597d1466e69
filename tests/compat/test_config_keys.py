"""Every key of Lightly's V4 worker config, V3 lightly config and V4 selection config is
accepted through YAML, the command line and the Python API alike, and means the same.

The key lists are Lightly's generated client models (``DockerWorkerConfigV4Docker``,
``DockerWorkerConfigV3Lightly`` and its parts, ``SelectionConfigV4`` and its entries); the
dicts below set every one of them. Keys with no meaning here are listed with a reason; keys
asking for something impossible here stop with one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from omegaconf import OmegaConf

from runner.config import RunConfig
from runner.errors import ConfigError
from runner.validate import no_effect_keys
from tests.conftest import Mounts, run_cli

LIGHTLY_WORKER_KEYS = {
    "checkpoint", "checkpoint_run_id", "corruptness_check.corruption_threshold",
    "datasource.bypass_verify", "datasource.enable_datapool_update", "datasource.process_all",
    "datasource.input_expiration.min_days_to_expiration",
    "datasource.input_expiration.handling_strategy", "crops.enable_upload",
    "crops.enable_upload_for_tasks", "embeddings", "enable_training", "training.task_name",
    "normalize_embeddings", "num_processes", "num_threads", "output_image_format", "pretagging",
    "pretagging_upload", "relevant_filenames_file", "selected_sequence_length", "upload_report",
    "use_datapool", "shutdown_when_job_finished", "cache_size",
}  # fmt: skip
LIGHTLY_LIGHTLY_KEYS = {
    "seed", "checkpoint_callback.save_last", "loader.batch_size", "loader.shuffle",
    "loader.num_workers", "loader.drop_last", "model.name", "model.out_dim", "model.num_ftrs",
    "model.width", "trainer.gpus", "trainer.max_epochs", "trainer.precision",
    "criterion.temperature", "optimizer.lr", "optimizer.weight_decay", "collate.input_size",
    "collate.cj_prob", "collate.cj_bright", "collate.cj_contrast", "collate.cj_sat",
    "collate.cj_hue", "collate.min_scale", "collate.random_gray_scale", "collate.gaussian_blur",
    "collate.kernel_size", "collate.sigmas", "collate.vf_prob", "collate.hf_prob",
    "collate.rr_prob", "collate.rr_degrees",
}  # fmt: skip
LIGHTLY_SELECTION_KEYS = {
    "n_samples", "proportion_samples", "strategies", "lightly_path_regex", "auto_tasks",
}  # fmt: skip
LIGHTLY_INPUT_KEYS = {
    "type", "task", "score", "key", "name", "dataset_id", "tag_name", "random_seed", "categories",
}  # fmt: skip
LIGHTLY_STRATEGY_KEYS = {
    "type", "stopping_condition_minimum_distance", "threshold", "operation", "target",
    "num_nearest_neighbors", "stopping_condition_minimum_typicality", "strength",
    "stopping_condition_max_sum", "target_range", "distribution",
}  # fmt: skip

WORKER: dict[str, Any] = {
    "checkpoint": "",
    "checkpoint_run_id": "",
    "corruptness_check": {"corruption_threshold": 0.2},
    "datasource": {
        "bypass_verify": True,
        "enable_datapool_update": False,
        "process_all": True,
        "input_expiration": {"min_days_to_expiration": 3, "handling_strategy": "ABORT"},
    },
    "crops": {"enable_upload": False, "enable_upload_for_tasks": ["vehicles-detection"]},
    "embeddings": "",
    "enable_training": False,
    "training": {"task_name": "vehicles-detection"},
    "normalize_embeddings": True,
    "num_processes": 2,
    "num_threads": 2,
    "output_image_format": "jpg",
    "pretagging": False,
    "pretagging_upload": True,
    "relevant_filenames_file": "",
    "selected_sequence_length": 1,
    "upload_report": False,
    "use_datapool": True,
    "shutdown_when_job_finished": False,
    "cache_size": 1000000,
}
LIGHTLY: dict[str, Any] = {
    "seed": 7,
    "checkpoint_callback": {"save_last": True},
    "loader": {"batch_size": 8, "shuffle": False, "num_workers": 0, "drop_last": False},
    "model": {"name": "resnet-18", "out_dim": 64, "num_ftrs": 16, "width": 1},
    "trainer": {"gpus": 0, "max_epochs": 10, "precision": 32},
    "criterion": {"temperature": 0.5},
    "optimizer": {"lr": 1.0, "weight_decay": 0.0001},
    "collate": {
        "input_size": 64,
        "cj_prob": 0.5,
        "cj_bright": 0.5,
        "cj_contrast": 0.5,
        "cj_sat": 0.5,
        "cj_hue": 0.1,
        "min_scale": 0.2,
        "random_gray_scale": 0.1,
        "gaussian_blur": 0.2,
        "kernel_size": 0.1,
        "sigmas": [0.1, 2.0],
        "vf_prob": 0.1,
        "hf_prob": 0.2,
        "rr_prob": 0.1,
        "rr_degrees": [-10.0, 10.0],
    },
}
SELECTION: dict[str, Any] = {
    "n_samples": 3,
    "proportion_samples": None,
    "lightly_path_regex": "^cam",
    "auto_tasks": [{"type": "TILING", "name": "tiles", "num_rows": 2, "num_cols": 2}],
    "strategies": [
        {
            "input": {"type": "EMBEDDINGS", "dataset_id": "abc", "tag_name": "initial-tag"},
            "strategy": {"type": "SIMILARITY"},
        },
        {
            "input": {"type": "SCORES", "task": "det", "score": "objectness_least_confidence"},
            "strategy": {
                "type": "WEIGHTS",
                "strength": 2.0,
                "stopping_condition_max_sum": 10.0,
                "target_range": {"min_sum": 1.0, "max_sum": 5.0},
            },
        },
        {
            "input": {"type": "PREDICTIONS", "task": "det", "name": "CLASS_DISTRIBUTION"},
            "strategy": {
                "type": "BALANCE",
                "target": {"car": 0.5, "traffic light": 0.5},
                "distribution": "TARGET",
            },
        },
        {
            "input": {
                "type": "PREDICTIONS",
                "task": "det",
                "name": "CATEGORY_COUNT",
                "categories": ["car"],
            },
            "strategy": {"type": "THRESHOLD", "threshold": 1, "operation": "BIGGER_EQUAL"},
        },
        {
            "input": {"type": "METADATA", "key": "lightly.sharpness"},
            "strategy": {"type": "THRESHOLD", "threshold": 20.0, "operation": "BIGGER"},
        },
        {"input": {"type": "RANDOM", "random_seed": 42}, "strategy": {"type": "WEIGHTS"}},
        {
            "input": {"type": "EMBEDDINGS"},
            "strategy": {"type": "DIVERSITY", "stopping_condition_minimum_distance": -1},
        },
        {
            "input": {"type": "EMBEDDINGS"},
            "strategy": {
                "type": "TYPICALITY",
                "num_nearest_neighbors": 5,
                "stopping_condition_minimum_typicality": 0.1,
            },
        },
    ],
}
SECTIONS = {"worker": WORKER, "lightly": LIGHTLY, "selection": SELECTION}


def dotted(value: dict[str, Any], prefix: str = "") -> set[str]:
    """The dotted keys of nested dicts (lists are leaves)."""
    keys: set[str] = set()
    for key, item in value.items():
        name = f"{prefix}{key}"
        keys |= dotted(item, f"{name}.") if isinstance(item, dict) and item else {name}
    return keys


def hydra_value(value: Any) -> str:
    """``value`` in Hydra's override grammar (strings quoted, dict keys bare)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"'{value}'"
    return repr(value)


def overrides(section: str, value: dict[str, Any]) -> list[str]:
    """Command-line overrides, one per leaf (lists and free-form dicts as values)."""
    out = []
    for key, item in value.items():
        name = f"{section}.{key}"
        if isinstance(item, dict) and key not in ("criterion", "optimizer"):
            out += overrides(name, item)
        elif isinstance(item, dict):
            out += [f"{name}.{k}={hydra_value(v)}" for k, v in item.items()]
        else:
            out.append(f"{name}={hydra_value(item)}")
    return out


def printed_config(args: list[str], cwd: Path) -> dict[str, Any]:
    result = run_cli([*args, "--cfg", "job"], cwd=cwd)
    assert result.returncode == 0, result.stderr
    return cast(dict[str, Any], yaml.safe_load(result.stdout))


def api_config(mounts: Mounts, sections: dict[str, Any]) -> Any:
    from runner.api import ApiWorkflowClient

    client = ApiWorkflowClient(
        input_mount=str(mounts.input_mount), lightly_mount=str(mounts.lightly_mount)
    )
    client.set_local_config(relative_path="cam1")
    return client._compose({**client._overrides, **sections})


def test_the_dicts_set_every_lightly_key() -> None:
    assert dotted(WORKER) == LIGHTLY_WORKER_KEYS
    assert dotted(LIGHTLY) == LIGHTLY_LIGHTLY_KEYS
    assert dotted(SELECTION) == LIGHTLY_SELECTION_KEYS
    entries = SELECTION["strategies"]
    assert set().union(*(e["input"] for e in entries)) == LIGHTLY_INPUT_KEYS
    assert set().union(*(e["strategy"] for e in entries)) == LIGHTLY_STRATEGY_KEYS


@pytest.mark.slow
def test_yaml_command_line_and_api_accept_every_key_alike(mounts: Mounts, tmp_path: Path) -> None:
    conf = tmp_path / "lightly_conf" / "dataset"
    conf.mkdir(parents=True)
    (conf / "lightly_keys.yaml").write_text(
        "# @package _global_\n" + yaml.safe_dump(SECTIONS, sort_keys=False)
    )
    from_yaml = printed_config([*mounts.overrides(), "+dataset=lightly_keys"], tmp_path)
    cli_args = [o for name, value in SECTIONS.items() for o in overrides(name, value)]
    from_cli = printed_config([*mounts.overrides(), *cli_args], tmp_path)
    from_api = OmegaConf.to_container(api_config(mounts, SECTIONS), resolve=True, enum_to_str=True)
    assert isinstance(from_api, dict)
    for section, given in SECTIONS.items():
        assert from_yaml[section] == from_cli[section] == from_api[section], section
        # What was given comes back (the schema adds the keys that were not given).
        assert dotted(given) <= dotted(from_api[section]), section
    assert from_api["lightly"]["criterion"] == {"temperature": 0.5}
    assert from_api["selection"]["strategies"][2]["strategy"]["target"]["traffic light"] == 0.5


def test_keys_without_effect_are_listed_with_a_reason(mounts: Mounts) -> None:
    cfg = cast(RunConfig, OmegaConf.to_object(api_config(mounts, SECTIONS)))
    listed = no_effect_keys(cfg)
    for key in (
        "worker.datasource.input_expiration",
        "worker.crops.enable_upload",
        "worker.crops.enable_upload_for_tasks",
        "worker.pretagging_upload",
        "worker.cache_size",
        "worker.training.task_name",
        "worker.upload_report",
        "worker.shutdown_when_job_finished",
        "selection.auto_tasks",
        "lightly.criterion",
        "lightly.optimizer",
        "lightly.checkpoint_callback",
        "lightly.collate.sigmas",
        "lightly.model.out_dim",
        "selection.strategies[0].input.dataset_id",
    ):
        assert listed.get(key), key
    assert "worker.pretagging" not in listed  # false is what Lightly's published configs say


@pytest.mark.slow
def test_pretagging_true_stops_with_one_line_everywhere(mounts: Mounts, tmp_path: Path) -> None:
    from runner.api import ApiWorkflowClient

    client = ApiWorkflowClient(
        input_mount=str(mounts.input_mount), lightly_mount=str(mounts.lightly_mount)
    )
    client.set_local_config(relative_path="cam1")
    with pytest.raises(ConfigError, match="built-in pretagging detector") as info:
        client.schedule_compute_worker_run(
            worker_config={"pretagging": True}, selection_config={"n_samples": 2}
        )
    assert "\n" not in str(info.value)
    result = run_cli(
        [*mounts.overrides(), "selection.n_samples=2", "worker.pretagging=true"], cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"lightly-run: error: {info.value}"]


def test_minimum_distance_minus_one_is_inactive_other_negatives_are_refused() -> None:
    from runner.config import SelectionConfig, StrategyEntry
    from runner.selection.checks import active_min_distance
    from runner.selection.strategies import has_stopping_condition, validate_selection

    entry = StrategyEntry()
    entry.input.type = "EMBEDDINGS"  # type: ignore[assignment]
    entry.strategy.type = "DIVERSITY"  # type: ignore[assignment]
    entry.strategy.stopping_condition_minimum_distance = -1
    cfg = SelectionConfig(n_samples=2, strategies=[entry])
    validate_selection(cfg)
    assert active_min_distance(entry.strategy) is None and not has_stopping_condition(cfg)
    entry.strategy.stopping_condition_minimum_distance = -0.5
    with pytest.raises(ConfigError, match="or -1 for no stopping condition"):
        validate_selection(cfg)


@pytest.mark.slow
def test_balance_target_class_names_on_the_command_line(mounts: Mounts, tmp_path: Path) -> None:
    """Unquoted names with spaces work; a name Hydra's grammar cannot hold gets our line."""
    entry = "{input:{type:PREDICTIONS,task:det,name:CLASS_DISTRIBUTION},strategy:{type:BALANCE,"
    printed = printed_config(
        [*mounts.overrides(), f"selection.strategies=[{entry}target:{{traffic light:1.0}}}}}}]"],
        tmp_path,
    )
    assert printed["selection"]["strategies"][0]["strategy"]["target"] == {"traffic light": 1.0}
    result = run_cli(
        [*mounts.overrides(), f"selection.strategies=[{entry}target:{{'traffic light':1.0}}}}}}]"],
        cwd=tmp_path,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "cannot hold this BALANCE target" in line and "YAML" in line
