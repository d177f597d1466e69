"""Config composition: every packaged YAML, user dataset dirs, and one-line errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import hydra
import pytest
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from runner.cli import precheck, to_run_config
from runner.config import DatasetType, RunConfig, StrategyType, register_configs
from runner.errors import UserError
from runner.resources import config_dir
from tests.conftest import Mounts

CONF = config_dir()


@pytest.fixture(autouse=True)
def _registered() -> Iterator[None]:
    register_configs()
    GlobalHydra.instance().clear()
    yield
    GlobalHydra.instance().clear()


def compose(overrides: list[str]) -> DictConfig:
    with hydra.initialize_config_dir(str(CONF), version_base="1.3"):
        return hydra.compose(config_name="config", overrides=overrides)


def group_files() -> list[Path]:
    files = sorted(p for p in CONF.rglob("*.yaml") if p.parent != CONF)
    assert len(files) >= 6
    return files


@pytest.mark.parametrize("path", group_files(), ids=lambda p: str(p.relative_to(CONF)))
def test_every_packaged_yaml_composes_into_the_typed_schema(path: Path) -> None:
    group = path.parent.relative_to(CONF).as_posix()
    option = f"+{group}={path.stem}" if group == "dataset" else f"{group}={path.stem}"
    mounts = [] if group == "dataset" else ["mounts.input_mount=/in", "mounts.lightly_mount=/out"]
    cfg = to_run_config(compose([option, *mounts]))
    assert isinstance(cfg, RunConfig)
    assert cfg.selection.strategies, "every config keeps at least one strategy"


def test_cam1_reproduces_the_seed_example() -> None:
    cfg = to_run_config(compose(["+dataset=cam1"]))
    assert cfg.mounts.input_mount == "/home/user/datasets"
    assert cfg.mounts.lightly_mount == "/home/user/lightly"
    assert cfg.datasource.input.relative_path == "cam1"
    assert cfg.datasource.lightly.relative_path == "cam1"
    assert cfg.datasource.web_server_location == "http://localhost:3456"
    assert cfg.dataset.type is DatasetType.VIDEOS
    assert cfg.selection.n_samples == 10
    assert cfg.selection.strategies[0].strategy.type is StrategyType.DIVERSITY


def test_lightly_strategy_list_is_accepted_verbatim_on_the_command_line() -> None:
    cfg = to_run_config(
        compose(
            [
                "mounts.input_mount=/in",
                "mounts.lightly_mount=/out",
                "selection.strategies=[{input:{type:EMBEDDINGS},strategy:"
                "{type:DIVERSITY,stopping_condition_minimum_distance:0.2}}]",
            ]
        )
    )
    strategy = cfg.selection.strategies[0].strategy
    assert strategy.stopping_condition_minimum_distance == 0.2
    assert strategy.strength == 1.0


def test_user_dataset_dir_is_found_and_wins_over_a_packaged_name(
    tmp_path: Path, mounts: Mounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = tmp_path / "my_conf" / "dataset"
    user.mkdir(parents=True)
    body = (
        "# @package _global_\n"
        f"mounts: {{input_mount: {mounts.input_mount}, lightly_mount: {mounts.lightly_mount}}}\n"
        "datasource: {input: {relative_path: cam1}, lightly: {relative_path: cam1}}\n"
        "dataset: {name: mine, type: IMAGES}\n"
    )
    (user / "cam1.yaml").write_text(body)
    (user / "other.yaml").write_text(body)
    monkeypatch.setenv("LIGHTLY_RUNNER_CONFIG_DIR", str(tmp_path / "my_conf"))
    assert to_run_config(compose(["+dataset=other"])).dataset.name == "mine"
    shadowed = to_run_config(compose(["+dataset=cam1"]))
    assert shadowed.dataset.name == "mine"
    assert shadowed.mounts.input_mount == str(mounts.input_mount)


def test_default_user_dir_is_lightly_conf_in_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lightly_conf" / "dataset").mkdir(parents=True)
    (tmp_path / "lightly_conf" / "dataset" / "here.yaml").write_text(
        "# @package _global_\nmounts: {input_mount: /in, lightly_mount: /out}\n"
        "dataset: {name: from-cwd}\n"
    )
    monkeypatch.delenv("LIGHTLY_RUNNER_CONFIG_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert to_run_config(compose(["+dataset=here"])).dataset.name == "from-cwd"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "selection.n_sample=10",
            "unknown config key 'selection.n_sample' (did you mean 'selection.n_samples'?)",
        ),
        ("worker.relevant_filename_file=x", "did you mean 'worker.relevant_filenames_file'"),
        ("lightly.loader.batchsize=3", "did you mean 'lightly.loader.batch_size'"),
        ("+mounts.input_mnt=/x", "did you mean 'mounts.input_mount'"),
        (
            "dataset.type=IMAGE",
            "invalid value 'IMAGE' for 'dataset.type' (did you mean 'IMAGES'?); "
            "allowed: IMAGES, VIDEOS",
        ),
        (
            "selection.n_samples=ten",
            "invalid value 'ten' for 'selection.n_samples': expected an integer",
        ),
        (
            "selection.strategies=[{input:{type:EMBEDING},strategy:{type:DIVERSITY}}]",
            "allowed: EMBEDDINGS, SCORES, METADATA, PREDICTIONS, RANDOM",
        ),
        (
            "selection.strategies=[{input:{type:EMBEDDINGS},strategy:{type:DIVERSITY,strenght:2}}]",
            "did you mean 'selection.strategies[*].strategy.strength'",
        ),
        ("+dataset=nope", "Could not find 'dataset/nope'"),
    ],
)
def test_config_mistakes_fail_before_any_work_in_one_line(
    mounts: Mounts, override: str, expected: str
) -> None:
    with pytest.raises(UserError) as info:
        precheck([*mounts.overrides(), "selection.n_samples=3", override])
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_unknown_key_in_a_user_yaml_gets_a_hint(
    tmp_path: Path, mounts: Mounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "c" / "dataset").mkdir(parents=True)
    (tmp_path / "c" / "dataset" / "typo.yaml").write_text(
        "# @package _global_\nworker:\n  remove_exact_duplicate: false\n"
    )
    monkeypatch.setenv("LIGHTLY_RUNNER_CONFIG_DIR", str(tmp_path / "c"))
    with pytest.raises(UserError, match=r"did you mean .worker\.remove_exact_duplicates."):
        precheck([*mounts.overrides(), "selection.n_samples=3", "+dataset=typo"])


def test_every_sweep_value_is_checked_before_the_first_job(mounts: Mounts) -> None:
    with pytest.raises(UserError, match=r"selection\.n_samples"):
        precheck(["-m", *mounts.overrides(), "selection.n_samples=3,5,oops"])


def test_launcher_keys_are_checked_with_their_launcher(mounts: Mounts) -> None:
    sweep = ["-m", *mounts.overrides(), "selection.n_samples=3,5"]
    precheck([*sweep, "hydra/launcher=joblib", "hydra.launcher.n_jobs=3"])
    precheck([*sweep, "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=20"])
    with pytest.raises(UserError, match=r"n_jobs"):
        precheck([*sweep, "hydra.launcher.n_jobs=3"])  # the basic launcher has no n_jobs


def test_missing_mounts_name_the_key() -> None:
    with pytest.raises(UserError, match=r"missing required value .mounts\.input_mount."):
        precheck(["selection.n_samples=3"])


def test_help_skips_the_precheck_and_cfg_allows_values_still_missing() -> None:
    precheck(["--cfg", "job"])
    precheck(["--help"])


def test_cfg_job_with_a_bad_key_fails_in_one_line() -> None:
    with pytest.raises(UserError, match=r"did you mean .selection\.n_samples."):
        precheck(["--cfg", "job", "+selection.n_sampl=3"])


def _user_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, body: str) -> None:
    """``./lightly_conf/dataset/NAME.yaml`` in a fresh current directory."""
    (tmp_path / "lightly_conf" / "dataset").mkdir(parents=True)
    (tmp_path / "lightly_conf" / "dataset" / f"{name}.yaml").write_text(
        "# @package _global_\n" + body
    )
    monkeypatch.delenv("LIGHTLY_RUNNER_CONFIG_DIR", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "selection:\n  strategies:\n    - input: {type: EMBEDDINGS}\n"
            "      strategy: {type: DIVERSTY}\n",
            "lightly_conf/dataset/typo.yaml, line 5: invalid value 'DIVERSTY' for "
            "'selection.strategies[0].strategy.type' (did you mean 'DIVERSITY'?); allowed: ",
        ),
        (
            "selection:\n  n_samples: abc\n",
            "lightly_conf/dataset/typo.yaml, line 3: invalid value 'abc' for "
            "'selection.n_samples': expected an integer",
        ),
        (
            "worker:\n  remove_exact_duplicate: false\n",
            "lightly_conf/dataset/typo.yaml, line 3: unknown config key "
            "'worker.remove_exact_duplicate' (did you mean 'worker.remove_exact_duplicates'?)",
        ),
    ],
)
@pytest.mark.parametrize("flags", [[], ["--cfg", "job"]], ids=["run", "cfg-job"])
def test_mistakes_in_a_user_yaml_name_file_line_key_value_and_suggestion(
    mounts: Mounts,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    body: str,
    expected: str,
    flags: list[str],
) -> None:
    _user_dataset(tmp_path, monkeypatch, "typo", body)
    with pytest.raises(UserError) as info:
        precheck([*flags, *mounts.overrides(), "selection.n_samples=3", "+dataset=typo"])
    message = str(info.value)
    assert message.startswith(expected)
    assert "\n" not in message
    assert "full_key" not in message
    assert "reference_type" not in message
