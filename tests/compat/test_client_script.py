"""A Lightly client script in its documented order, with only the import changed.

schedule → monitor (``compute_worker_run_info_generator``) → list runs → download artifacts →
tags → export for labelling, and the read URLs answered by a real ``lightly-serve``. The dicts
are our small versions of Lightly's published ones: ``pretagging: False``, a full
``lightly_config`` with ``model.name: resnet-18`` (no local weights here: the substitution is
logged and reported), a DIVERSITY run and a SIMILARITY run on ``initial-tag``.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from runner.errors import ConfigError
from runner.serve.paths import Roots
from runner.serve.server import running_server
from tests.conftest import Mounts

# Lightly's "default lightly config" (docs: all configuration options), verbatim in shape.
LIGHTLY_CONFIG = {
    "loader": {"batch_size": 16, "shuffle": True, "num_workers": 0, "drop_last": True},
    "model": {"name": "resnet-18", "out_dim": 128, "num_ftrs": 32, "width": 1},
    "trainer": {"gpus": 1, "max_epochs": 100, "precision": 32},
    "criterion": {"temperature": 0.5},
    "optimizer": {"lr": 1, "weight_decay": 0.00001},
    "collate": {
        "input_size": 64,
        "cj_prob": 0.8,
        "cj_bright": 0.7,
        "cj_contrast": 0.7,
        "cj_sat": 0.7,
        "cj_hue": 0.2,
        "min_scale": 0.15,
        "random_gray_scale": 0.2,
        "gaussian_blur": 0.5,
        "kernel_size": 0.1,
        "vf_prob": 0,
        "hf_prob": 0.5,
        "rr_prob": 0,
    },
}
WORKER_CONFIG = {
    "enable_training": False,
    "pretagging": False,
    "pretagging_upload": False,
    "datasource": {
        "process_all": True,
        "bypass_verify": False,
        "input_expiration": {"min_days_to_expiration": 1, "handling_strategy": "SKIP"},
    },
    "corruptness_check": {"corruption_threshold": 0.1},
    "crops": {"enable_upload": False},
    "training": {"task_name": ""},
    "cache_size": 10_000_000,
    "shutdown_when_job_finished": True,
}
# Lightly's run states in the order a run passes through them.
ORDER = [
    "OPEN",
    "STARTED",
    "INITIALIZING",
    "LOADING_DATASET",
    "CHECKING_CORRUPTNESS",
    "EMBEDDING",
    "SAMPLING",
    "SAVING_RESULTS",
    "GENERATING_REPORT",
    "COMPLETED",
]


@pytest.mark.slow
def test_lightly_client_script_runs_end_to_end(
    mounts: Mounts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no local resnet-18 weights
    roots = Roots.resolve(mounts.input_mount, mounts.lightly_mount)
    with running_server(roots) as server:
        location = f"http://127.0.0.1:{server.server_address[1]}"
        # --- the script: Lightly's documented order, only the import and the mounts differ
        from runner.api import ApiWorkflowClient, ArtifactNotExist, DatasetType, DatasourcePurpose

        client = ApiWorkflowClient(
            token="MY_LIGHTLY_TOKEN",
            input_mount=str(mounts.input_mount),
            lightly_mount=str(mounts.lightly_mount),
            progress=False,
        )
        client.poll_interval_s = 0.01  # see every state of these short runs
        client.create_dataset(dataset_name="street-cams", dataset_type=DatasetType.IMAGES)
        for purpose in (DatasourcePurpose.INPUT, DatasourcePurpose.LIGHTLY):
            client.set_local_config(
                relative_path="cam1", web_server_location=location, purpose=purpose
            )
        first = client.schedule_compute_worker_run(
            worker_config=WORKER_CONFIG,
            lightly_config=LIGHTLY_CONFIG,
            selection_config={
                "n_samples": 4,
                "strategies": [
                    {
                        "input": {"type": "EMBEDDINGS"},
                        "strategy": {
                            "type": "DIVERSITY",
                            "stopping_condition_minimum_distance": -1,
                        },
                    }
                ],
            },
        )
        second = client.schedule_compute_worker_run(
            worker_config={"pretagging": False},
            lightly_config=LIGHTLY_CONFIG,
            selection_config={
                "n_samples": 2,
                "strategies": [
                    {
                        "input": {"type": "EMBEDDINGS", "tag_name": "initial-tag"},
                        "strategy": {"type": "SIMILARITY"},
                    }
                ],
            },
            priority="LOW",
        )
        # The second run waits in the queue while the first one runs, as with one Lightly Worker.
        assert client.get_compute_worker_run_info(second).state == "OPEN"
        waiting = client.get_scheduled_compute_worker_runs(state="OPEN")
        assert [r.id for r in waiting] == [second]
        assert {r.id for r in client.get_scheduled_compute_worker_runs()} == {first, second}

        states: dict[str, list[str]] = {}
        for scheduled_run_id in (first, second):
            for run_info in client.compute_worker_run_info_generator(scheduled_run_id):
                states.setdefault(scheduled_run_id, []).append(run_info.state)
            assert run_info.in_end_state() and run_info.ended_successfully(), run_info.message

        runs = client.get_compute_worker_runs(dataset_id="street-cams")
        run = client.get_compute_worker_run_from_scheduled_run(scheduled_run_id=first)
        out = tmp_path / "downloads"
        client.download_compute_worker_run_artifacts(run=run, output_dir=str(out / "artifacts"))
        client.download_compute_worker_run_report_pdf(run=run, output_path=str(out / "report.pdf"))
        client.download_compute_worker_run_report_json(
            run=run, output_path=str(out / "report.json")
        )
        client.download_compute_worker_run_log(run=run, output_path=str(out / "log.txt"))
        client.download_compute_worker_run_corruptness_check_information(
            run=run, output_path=str(out / "corruptness_check_information.json")
        )
        with pytest.raises(ArtifactNotExist, match="CHECKPOINT"):
            client.download_compute_worker_run_checkpoint(
                run=run, output_path=str(out / "checkpoint.ckpt")
            )
        client.download_embeddings_csv(output_path=str(out / "embeddings.csv"))
        tags = client.get_all_tags()
        filenames = client.export_filenames_by_tag_name("initial-tag")
        read_urls = client.export_filenames_and_read_urls_by_tag_name("initial-tag")
        tasks = client.export_label_studio_tasks_by_tag_name("initial-tag")
        # --- end of the script

        for observed in states.values():
            assert observed == sorted(observed, key=ORDER.index), observed
            assert {"EMBEDDING", "GENERATING_REPORT", "COMPLETED"} <= set(observed), observed
        assert [r.id for r in runs] == [first, second]
        assert all(r.state == "COMPLETED" and r.dataset_id == "street-cams" for r in runs)
        assert run.id == first and run.scheduled_id == first
        types = {a.type for a in run.artifacts}
        assert {"LOG", "REPORT_PDF", "REPORT_JSON", "CORRUPTNESS_CHECK_INFORMATION"} <= types
        run_dir = mounts.runs_dir / first
        assert (out / "report.pdf").read_bytes() == (run_dir / "report.pdf").read_bytes()
        assert (out / "artifacts" / "embeddings.csv").is_file()
        newest = mounts.runs_dir / second / "embeddings.csv"  # the dataset's newest run
        assert (out / "embeddings.csv").read_bytes() == newest.read_bytes()
        assert client.dataset_exists("street-cams") and not client.dataset_exists("other")
        assert (out / "artifacts" / "selected_filenames.txt").read_text() == (
            run_dir / "selected_filenames.txt"
        ).read_text()

        # resnet-18 has no local weights: the embeddings' model is named, in the log and report.
        report = json.loads((out / "report.json").read_text())
        model = report["model"]
        assert model["requested_name"] == "resnet-18" and model["name"] == "efficientnet-lite0"
        assert "efficientnet-lite0" in model["substitution"]
        assert model["substitution"] in (out / "log.txt").read_text()
        no_effect = report["config_no_effect"]
        for key in (
            "worker.datasource.input_expiration",
            "worker.crops.enable_upload",
            "worker.cache_size",
            "lightly.criterion",
            "lightly.optimizer",
        ):
            assert no_effect.get(key), key
        assert "accepted, no effect" in (out / "log.txt").read_text()

        # Tags: the first run's selection is initial-tag, the second run adds its own.
        selected = (run_dir / "selected_filenames.txt").read_text().splitlines()
        assert [(t.name, t.run_id, t.tot_size) for t in tags] == [
            ("initial-tag", first, 4),
            (second, second, 2),
        ]
        assert [t.name for t in client.get_compute_worker_run_tags(second)] == [second]
        assert filenames.splitlines() == selected
        second_selected = client.export_filenames_by_tag_name(second).splitlines()
        assert len(second_selected) == 2 and not set(second_selected) & set(selected)

        # Export: every read URL opens while lightly-serve runs; Label Studio gets the same URLs.
        assert [r["fileName"] for r in read_urls] == selected
        for record in read_urls:
            assert record["datasourceUrl"] == f"cam1/{record['fileName']}"
            with urllib.request.urlopen(record["readUrl"], timeout=10) as reply:
                assert reply.read() == (mounts.input_dir / record["fileName"]).read_bytes()
        assert tasks == [
            {"id": i, "data": {"image": r["readUrl"], "lightlyFileName": r["fileName"]}}
            for i, r in enumerate(read_urls)
        ]

    # Downloads never write into the input mount; unknown tags and runs are one line.
    with pytest.raises(ConfigError, match="input mount"):
        client.download_compute_worker_run_log(
            run=first, output_path=str(mounts.input_dir / "log.txt")
        )
    with pytest.raises(ConfigError, match="tag 'nope' not found"):
        client.export_filenames_by_tag_name("nope")
    with pytest.raises(ConfigError, match="no run 'nope'"):
        client.get_compute_worker_run("nope")
    assert client.get_compute_worker_run_info("nope").state == "CANCELED_OR_NOT_EXISTING"


def test_a_run_that_fails_ends_failed_with_its_one_line(mounts: Mounts) -> None:
    """A mistake only the run can find (a missing SIMILARITY tag) ends FAILED, not hanging."""
    from runner.api import ApiWorkflowClient

    client = ApiWorkflowClient(
        input_mount=str(mounts.input_mount), lightly_mount=str(mounts.lightly_mount), progress=False
    )
    client.set_local_config(relative_path="cam1")
    scheduled = client.schedule_compute_worker_run(
        lightly_config={"loader": {"num_workers": 0}, "collate": {"input_size": 64}},
        selection_config={
            "n_samples": 2,
            "strategies": [
                {
                    "input": {"type": "EMBEDDINGS", "tag_name": "initial-tag"},
                    "strategy": {"type": "SIMILARITY"},
                }
            ],
        },
    )
    infos = list(client.compute_worker_run_info_generator(scheduled))
    assert infos[-1].state == "FAILED" and not infos[-1].ended_successfully()
    assert "tag 'initial-tag' not found" in infos[-1].message
    assert client.get_compute_worker_run(scheduled).state == "FAILED"
    assert (mounts.runs_dir / f"{scheduled}-failed" / "log.txt").is_file()
    assert client.get_all_tags() == []


def test_an_open_run_can_be_canceled_and_still_ends(mounts: Mounts) -> None:
    """States before pickup: a canceled run reads as Lightly's CANCELED_OR_NOT_EXISTING."""
    from runner.api import ApiWorkflowClient
    from runner.client.states import ComputeWorkerRunInfo

    client = ApiWorkflowClient(
        input_mount=str(mounts.input_mount), lightly_mount=str(mounts.lightly_mount), progress=False
    )
    client.set_local_config(relative_path="cam1")
    fast = {"loader": {"num_workers": 0}, "collate": {"input_size": 64}}
    selection = {"n_samples": 2}
    running = client.schedule_compute_worker_run(lightly_config=fast, selection_config=selection)
    waiting = client.schedule_compute_worker_run(lightly_config=fast, selection_config=selection)
    client.cancel_scheduled_compute_worker_run(waiting)
    assert client.get_compute_worker_run_info(waiting).state == "CANCELED_OR_NOT_EXISTING"
    assert list(client.compute_worker_run_info_generator(waiting))[-1].in_end_state()
    assert list(client.compute_worker_run_info_generator(running))[-1].ended_successfully()
    assert not (mounts.runs_dir / waiting).exists()
    with pytest.raises(ValueError, match="still in progress"):
        ComputeWorkerRunInfo("EMBEDDING", "").ended_successfully()


def test_own_tags_are_written_listed_exported_and_deleted(mounts: Mounts) -> None:
    from runner.api import ApiWorkflowClient

    client = ApiWorkflowClient(
        input_mount=str(mounts.input_mount), lightly_mount=str(mounts.lightly_mount)
    )
    client.set_local_config(relative_path="cam1")
    tag = client.create_tag_from_filenames(["img_01.png", "sub/pic_02.jpg"], "query set")
    assert (tag.name, tag.run_id, tag.tot_size) == ("query set", None, 2)
    assert (mounts.lightly_dir / ".lightly/tags/query set.txt").is_file()
    assert [t.name for t in client.get_all_tags()] == ["query set"]
    assert client.export_filenames_by_tag_id(tag.id) == "img_01.png\nsub/pic_02.jpg"
    urls = client.export_filenames_and_read_urls_by_tag_name("query set")
    assert urls[1]["readUrl"] == "http://localhost:3456/cam1/sub/pic_02.jpg"
    with pytest.raises(ConfigError, match="exists already"):
        client.create_tag_from_filenames(["img_01.png"], "query set")
    with pytest.raises(ConfigError, match="not in the input datasource"):
        client.create_tag_from_filenames(["nope.png"], "other")
    with pytest.raises(ConfigError, match="not a tag name"):
        client.create_tag_from_filenames(["img_01.png"], "../escape")
    client.delete_tag_by_name("query set")
    assert client.get_all_tags() == []
