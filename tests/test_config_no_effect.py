"""Keys accepted for Lightly compatibility but without effect are listed, never silent."""

from __future__ import annotations

from runner.config import DatasetType, RunConfig
from runner.validate import NO_EFFECT, no_effect_keys


def test_the_default_config_lists_nothing() -> None:
    assert no_effect_keys(RunConfig()) == {}


def test_each_key_set_away_from_its_default_is_listed_with_a_reason() -> None:
    cfg = RunConfig()
    cfg.selection.lightly_path_regex = r"(?P<camera>cam\d+)/"
    cfg.worker.num_threads = 8
    cfg.worker.output_image_format = "jpg"
    cfg.lightly.collate.cj_prob = 0.5
    cfg.lightly.trainer.max_epochs = 3
    cfg.lightly.finetune.trainable_layers = -1
    listed = no_effect_keys(cfg)
    assert set(listed) == {
        "selection.lightly_path_regex",
        "worker.num_threads",
        "worker.output_image_format",
        "lightly.collate.cj_prob",
        "lightly.trainer.max_epochs",
        "lightly.finetune",
    }
    assert all(reason for reason in listed.values())
    assert listed["selection.lightly_path_regex"] == NO_EFFECT["selection.lightly_path_regex"]


def test_corruption_threshold_counts_for_videos_only() -> None:
    cfg = RunConfig()
    cfg.worker.corruptness_check.corruption_threshold = 0.5
    assert "worker.corruptness_check.corruption_threshold" in no_effect_keys(cfg)
    cfg.dataset.type = DatasetType.VIDEOS
    assert no_effect_keys(cfg) == {}
