"""Entry point: `python -m trainyard_trainer --job /abs/job.json --events-fd 3`.

Wires the job file, the offline environment, model resolution and the training run together, and turns every
ending into exactly one terminal event: `done`, or `error` with a PRD code. Exit codes: settings.ExitCode.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from trainyard_trainer.agent_bond import die_with_agent
from trainyard_trainer.cancellation import Cancellation
from trainyard_trainer.dataset_yaml import prepare_dataset_yaml
from trainyard_trainer.epoch_reporter import EpochReporter
from trainyard_trainer.errors import FailureCode, TrainingCancelled
from trainyard_trainer.event_stream import EventStream
from trainyard_trainer.failure_classification import classify_failure
from trainyard_trainer.finished_resume import complete_finished, finished_checkpoint
from trainyard_trainer.job_config import JobConfig, JobConfigError, load_job_config
from trainyard_trainer.memory_policy import MemoryBudget
from trainyard_trainer.model_resolution import ModelChoice, installed_architectures, resolve_model
from trainyard_trainer.offline import lock_down_ultralytics, prepare_offline_environment
from trainyard_trainer.resources import process_ram_bytes
from trainyard_trainer.settings import ExitCode, TrainerSettings
from trainyard_trainer.training_run import complete, train


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    settings = TrainerSettings.from_env()
    die_with_agent(settings.agent_pid)  # first: from here on the agent's death is the trainer's
    cancellation = Cancellation()
    cancellation.install()
    try:
        events = EventStream.from_fd(args.events_fd)
    except OSError as e:
        print(
            f"trainyard-trainer: --events-fd {args.events_fd} is not an open descriptor: {e}", file=sys.stderr
        )
        return ExitCode.USAGE
    reporter: EpochReporter | None = None
    try:
        job = load_job_config(args.job)
        checkpoint = job.run_dir / settings.checkpoint_dir_name / "last.pt"
        budget = MemoryBudget(job.max_memory_gb, job.device, process_ram_bytes)
        reporter = EpochReporter(events, cancellation, checkpoint, budget)
        run_job(job, settings, events, reporter)
        cancellation.defer(True)  # ended: a late SIGTERM must not interrupt the exit
    except TrainingCancelled:
        cancellation.defer(True)  # one cancellation is enough: a second SIGTERM must not cut the report short
        print("trainyard-trainer: SIGTERM, training cancelled", file=sys.stderr, flush=True)
        _report_cancelled(events, reporter)
        return ExitCode.CANCELLED
    except JobConfigError as e:
        cancellation.defer(True)
        events.error(
            FailureCode.UNKNOWN_ERROR,
            "invalid job file",
            str(e),
            phase="preparing",
            epoch=None,
            partial_metrics=None,
        )
        return ExitCode.FAILED
    except Exception as e:  # noqa: BLE001 -- the one boundary where every error becomes an `error` event
        cancellation.defer(True)
        assert reporter is not None  # only JobConfigError can come before the reporter exists
        failure = classify_failure(e, reporter.current_epoch)
        # the event first: it goes down a pipe, the trace to a log that a full disk may refuse
        events.error(
            failure.code,
            failure.message,
            failure.details,
            phase=reporter.phase,
            epoch=failure.epoch,
            partial_metrics=reporter.last_metrics(),
        )
        _log_traceback()
        return ExitCode.FAILED
    return ExitCode.DONE


def run_job(job: JobConfig, settings: TrainerSettings, events: EventStream, reporter: EpochReporter) -> None:
    """Everything from an empty run_dir to the done event."""
    job.run_dir.mkdir(parents=True, exist_ok=True)
    os.chdir(job.run_dir)  # anything Ultralytics writes to a relative path stays inside the job
    config_dir = job.run_dir / settings.config_dir_name
    prepare_offline_environment(config_dir)

    weights_dirs = [d for d in (job.weights_dir, settings.extra_weights_dir) if d is not None]
    if job.resume_from is not None:
        choice = ModelChoice("checkpoint", str(job.resume_from))
    else:
        choice = resolve_model(job.base_model, weights_dirs, installed_architectures())
    events.preparing(choice.source, choice.model)
    dataset_yaml = prepare_dataset_yaml(job.data_yaml, job.run_dir / "dataset.yaml")

    lock_down_ultralytics(weights_dirs[0] if weights_dirs else config_dir / "weights", job.run_dir)
    finished = finished_checkpoint(job)
    if finished is not None:
        complete_finished(job, finished, dataset_yaml, reporter, events)
        return
    model = train(job, choice, dataset_yaml, reporter, settings)
    complete(model, reporter, events)


def _report_cancelled(events: EventStream, reporter: EpochReporter | None) -> None:
    if events.finished:
        return  # SIGTERM after the terminal event: the job has already ended
    if reporter is None:
        events.error(
            FailureCode.CANCELLED,
            "training cancelled",
            "SIGTERM before the job file was read",
            phase="preparing",
            epoch=None,
            partial_metrics=None,
        )
        return
    last = reporter.history.last_epoch()
    kept = (
        f"; {reporter.checkpoint} holds epoch {reporter.checkpoint_epoch}"
        if reporter.checkpoint_epoch is not None
        else ""
    )
    events.error(
        FailureCode.CANCELLED,
        "training cancelled",
        ("SIGTERM before the first epoch finished" if last is None else f"SIGTERM after epoch {last}") + kept,
        phase=reporter.phase,
        epoch=reporter.current_epoch,
        partial_metrics=reporter.last_metrics(),
    )


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="trainyard_trainer", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument(
        "--job", type=Path, required=True, help="absolute path of the job.json written by the agent"
    )
    parser.add_argument(
        "--events-fd", type=int, required=True, help="inherited file descriptor for JSON-line events"
    )
    return parser.parse_args(argv)


def _log_traceback() -> None:
    """The full trace to the training log; the event carries a summary. A log the disk refuses loses it."""
    try:
        traceback.print_exc()
        sys.stderr.flush()
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
