"""Ultralytics metric dictionaries mapped onto the PRD's names."""

from __future__ import annotations

import math

import numpy as np

from trainyard_trainer.metrics_mapping import (
    FITNESS_KEY,
    EpochHistory,
    epoch_metrics,
    final_metrics,
    finite_or_none,
    non_finite_losses,
)

LOSSES = {"train/box_loss": 3.25, "train/cls_loss": np.float32(2.5), "train/dfl_loss": 1.0}
VALIDATION = {
    "metrics/precision(B)": 0.5,
    "metrics/recall(B)": np.float64(0.25),
    "metrics/mAP50(B)": 0.125,
    "metrics/mAP50-95(B)": 0.0625,
    "val/box_loss": 9.0,  # present during training; not part of the epoch event
}


def test_epoch_metrics_use_prd_names_and_plain_floats() -> None:
    metrics = epoch_metrics(LOSSES, VALIDATION)
    assert metrics == {
        "box_loss": 3.25,
        "cls_loss": 2.5,
        "dfl_loss": 1.0,
        "precision": 0.5,
        "recall": 0.25,
        "mAP50": 0.125,
        "mAP50-95": 0.0625,
    }
    assert all(type(v) is float for v in metrics.values())


def test_missing_and_non_finite_values_become_none() -> None:
    metrics = epoch_metrics({"train/box_loss": math.nan, "train/cls_loss": math.inf}, None)
    assert set(metrics.values()) == {None}
    assert finite_or_none("n/a") is None
    assert finite_or_none(True) is None
    assert finite_or_none(np.float32(1.5)) == 1.5


def test_non_finite_losses_name_the_diverged_losses() -> None:
    assert non_finite_losses(LOSSES) == []
    assert non_finite_losses(
        {"train/box_loss": math.nan, "train/cls_loss": 1.0, "train/dfl_loss": -math.inf}
    ) == [
        "box_loss",
        "dfl_loss",
    ]


def test_best_epoch_is_the_latest_with_the_best_fitness() -> None:
    history = EpochHistory()
    for epoch, fitness in [(1, 0.1), (2, 0.3), (3, 0.3), (4, math.nan), (5, 0.2)]:
        history.record(epoch, {"box_loss": float(epoch)}, fitness, seconds=2.0)
    # Ultralytics rewrites best.pt on ties, so epoch 3's weights are in it; NaN fitness never wins.
    assert history.best_epoch() == 3
    assert EpochHistory().best_epoch() is None


def test_eta_is_remaining_epochs_times_mean_measured_epoch_time() -> None:
    history = EpochHistory()
    assert history.eta_seconds(0, total_epochs=5) is None  # nothing measured yet
    history.record(1, {}, 0.0, seconds=2.0)
    history.record(2, {}, 0.0, seconds=4.0)
    history.record(3, {}, 0.0, seconds=None)  # an unmeasured epoch does not skew the mean
    assert history.eta_seconds(3, total_epochs=5) == 6.0
    assert history.eta_seconds(5, total_epochs=5) == 0.0


def test_best_so_far_reports_best_pt_epoch_and_its_maps() -> None:
    history = EpochHistory()
    assert history.best() is None
    history.record(1, {"mAP50": 0.5, "mAP50-95": 0.2}, 0.2, 1.0)
    history.record(2, {"mAP50": 0.6, "mAP50-95": 0.1}, 0.1, 1.0)
    assert history.best() == {"mAP50": 0.5, "mAP50-95": 0.2, "epoch": 1}


def test_seed_takes_a_resumed_checkpoints_results_rows() -> None:
    """Rows as Ultralytics keeps them in last.pt (`train_results`), fitness being mAP50-95 in 8.4."""
    history = EpochHistory()
    history.seed(
        [{"epoch": 1, **LOSSES, **VALIDATION}, {"epoch": 2, **LOSSES, **VALIDATION, FITNESS_KEY: 0.01}]
    )
    assert history.last_epoch() == 2
    assert history.metrics[1] == epoch_metrics(LOSSES, VALIDATION)
    assert history.best_epoch() == 1
    assert history.seconds == []  # durations of another process say nothing about this host


def test_final_metrics_pair_final_validation_with_best_epoch_losses() -> None:
    history = EpochHistory()
    history.record(1, {"box_loss": 4.0, "cls_loss": 3.0, "dfl_loss": 2.0}, 0.2, 1.0)
    history.record(2, {"box_loss": 3.0, "cls_loss": 2.0, "dfl_loss": 1.0}, 0.1, 1.0)
    assert final_metrics(None, EpochHistory(), total_epochs=3)["best_epoch"] == 3  # never null
    final = final_metrics(VALIDATION, history, total_epochs=2)
    assert final == {
        "precision": 0.5,
        "recall": 0.25,
        "mAP50": 0.125,
        "mAP50-95": 0.0625,
        "box_loss": 4.0,
        "cls_loss": 3.0,
        "dfl_loss": 2.0,
        "best_epoch": 1,
        "total_epochs": 2,
    }
