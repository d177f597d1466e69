"""Datapool bookkeeping: pre-selected samples, only-new candidates, atomic state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.datasource import datapool
from runner.errors import DataError


def test_fresh_datapool_makes_everything_a_candidate(tmp_path: Path) -> None:
    state = datapool.load_state(tmp_path)
    p = datapool.plan(
        state,
        keys=["a", "b"],
        hashes={"a": "1", "b": "2"},
        dataset_type="IMAGES",
        process_all=False,
    )
    assert p.preselected == [] and p.candidates == ["a", "b"] and p.missing == []


def test_second_run_preselects_and_skips_processed(tmp_path: Path) -> None:
    hashes = {"a": "1", "b": "2", "c": "3"}
    state = datapool.load_state(tmp_path)
    datapool.update(
        state,
        dot_lightly=tmp_path,
        run_id="r1",
        dataset_type="IMAGES",
        selected=["a"],
        processed=["a", "b"],
        hashes=hashes,
    )
    reloaded = datapool.load_state(tmp_path)
    assert reloaded.runs == ["r1"]
    new_hashes = {**hashes, "b": "2", "c": "3", "d": "4"}
    only_new = datapool.plan(
        reloaded,
        keys=["a", "b", "c", "d"],
        hashes=new_hashes,
        dataset_type="IMAGES",
        process_all=False,
    )
    assert only_new.preselected == ["a"]
    assert only_new.candidates == ["c", "d"]
    assert only_new.skipped_processed == ["b"]
    everything = datapool.plan(
        reloaded,
        keys=["a", "b", "c", "d"],
        hashes=new_hashes,
        dataset_type="IMAGES",
        process_all=True,
    )
    assert everything.candidates == ["b", "c", "d"]


def test_changed_or_removed_samples_leave_the_preselection(tmp_path: Path) -> None:
    state = datapool.load_state(tmp_path)
    datapool.update(
        state,
        dot_lightly=tmp_path,
        run_id="r1",
        dataset_type="IMAGES",
        selected=["a", "b"],
        processed=["a", "b"],
        hashes={"a": "1", "b": "2"},
    )
    p = datapool.plan(
        datapool.load_state(tmp_path),
        keys=["a"],
        hashes={"a": "changed"},
        dataset_type="IMAGES",
        process_all=False,
    )
    assert p.preselected == [] and p.missing == ["a", "b"] and p.candidates == ["a"]


def test_data_type_must_stay_the_same(tmp_path: Path) -> None:
    state = datapool.load_state(tmp_path)
    datapool.update(
        state,
        dot_lightly=tmp_path,
        run_id="r1",
        dataset_type="VIDEOS",
        selected=[],
        processed=[],
        hashes={},
    )
    with pytest.raises(DataError, match="must stay the same"):
        datapool.plan(
            datapool.load_state(tmp_path),
            keys=[],
            hashes={},
            dataset_type="IMAGES",
            process_all=True,
        )


def test_corrupt_state_is_an_error_not_a_silent_reset(tmp_path: Path) -> None:
    path = datapool.state_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(DataError, match="move it away"):
        datapool.load_state(tmp_path)
    path.write_text(json.dumps({"version": 99}))
    with pytest.raises(DataError, match="unsupported version"):
        datapool.load_state(tmp_path)
