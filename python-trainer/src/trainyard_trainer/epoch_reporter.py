"""Ultralytics callbacks → Trainyard events, divergence checks and cancellation points.

Invariant: one `epoch` event per epoch trained by this process, then `phase: validating` once. Ultralytics
calls on_fit_epoch_end once more after its final validation of best.pt (BaseTrainer.final_eval, with
`trainer.epoch` bumped by one); that call is not an epoch: it carries the final metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainyard_trainer.cancellation import Cancellation
from trainyard_trainer.checkpoints import publish_checkpoint
from trainyard_trainer.errors import FailureCode, TrainerFailure
from trainyard_trainer.event_stream import EventStream, Phase
from trainyard_trainer.memory_policy import MemoryBudget
from trainyard_trainer.metrics_mapping import EpochHistory, EpochMetrics, epoch_metrics, non_finite_losses
from trainyard_trainer.resources import ResourceSampler


class EpochReporter:
    """What one trainer process has seen so far, and the callbacks that keep it up to date."""

    def __init__(
        self,
        events: EventStream,
        cancellation: Cancellation,
        checkpoint: Path,
        budget: MemoryBudget,
        sampler: ResourceSampler | None = None,
    ) -> None:
        self.events = events
        self.cancellation = cancellation
        self.budget = budget
        self.checkpoint = checkpoint  # where the atomic copy of last.pt goes
        self.sampler = sampler or ResourceSampler()
        self.history = EpochHistory()
        self.phase: Phase = "preparing"
        self.current_epoch: int | None = None  # 1-based epoch being trained; None before training starts
        self.checkpoint_epoch: int | None = None  # the epoch `checkpoint` holds, once one was published
        self.final_validation: dict[str, Any] | None = None

    def attach(self, model: Any) -> None:
        """Register the callbacks on a YOLO model (the validator shares the trainer's callbacks)."""
        for event, callback in (
            ("on_train_start", self.on_train_start),
            ("on_train_epoch_start", self.on_train_epoch_start),
            ("on_train_batch_end", self.on_batch_end),
            ("on_val_batch_end", self.on_batch_end),
            ("on_train_epoch_end", self.on_train_epoch_end),
            ("on_model_save", self.on_model_save),
            ("on_fit_epoch_end", self.on_fit_epoch_end),
            ("on_train_end", self.on_train_end),
        ):
            model.add_callback(event, callback)

    def last_metrics(self) -> EpochMetrics | None:
        """Metrics of the last epoch that finished (in this process or before a resume)."""
        last = self.history.last_epoch()
        return None if last is None else self.history.metrics[last]

    def on_train_start(self, trainer: Any) -> None:
        self.phase = "training"
        self.cancellation.defer(True)  # from here on SIGTERM waits for the next batch boundary
        self.cancellation.checkpoint()
        self.events.training(
            start_epoch=trainer.start_epoch + 1,
            total_epochs=trainer.epochs,
            resumed=bool(trainer.resume),
            batch_size=int(trainer.batch_size),
            image_size=int(trainer.args.imgsz),
            device=str(trainer.device),
        )

    def on_train_epoch_start(self, trainer: Any) -> None:
        self.current_epoch = trainer.epoch + 1
        self.cancellation.checkpoint()

    def on_batch_end(self, _trainer_or_validator: Any) -> None:
        self.cancellation.checkpoint()
        self.budget.check()

    def on_train_epoch_end(self, trainer: Any) -> None:
        # Checked before validation: Ultralytics would otherwise reload last.pt and silently retry the epoch.
        losses = _losses(trainer)
        diverged = non_finite_losses(losses)
        if diverged:
            raise TrainerFailure(
                FailureCode.TRAINING_DIVERGED,
                f"training diverged: non-finite {', '.join(diverged)} at epoch {trainer.epoch + 1}",
                f"epoch losses: {losses}; try a lower learning_rate or another optimizer",
                trainer.epoch + 1,
            )

    def on_model_save(self, trainer: Any) -> None:
        last = Path(trainer.last)
        if last.is_file():
            publish_checkpoint(last, self.checkpoint)
            self.checkpoint_epoch = trainer.epoch + 1
            self.events.artifact("last.pt", str(self.checkpoint.resolve()), epoch=self.checkpoint_epoch)

    def on_fit_epoch_end(self, trainer: Any) -> None:
        if self.phase == "validating":
            self.final_validation = dict(trainer.metrics or {})
            return
        epoch = trainer.epoch + 1
        metrics = epoch_metrics(_losses(trainer), trainer.metrics)
        seconds = _seconds(trainer.epoch_time)
        self.history.record(epoch, metrics, trainer.fitness, seconds)
        eta = self.history.eta_seconds(epoch, trainer.epochs)
        self.events.epoch(
            epoch=epoch,
            total_epochs=trainer.epochs,
            metrics=metrics,
            best=self.history.best(),
            epoch_seconds=None if seconds is None else round(seconds, 3),
            eta_seconds=None if eta is None else round(eta, 1),
            resources=self.sampler.sample(trainer.device),
        )
        # trainer.stop is set before this callback on the last epoch, and on an early stop.
        if trainer.stop or epoch >= trainer.epochs:
            self.phase = "validating"
            self.events.validating()

    def on_train_end(self, _trainer: Any) -> None:
        self.cancellation.defer(False)
        self.cancellation.checkpoint()


def _losses(trainer: Any) -> dict[str, Any]:
    return dict(trainer.label_loss_items(trainer.tloss)) if trainer.tloss is not None else {}


def _seconds(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
