"""Runs one Ultralytics training and turns its callbacks into Trainyard events.

Imports Ultralytics lazily: `offline.prepare_offline_environment` must have run first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainyard_trainer.artifacts import find_artifacts
from trainyard_trainer.errors import FailureCode, TrainerFailure
from trainyard_trainer.event_stream import EventStream
from trainyard_trainer.job_config import JobConfig
from trainyard_trainer.metrics_mapping import (
    LOSS_NAMES,
    EpochHistory,
    epoch_metrics,
    final_metrics,
    non_finite_losses,
)
from trainyard_trainer.model_resolution import ModelChoice
from trainyard_trainer.resources import sample_resources

SEED = 0  # fixed so that reruns of a job on the same host train alike


class EpochReporter:
    """Ultralytics callbacks that emit one event per epoch, then `validating` once.

    Invariant: no epoch event after `validating`. Ultralytics calls on_fit_epoch_end once more after the final
    validation of best.pt (BaseTrainer.final_eval); that call is not an epoch and is ignored.
    """

    def __init__(self, events: EventStream, total_epochs: int) -> None:
        self.events = events
        self.total_epochs = total_epochs
        self.history = EpochHistory()
        self.current_epoch: int | None = None  # 1-based, for failures; None until the first epoch starts
        self.validating = False

    def attach(self, model: Any) -> None:
        model.add_callback("on_train_epoch_start", self.on_train_epoch_start)
        model.add_callback("on_train_epoch_end", self.on_train_epoch_end)
        model.add_callback("on_fit_epoch_end", self.on_fit_epoch_end)

    def on_train_epoch_start(self, trainer: Any) -> None:
        self.current_epoch = trainer.epoch + 1

    def on_train_epoch_end(self, trainer: Any) -> None:
        # Checked before validation: Ultralytics would otherwise reload last.pt and silently retry the epoch.
        losses = trainer.label_loss_items(trainer.tloss) if trainer.tloss is not None else {}
        diverged = non_finite_losses(losses)
        if diverged:
            raise TrainerFailure(
                FailureCode.TRAINING_DIVERGED,
                f"training diverged: non-finite {', '.join(diverged)} at epoch {trainer.epoch + 1}",
                f"epoch losses: {losses}; try a lower learning_rate or another optimizer",
                trainer.epoch + 1,
            )

    def on_fit_epoch_end(self, trainer: Any) -> None:
        if self.validating:
            return
        epoch = trainer.epoch + 1
        losses = trainer.label_loss_items(trainer.tloss) if trainer.tloss is not None else {}
        metrics = epoch_metrics(losses, trainer.metrics)
        seconds = float(trainer.epoch_time or 0.0)
        self.history.record(epoch, {k: metrics[k] for k in LOSS_NAMES}, trainer.fitness, seconds)
        self.events.epoch(
            epoch=epoch,
            total_epochs=self.total_epochs,
            metrics=metrics,
            epoch_seconds=round(seconds, 3),
            eta_seconds=round(self.history.eta_seconds(epoch, self.total_epochs), 1),
            resources=sample_resources(trainer.device),
        )
        # trainer.stop is set before this callback on the last epoch, and on an early stop.
        if trainer.stop or epoch >= self.total_epochs:
            self.validating = True
            self.events.validating()


def load_model(choice: ModelChoice) -> Any:
    """Build the Ultralytics model; a file that does not load is a model failure, not an unknown one."""
    from ultralytics import YOLO

    try:
        return YOLO(choice.model)
    except Exception as e:
        raise TrainerFailure(
            FailureCode.MODEL_DOWNLOAD_FAILED,
            f"cannot load base model {Path(choice.model).name}",
            f"{type(e).__name__}: {e}",
        ) from e


def train(job: JobConfig, model: Any, dataset_yaml: Path, reporter: EpochReporter) -> None:
    """Train `model` per `job`, writing everything into job.run_dir; events flow through `reporter`."""
    reporter.attach(model)
    model.train(
        data=str(dataset_yaml),
        epochs=job.epochs,
        batch=job.batch_size,
        imgsz=job.image_size,
        lr0=job.learning_rate,
        # Ultralytics' default "auto" ignores lr0; SGD (whose usual lr0 is the PRD's default 0.01) honours it.
        optimizer=job.optimizer or "SGD",
        device=job.device,
        workers=job.workers,
        # project/name = run_dir itself, so weights/, results.csv and the plots land directly in it.
        project=str(job.run_dir.parent),
        name=job.run_dir.name,
        exist_ok=True,
        plots=True,
        val=True,
        seed=SEED,
        **job.augmentation,
    )


def completion(
    model: Any, reporter: EpochReporter, total_epochs: int
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """best.pt, final metrics and artifacts of a finished training, for the completed event."""
    trainer = model.trainer
    best = Path(trainer.best)
    if not best.is_file():
        raise TrainerFailure(
            FailureCode.UNKNOWN_ERROR, "training finished without best.pt", f"expected {best}"
        )
    metrics = final_metrics(trainer.metrics, reporter.history, total_epochs)
    return str(best.resolve()), metrics, find_artifacts(Path(trainer.save_dir))
