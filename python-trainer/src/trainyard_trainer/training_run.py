"""Runs one Ultralytics training: a fresh start or a resume, retried with less memory after an OOM.

Imports Ultralytics lazily: `offline.prepare_offline_environment` must have run first.
"""

from __future__ import annotations

import contextlib
import gc
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainyard_trainer.artifacts import find_artifacts
from trainyard_trainer.checkpoints import results_rows, rewrite_results_csv
from trainyard_trainer.epoch_reporter import EpochReporter
from trainyard_trainer.errors import FailureCode, TrainerFailure
from trainyard_trainer.event_stream import EventStream
from trainyard_trainer.failure_classification import is_out_of_memory
from trainyard_trainer.job_config import JobConfig
from trainyard_trainer.memory_policy import MemoryPlan, next_plan
from trainyard_trainer.metrics_mapping import final_metrics
from trainyard_trainer.model_resolution import ModelChoice
from trainyard_trainer.settings import TrainerSettings


@dataclass(frozen=True)
class Attempt:
    """One call of model.train: from which model, with which memory plan."""

    choice: ModelChoice
    plan: MemoryPlan

    @property
    def resume(self) -> bool:
        return self.choice.source == "checkpoint"


def load_model(choice: ModelChoice) -> Any:
    """Build the Ultralytics model; a file that does not load is a model failure, not an unknown one."""
    from ultralytics import YOLO  # type: ignore[attr-defined]  # re-exported without __all__ listing

    if choice.source != "architecture" and not Path(choice.model).is_file():
        raise TrainerFailure(
            FailureCode.MODEL_DOWNLOAD_FAILED,
            f"{choice.source} file {Path(choice.model).name} not found",
            f"expected {choice.model}",
        )
    try:
        return YOLO(choice.model)
    except Exception as e:
        raise TrainerFailure(
            FailureCode.MODEL_DOWNLOAD_FAILED,
            f"cannot load {choice.source} {Path(choice.model).name}",
            f"{type(e).__name__}: {e}",
        ) from e


def train_arguments(job: JobConfig, attempt: Attempt, dataset_yaml: Path, seed: int) -> dict[str, Any]:
    """The model.train arguments: the job's hyper-parameters mapped 1:1 onto Ultralytics' names.

    A resume takes every hyper-parameter from the checkpoint; only what Ultralytics lets a resume change
    (batch, imgsz, device, workers, save_dir, ...) is passed then.
    """
    common: dict[str, Any] = {
        "data": str(dataset_yaml),
        "batch": attempt.plan.batch_size,
        "imgsz": attempt.plan.image_size,
        "device": job.device,
        "workers": job.workers,
        "plots": True,
        "val": True,
    }
    if attempt.resume:
        return {**common, "resume": True, "save_dir": str(job.run_dir)}
    return {
        **common,
        "epochs": job.epochs,
        "lr0": job.learning_rate,
        # Ultralytics' default "auto" ignores lr0; SGD (whose usual lr0 is the PRD's default 0.01) honours it.
        "optimizer": job.optimizer or "SGD",
        # project/name = run_dir itself, so weights/, results.csv and the plots land directly in it.
        "project": str(job.run_dir.parent),
        "name": job.run_dir.name,
        "exist_ok": True,
        "seed": seed,
        **job.augmentation,
    }


def train(
    job: JobConfig,
    choice: ModelChoice,
    dataset_yaml: Path,
    reporter: EpochReporter,
    settings: TrainerSettings,
) -> Any:
    """Train until done; after an out-of-memory error retry with a smaller plan, resuming where possible."""
    start = ModelChoice("checkpoint", str(job.resume_from)) if job.resume_from else choice
    attempt = Attempt(start, MemoryPlan(job.batch_size, job.image_size))
    while True:
        model = load_model(attempt.choice)
        if attempt.resume:
            prepare_resume(model, job.run_dir / "results.csv", reporter)
        reporter.attach(model)
        try:
            reporter.budget.apply()
            model.train(**train_arguments(job, attempt, dataset_yaml, settings.seed))
            return model
        except Exception as e:
            if not is_out_of_memory(e) or reporter.phase == "validating":
                raise
            smaller = next_plan(attempt.plan, settings)
            if smaller is None:
                raise TrainerFailure(
                    FailureCode.INSUFFICIENT_MEMORY,
                    f"out of memory even with {attempt.plan.describe()}",
                    f"{type(e).__name__}: {str(e)[:500]}",
                ) from e
            resume_point = _resume_point(job, reporter)
            resumes = (
                f", resuming after epoch {reporter.checkpoint_epoch}" if reporter.checkpoint_epoch else ""
            )
            message = (
                f"out of memory with {attempt.plan.describe()} ({_first_line(e)}); "
                f"retrying with {smaller.describe()}{resumes}"
            )
            print(f"trainyard-trainer: {message}", file=sys.stderr, flush=True)
            reporter.events.log("warning", message)
            attempt = Attempt(resume_point or choice, smaller)
            reporter.phase = "preparing"
            reporter.cancellation.defer(False)  # back to preparing: SIGTERM interrupts at once again
            reporter.cancellation.checkpoint()
        del model
        _free_memory(job.device)


def complete(model: Any, reporter: EpochReporter, events: EventStream) -> None:
    """Announce the run's files, then `done` with best.pt and the final metrics."""
    trainer = model.trainer
    best = Path(trainer.best)
    if not best.is_file():
        raise TrainerFailure(
            FailureCode.UNKNOWN_ERROR, "training finished without best.pt", f"expected {best}"
        )
    for name, path in find_artifacts(Path(trainer.save_dir)).items():
        events.artifact(name, str(path))
    events.artifact("best.pt", str(best.resolve()), epoch=reporter.history.best_epoch())
    validation = reporter.final_validation if reporter.final_validation is not None else trainer.metrics
    events.done(str(best.resolve()), final_metrics(validation, reporter.history, int(trainer.epochs)))


def prepare_resume(model: Any, results_csv: Path, reporter: EpochReporter) -> None:
    """Make results.csv and the reporter's history hold exactly the epochs the checkpoint has trained."""
    ckpt = getattr(model, "ckpt", None) or {}
    trained = int(ckpt.get("epoch", -1)) + 1
    rows = [row for row in results_rows(ckpt.get("train_results")) if int(row.get("epoch", 0)) <= trained]
    rewrite_results_csv(results_csv, rows)
    reporter.history.seed(rows)


def _resume_point(job: JobConfig, reporter: EpochReporter) -> ModelChoice | None:
    if reporter.checkpoint_epoch is not None and reporter.checkpoint.is_file():
        return ModelChoice("checkpoint", str(reporter.checkpoint))
    if job.resume_from is not None:
        return ModelChoice("checkpoint", str(job.resume_from))
    return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


def _free_memory(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        with contextlib.suppress(Exception):
            import torch

            torch.cuda.empty_cache()
