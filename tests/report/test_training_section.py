"""The report's training section and the note on embeddings read from a file."""

from __future__ import annotations

from pathlib import Path

from runner.report.render import render_report
from tests.report.test_render import _report_json, _write_run

TRAINING = {
    "method": "SimCLR",
    "library": "lightly 1.5.26",
    "samples": 12,
    "batch_size": 4,
    "epochs": 2,
    "max_epochs": 2,
    "steps": 6,
    "epoch_losses": [1.9, 1.25],
    "step_losses": [2.0, 1.9, 1.8, 1.4, 1.2, 1.15],
    "best_epoch": 2,
    "seconds": 12.5,
    "epoch_seconds": [6.0, 6.5],
    "device": "cpu",
    "precision": "32-true",
    "started_from": "/weights/lite0.pth",
    "checkpoint": "/l/.lightly/checkpoints/r.ckpt",
    "last_checkpoint": None,
    "temperature": 0.5,
    "lr": 1.0,
    "weight_decay": 1e-05,
    "out_dim": 128,
    "trainable_layers": "2 of 9",
    "freeze_batch_norm": True,
}


def test_a_training_run_shows_its_loss_curve_epochs_time_and_device(tmp_path: Path) -> None:
    report = _report_json()
    report["training"] = TRAINING
    html = render_report(_write_run(tmp_path / "run", report)).html.read_text()
    section = html.split('id="training"', 1)[1].split("</section>", 1)[0]
    assert "Mean loss per epoch: 1.9000, 1.2500." in section
    assert "2 of 2" in section and "12.5 s" in section and "cpu (32-true)" in section
    assert "<img" in section  # the loss curve
    assert "last 2 of 9, batch-norm statistics frozen" in section
    assert "fine-tuned on this run" in html


def test_a_run_without_training_has_no_training_section(tmp_path: Path) -> None:
    html = render_report(_write_run(tmp_path / "run", _report_json())).html.read_text()
    assert 'id="training"' not in html


def test_embeddings_from_a_file_are_named_in_the_summary(tmp_path: Path) -> None:
    report = _report_json()
    report["model"] = {
        "source": "file",
        "path": "/l/mine.csv",
        "embedding_dim": 5,
        "rows_used": 3,
        "rows_ignored": 1,
        "fingerprint": "ab" * 32,
        "normalize": True,
    }
    html = render_report(_write_run(tmp_path / "run", report)).html.read_text()
    assert "read from a file" in html and "/l/mine.csv" in html
