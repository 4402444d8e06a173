"""A resume from a checkpoint whose training already finished: validate it and complete, training nothing.

An agent lost after the last epoch's checkpoint was uploaded, but before `completed` was published (during
the final validation or the artifact upload), leaves a checkpoint that Ultralytics refuses to resume
("training to N epochs is finished, nothing to resume"). Its epochs are trained: what is missing is the
final validation and the artifacts, so the re-run does those from the checkpoint. The lost run's best.pt
was never uploaded, so the model file is the last epoch's weights, and the final metrics name the last
epoch as the one it holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainyard_trainer.artifacts import find_artifacts
from trainyard_trainer.epoch_reporter import EpochReporter
from trainyard_trainer.event_stream import EventStream
from trainyard_trainer.job_config import JobConfig
from trainyard_trainer.metrics_mapping import final_metrics
from trainyard_trainer.model_resolution import ModelChoice
from trainyard_trainer.training_run import load_model, prepare_resume


def trained_epochs(model: Any) -> int:
    """How many epochs a loaded checkpoint has trained (Ultralytics stores the 0-based last epoch)."""
    ckpt = getattr(model, "ckpt", None) or {}
    return int(ckpt.get("epoch", -1)) + 1


def finished_checkpoint(job: JobConfig) -> Any | None:
    """The loaded resume checkpoint when it already holds every epoch of the job, else None."""
    if job.resume_from is None:
        return None
    model = load_model(ModelChoice("checkpoint", str(job.resume_from)))
    return model if trained_epochs(model) >= job.epochs else None


def complete_finished(
    job: JobConfig, checkpoint: Any, dataset_yaml: Path, reporter: EpochReporter, events: EventStream
) -> None:
    """Final validation of the finished checkpoint, its artifacts, then `done`: the rest of a normal run."""
    from ultralytics.utils.torch_utils import strip_optimizer

    assert job.resume_from is not None
    prepare_resume(checkpoint, job.run_dir / "results.csv", reporter)
    reporter.phase = "validating"
    events.validating()
    best = job.run_dir / "weights" / "best.pt"
    best.parent.mkdir(parents=True, exist_ok=True)
    strip_optimizer(str(job.resume_from), str(best))
    model = load_model(ModelChoice("checkpoint", str(best)))
    reporter.attach(model)  # cancellation points between validation batches
    validation = model.val(
        data=str(dataset_yaml),
        imgsz=job.image_size,
        batch=job.batch_size,
        device=job.device,
        workers=job.workers,
        plots=True,
        project=str(job.run_dir.parent),
        name=job.run_dir.name,
        exist_ok=True,
    )
    last = reporter.history.last_epoch() or job.epochs
    for name, path in find_artifacts(job.run_dir).items():
        events.artifact(name, str(path))
    events.artifact("best.pt", str(best.resolve()), epoch=last)
    metrics = final_metrics(dict(validation.results_dict), reporter.history, job.epochs, weights_epoch=last)
    events.done(str(best.resolve()), metrics)
