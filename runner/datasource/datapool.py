"""The datapool: what earlier runs in this Lightly datasource selected and processed.

Lightly's datapool lives in the cloud dataset; ours is one file,
``.lightly/datapool/state.json``, updated atomically by every successful run with
``worker.use_datapool: true`` (and ``worker.datasource.enable_datapool_update: true``). Runs
without the datapool neither read nor write it: each is a fresh dataset, as in Lightly.

- Samples selected by earlier datapool runs count as already selected (pre-selected): DIVERSITY
  only adds what is far from them.
- With ``worker.datasource.process_all: false`` only samples new since the last datapool run
  (a key not processed before, or whose content changed) are candidates; ``true`` re-scans
  everything. Lightly keeps a "processed until" timestamp; content hashes are exact instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.atomic import atomic_write_json
from runner.errors import DataError
from runner.write_paths import contained

log = logging.getLogger(__name__)

STATE_VERSION = 1


@dataclass
class DatapoolState:
    """Selected and processed samples by key, with the content hash they had."""

    dataset_type: str = ""
    selected: dict[str, dict[str, str]] = field(default_factory=dict)  # key -> {run_id, sha256}
    processed: dict[str, str] = field(default_factory=dict)  # key -> sha256
    runs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DatapoolPlan:
    """How this run uses the datapool.

    Attributes:
        preselected: keys selected earlier that are present now (same content); they are
            embedded and count as selected, but cannot be picked again.
        candidates: keys that may be selected in this run.
        missing: datapool keys no longer in the input (or changed), ignored.
        skipped_processed: keys not candidates because an earlier run processed them.
    """

    preselected: list[str]
    candidates: list[str]
    missing: list[str]
    skipped_processed: list[str]


def state_path(dot_lightly: Path) -> Path:
    return contained(dot_lightly, "datapool", "state.json")


def load_state(dot_lightly: Path) -> DatapoolState:
    """The datapool state, or an empty one; a corrupt file is an error, never silently reset."""
    path = state_path(dot_lightly)
    if not path.exists():
        return DatapoolState()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported version {raw.get('version')!r}")
        return DatapoolState(
            dataset_type=str(raw.get("dataset_type", "")),
            selected={str(k): dict(v) for k, v in raw["selected"].items()},
            processed={str(k): str(v) for k, v in raw["processed"].items()},
            runs=[str(r) for r in raw.get("runs", [])],
        )
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as err:
        raise DataError(
            f"datapool state {path} is unreadable ({err}); move it away to reset"
        ) from err


def plan(
    state: DatapoolState,
    *,
    keys: Sequence[str],
    hashes: Mapping[str, str],
    dataset_type: str,
    process_all: bool,
) -> DatapoolPlan:
    """Split the current keys into pre-selected, candidates and already processed."""
    if state.dataset_type and state.dataset_type != dataset_type:
        raise DataError(
            f"the datapool holds a {state.dataset_type} dataset; this run is {dataset_type} "
            "(the data type of a datapool must stay the same)"
        )
    present = set(keys)
    preselected = sorted(
        k for k, v in state.selected.items() if k in present and v.get("sha256") == hashes[k]
    )
    missing = sorted(
        k for k, v in state.selected.items() if k not in present or v.get("sha256") != hashes[k]
    )
    chosen = set(preselected)
    candidates, skipped = [], []
    for key in keys:
        if key in chosen:
            continue
        if not process_all and state.processed.get(key) == hashes[key]:
            skipped.append(key)
        else:
            candidates.append(key)
    return DatapoolPlan(preselected, candidates, missing, skipped)


def update(
    state: DatapoolState,
    *,
    dot_lightly: Path,
    run_id: str,
    dataset_type: str,
    selected: Sequence[str],
    processed: Sequence[str],
    hashes: Mapping[str, str],
) -> None:
    """Add this run's selection and processed samples and write the state atomically."""
    state.dataset_type = dataset_type
    for key in selected:
        state.selected[key] = {"run_id": run_id, "sha256": hashes[key]}
    for key in processed:
        state.processed[key] = hashes[key]
    state.runs.append(run_id)
    payload: dict[str, Any] = {
        "version": STATE_VERSION,
        "dataset_type": state.dataset_type,
        "runs": state.runs,
        "selected": dict(sorted(state.selected.items())),
        "processed": dict(sorted(state.processed.items())),
    }
    atomic_write_json(state_path(dot_lightly), payload)
    log.info(
        "datapool: %d selected, %d processed after run %s",
        len(state.selected),
        len(state.processed),
        run_id,
    )
