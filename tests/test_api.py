"""The seed's complete example, with the import changed and the mounts given, runs locally."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.errors import ConfigError
from tests.conftest import Mounts


def test_seed_example_runs_with_the_import_changed(
    mounts: Mounts,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LIGHTLY_RUNNER_INPUT_MOUNT", str(mounts.input_mount))
    monkeypatch.setenv("LIGHTLY_RUNNER_LIGHTLY_MOUNT", str(mounts.lightly_mount))
    # --- the seed's example; only the imports differ (and IMAGES: videos are not supported yet)
    from runner.api import ApiWorkflowClient, DatasetType, DatasourcePurpose

    client = ApiWorkflowClient(token="MY_LIGHTLY_TOKEN")
    client.create_dataset(dataset_name="dataset-name", dataset_type=DatasetType.IMAGES)
    client.set_local_config(relative_path="cam1", purpose=DatasourcePurpose.INPUT)
    client.set_local_config(relative_path="cam1", purpose=DatasourcePurpose.LIGHTLY)
    scheduled_run_id = client.schedule_compute_worker_run(
        selection_config={
            "n_samples": 4,
            "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
        },
    )
    # --- Lightly's documented monitoring loop, unchanged
    for run_info in client.compute_worker_run_info_generator(scheduled_run_id=scheduled_run_id):
        print(f"state={run_info.state} message={run_info.message}")
    assert run_info.ended_successfully()
    run_dir = mounts.runs_dir / scheduled_run_id
    assert client.get_run_dir(scheduled_run_id) == run_dir
    selected = client.export_filenames_by_run(scheduled_run_id)
    assert len(selected) == 4
    assert selected == (run_dir / "selected_filenames.txt").read_text().splitlines()
    client.download_compute_worker_run_artifacts(
        run=scheduled_run_id, output_dir=str(tmp_path / "artifacts")
    )
    assert (tmp_path / "artifacts" / "report.json").is_file()
    assert (tmp_path / "artifacts" / "report.pdf").is_file()
    # A complete log.txt, as the CLI writes it, and the run directory said on stderr.
    log = (run_dir / "log.txt").read_text()
    for line in ("stage inspect: started", "stage report: done in", "selected 4 of 12"):
        assert line in log
    stderr = capsys.readouterr().err
    assert f"[lightly-run] run directory: {run_dir}" in stderr
    assert "[lightly-run] embed: " in stderr


def test_lightly_dicts_with_a_typo_fail_with_a_hint(mounts: Mounts) -> None:
    from runner.api import ApiWorkflowClient, DatasourcePurpose

    client = ApiWorkflowClient(
        input_mount=str(mounts.input_mount), lightly_mount=str(mounts.lightly_mount)
    )
    client.set_local_config(relative_path="cam1", purpose=DatasourcePurpose.INPUT_OUTPUT)
    with pytest.raises(ConfigError, match=r"did you mean 'worker\.remove_exact_duplicates'"):
        client.schedule_compute_worker_run(
            worker_config={"remove_exact_duplicate": True},
            selection_config={"n_samples": 2, "strategies": []},
        )


def test_missing_mount_fails_at_once_naming_the_argument_or_variable(tmp_path: Path) -> None:
    """In a fresh interpreter: the error comes before torch is even imported."""
    script = (
        "import sys\n"
        "from runner.api import ApiWorkflowClient, MountError\n"
        "client = ApiWorkflowClient(token='x')\n"
        "client.set_local_config(relative_path='cam1')\n"
        "try:\n"
        "    client.schedule_compute_worker_run(selection_config={'n_samples': 2})\n"
        "except MountError as err:\n"
        "    print(err)\n"
        "    print('torch' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIGHTLY_RUNNER_")}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    message, torch_loaded = result.stdout.splitlines()
    assert message == (
        "no input mount: pass ApiWorkflowClient(input_mount='/abs/path') "
        "or set $LIGHTLY_RUNNER_INPUT_MOUNT"
    )
    assert torch_loaded == "False"


def test_a_bad_mount_names_what_the_caller_wrote(
    mounts: Mounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runner.api import ApiWorkflowClient, MountError

    client = ApiWorkflowClient(input_mount="relative/in", lightly_mount=str(mounts.lightly_mount))
    with pytest.raises(MountError, match=r"^the input_mount= argument must be an absolute path"):
        client.schedule_compute_worker_run(selection_config={"n_samples": 2})
    monkeypatch.setenv("LIGHTLY_RUNNER_LIGHTLY_MOUNT", str(mounts.lightly_mount / "missing"))
    client = ApiWorkflowClient(input_mount=str(mounts.input_mount))
    with pytest.raises(MountError, match=r"^\$LIGHTLY_RUNNER_LIGHTLY_MOUNT does not exist"):
        client.schedule_compute_worker_run(selection_config={"n_samples": 2})
