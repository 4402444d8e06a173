"""Maps Ultralytics' metric dictionaries onto the PRD's metric names; pure, no Ultralytics import."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LOSS_NAMES = ("box_loss", "cls_loss", "dfl_loss")

# DetMetrics.keys in Ultralytics 8.4; "(B)" is the box head, the only one a detection job has.
VALIDATION_KEYS = {
    "precision": "metrics/precision(B)",
    "recall": "metrics/recall(B)",
    "mAP50": "metrics/mAP50(B)",
    "mAP50-95": "metrics/mAP50-95(B)",
}

# DetMetrics.fitness in Ultralytics 8.4 weighs [P, R, mAP50, mAP50-95] as [0, 0, 0, 1]. Only needed to rank
# the epochs of a resumed run's checkpoint, whose results table has no fitness column.
FITNESS_KEY = "metrics/mAP50-95(B)"

EpochMetrics = dict[str, float | None]


def finite_or_none(value: Any) -> float | None:
    """A plain float, or None for anything missing, non-numeric or non-finite (JSON has no NaN)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # also unwraps numpy scalars and 0-d tensors
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def train_losses(labelled_losses: Mapping[str, Any]) -> EpochMetrics:
    """PRD loss names from `trainer.label_loss_items(trainer.tloss)` (keys like "train/box_loss")."""
    return {name: finite_or_none(labelled_losses.get(f"train/{name}")) for name in LOSS_NAMES}


def validation_metrics(metrics: Mapping[str, Any] | None) -> EpochMetrics:
    """PRD metric names from `trainer.metrics` (a validator's results dict); missing keys become None."""
    metrics = metrics or {}
    return {name: finite_or_none(metrics.get(key)) for name, key in VALIDATION_KEYS.items()}


def epoch_metrics(labelled_losses: Mapping[str, Any], metrics: Mapping[str, Any] | None) -> EpochMetrics:
    """The `metrics` object of one epoch event: training losses and validation metrics side by side."""
    return {**train_losses(labelled_losses), **validation_metrics(metrics)}


def non_finite_losses(labelled_losses: Mapping[str, Any]) -> list[str]:
    """Names of the losses that are NaN or infinite, the sign that training diverged."""
    diverged = []
    for key, value in labelled_losses.items():
        number = finite_or_none(value)
        if number is None and value is not None:
            diverged.append(key.split("/", 1)[-1])
    return diverged


@dataclass
class EpochHistory:
    """What the trainer saw at each epoch end, to name the best epoch and report its metrics."""

    metrics: dict[int, EpochMetrics] = field(default_factory=dict)
    fitness: dict[int, float | None] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)  # epochs trained by this process only

    def record(self, epoch: int, metrics: EpochMetrics, fitness: Any, seconds: float | None) -> None:
        self.metrics[epoch] = metrics
        self.fitness[epoch] = finite_or_none(fitness)
        if seconds is not None:
            self.seconds.append(seconds)

    def seed(self, rows: list[dict[str, Any]]) -> None:
        """Epochs a resumed run trained before, from its checkpoint's results table (no durations)."""
        for row in rows:
            epoch = int(row["epoch"])
            self.metrics[epoch] = epoch_metrics(row, row)
            self.fitness[epoch] = finite_or_none(row.get(FITNESS_KEY))

    def last_epoch(self) -> int | None:
        return max(self.metrics) if self.metrics else None

    def eta_seconds(self, epoch: int, total_epochs: int) -> float | None:
        """Remaining epochs times the mean epoch time measured so far; None before any was measured."""
        if not self.seconds:
            return None
        return max(total_epochs - epoch, 0) * sum(self.seconds) / len(self.seconds)

    def best_epoch(self) -> int | None:
        """The epoch whose weights are in best.pt.

        Ultralytics rewrites best.pt whenever an epoch's fitness equals the best so far, so on ties the
        latest such epoch wins; epochs without a finite fitness never do.
        """
        best: tuple[float, int] | None = None
        for epoch in sorted(self.fitness):
            fitness = self.fitness[epoch]
            if fitness is not None and (best is None or fitness >= best[0]):
                best = (fitness, epoch)
        return None if best is None else best[1]

    def best(self) -> dict[str, Any] | None:
        """The `best` object of an epoch event: best.pt's epoch and its mAPs."""
        epoch = self.best_epoch()
        if epoch is None:
            return None
        metrics = self.metrics[epoch]
        return {"mAP50": metrics["mAP50"], "mAP50-95": metrics["mAP50-95"], "epoch": epoch}


def final_metrics(
    final_validation: Mapping[str, Any] | None,
    history: EpochHistory,
    total_epochs: int,
    weights_epoch: int | None = None,
) -> dict[str, float | int | None]:
    """The `final_metrics` of the done event.

    Precision, recall and mAP come from Ultralytics' final validation of best.pt; that validation reports no
    training losses, so the losses are those of the best epoch, the one best.pt was saved at. Without a
    finite fitness anywhere, best.pt is the last epoch's. `weights_epoch` names the epoch the model file
    holds when it is not the best one (a finished checkpoint completed after its run was lost).
    """
    best = weights_epoch or history.best_epoch() or history.last_epoch() or total_epochs
    metrics = history.metrics.get(best, {})
    return {
        **validation_metrics(final_validation),
        **{name: metrics.get(name) for name in LOSS_NAMES},
        "best_epoch": best,
        "total_epochs": total_epochs,
    }
