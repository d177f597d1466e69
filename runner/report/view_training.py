"""The report's training section: the loss curve and the facts of the training run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.report import plots


def training_view(report: Mapping[str, Any]) -> dict[str, Any] | None:
    """Loss curve (per step) and a table of facts, or None when the run did not train."""
    training = report.get("training")
    if not training:
        return None
    losses = training.get("epoch_losses", [])
    facts = {
        "method": f"{training['method']} ({training['library']})",
        "device": f"{training['device']} ({training['precision']})",
        "epochs": f"{training['epochs']} of {training['max_epochs']}",
        "steps": training["steps"],
        "samples": (
            f"{training['samples']} object crops of task '{training['crops_of_task']}'"
            if training.get("crops_of_task")
            else training["samples"]
        ),
        "batch size": training["batch_size"],
        "time": f"{training['seconds']:.1f} s",
        "first / last epoch loss": (
            f"{losses[0]:.4f} / {losses[-1]:.4f}" if losses else "no training step"
        ),
        "kept weights": f"epoch {training['best_epoch']} (lowest mean loss)",
        "started from": training["started_from"],
        "checkpoint": training["checkpoint"],
        "temperature / lr / weight decay": (
            f"{training['temperature']} / {training['lr']} / {training['weight_decay']}"
        ),
    }
    if "trainable_layers" in training:  # reports before the fine-tuning keys lack it
        frozen_bn = ", batch-norm statistics frozen" if training["freeze_batch_norm"] else ""
        facts["trained backbone layers"] = f"last {training['trainable_layers']}{frozen_bn}"
    chart = plots.line_chart(training.get("step_losses", []), xlabel="step", ylabel="loss")
    return {"facts": facts, "chart": chart, "epoch_losses": losses}
