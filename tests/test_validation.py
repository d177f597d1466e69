"""The seed's rules on mounts and datasources: each violation is one line before any work."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.cli import precheck
from runner.config import DatasourceConfig, LocalDatasourceConfig, MountsConfig
from runner.datasource.lightly_dir import resolve_datasources
from runner.errors import ConfigError, UserError
from tests.conftest import Mounts


def check(mounts: Mounts, *extra: str) -> str:
    with pytest.raises(UserError) as info:
        precheck([*mounts.overrides(), "selection.n_samples=3", *extra])
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_valid_config_passes(mounts: Mounts) -> None:
    precheck([*mounts.overrides(), "selection.n_samples=3"])


def test_mounts_must_be_absolute(mounts: Mounts) -> None:
    assert "must be an absolute path" in check(mounts, "mounts.input_mount=relative/dir")


def test_mounts_must_exist(mounts: Mounts, tmp_path: Path) -> None:
    message = check(mounts, f"mounts.lightly_mount={tmp_path / 'nope'}")
    assert "mounts.lightly_mount does not exist" in message


@pytest.mark.parametrize("value", ["/abs/cam1", "../cam1", "cam1/../x", "./cam1", "s3://b/x"])
def test_relative_paths_are_relative_and_plain(mounts: Mounts, value: str) -> None:
    message = check(mounts, f"datasource.input.relative_path='{value}'")
    assert "datasource.input.relative_path" in message


def test_input_datasource_must_exist(mounts: Mounts) -> None:
    assert "input datasource does not exist" in check(mounts, "datasource.input.relative_path=cam2")


def test_lightly_datasource_must_exist_and_says_how_to_create_it(mounts: Mounts) -> None:
    message = check(mounts, "datasource.lightly.relative_path=cam2")
    assert "Lightly datasource does not exist" in message
    assert "mkdir -p" in message


def test_lightly_datasource_inside_the_input_mount_is_refused(mounts: Mounts) -> None:
    (mounts.input_mount / "lightly").mkdir()
    message = check(
        mounts,
        f"mounts.lightly_mount={mounts.input_mount}",
        "datasource.lightly.relative_path=lightly",
    )
    assert "inside the input mount" in message


def test_unwritable_lightly_datasource_is_refused(
    mounts: Mounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests may run as root, where chmod does not stop writes: fake the permission check.
    real_access = os.access

    def access(path: os.PathLike[str] | str, mode: int) -> bool:
        if Path(path) == mounts.lightly_dir and mode & os.W_OK:
            return False
        return real_access(path, mode)

    monkeypatch.setattr(os, "access", access)
    with pytest.raises(ConfigError, match="not writable"):
        resolve_datasources(
            MountsConfig(str(mounts.input_mount), str(mounts.lightly_mount)),
            DatasourceConfig(
                input=LocalDatasourceConfig("cam1"), lightly=LocalDatasourceConfig("cam1")
            ),
        )


def test_web_server_location_must_be_http(mounts: Mounts) -> None:
    assert "web_server_location" in check(mounts, "datasource.web_server_location=localhost")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/etc/relevant.txt", "must be relative"),
        ("relevant.txt", "inside the Lightly datasource's .lightly/"),
        ("../relevant.txt", "must not contain"),
        (".lightly/missing.txt", "not found"),
    ],
)
def test_relevant_filenames_file_rules(mounts: Mounts, value: str, expected: str) -> None:
    assert expected in check(mounts, f"worker.relevant_filenames_file='{value}'")


def test_n_samples_and_proportion_are_exclusive(mounts: Mounts) -> None:
    message = check(mounts, "selection.proportion_samples=0.5")
    assert "n_samples" in message and "proportion_samples" in message


def test_sequences_need_a_multiple_of_the_length(mounts: Mounts) -> None:
    message = check(mounts, "dataset.type=VIDEOS", "worker.selected_sequence_length=4")
    assert "multiple" in message and "4" in message


def test_sequences_need_videos(mounts: Mounts) -> None:
    message = check(mounts, "selection.n_samples=4", "worker.selected_sequence_length=2")
    assert "dataset.type=VIDEOS" in message


def test_checkpoint_keys_exclude_each_other_and_name_the_run(mounts: Mounts) -> None:
    both = check(mounts, "worker.checkpoint=a.ckpt", "worker.checkpoint_run_id=r1")
    assert "cannot both be set" in both
    missing = check(mounts, "worker.checkpoint_run_id=20260101-000000-abcdef")
    assert "no checkpoint of that run" in missing and "enable_training" in missing
    assert "not a run id" in check(mounts, "worker.checkpoint_run_id=../x")


def test_user_embeddings_exclude_the_model_options(mounts: Mounts) -> None:
    (mounts.lightly_dir / "emb.csv").write_text("filenames,embedding_0,labels\n")
    training = check(mounts, "worker.embeddings=emb.csv", "worker.enable_training=true")
    assert "worker.embeddings replaces the model" in training
    assert "no such file" in check(mounts, "worker.embeddings=nope.csv")


def test_num_ftrs_and_width_act_on_resnets_only_and_need_weights(mounts: Mounts) -> None:
    lite = check(mounts, "lightly.model.num_ftrs=64")
    assert "shapes Lightly's ResNets only, not efficientnet-lite0" in lite
    wide = ["lightly.model.name=resnet-18", "lightly.model.width=2"]
    untrained = check(mounts, *wide)
    assert "has no pretrained weights" in untrained and "worker.enable_training" in untrained
    for fine in ("lightly.model.pretrained=false", "worker.enable_training=true"):
        precheck([*mounts.overrides(), "selection.n_samples=3", *wide, fine])


def test_crop_training_needs_a_selection_of_those_crops(mounts: Mounts) -> None:
    message = check(mounts, "worker.training.task_name=det", "worker.enable_training=true")
    assert "the selection is of whole images" in message and "task: det" in message


def test_training_a_resnet_without_local_weights_starts_from_random_weights(
    mounts: Mounts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "no-hub"))
    base = [*mounts.overrides(), "selection.n_samples=3", "lightly.model.name=resnet-18"]
    precheck([*base, "worker.enable_training=true"])


def test_unknown_model_name_lists_the_models(mounts: Mounts) -> None:
    message = check(mounts, "lightly.model.name=resnet-19")
    assert "resnet-18" in message and "efficientnet-lite0" in message


def test_missing_checkpoint_file(mounts: Mounts) -> None:
    assert "worker.checkpoint not found" in check(mounts, "worker.checkpoint=model.ckpt")
