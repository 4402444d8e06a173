"""Entry point: `python -m trainyard_trainer --job /abs/job.json --events-fd 3`.

Wires the job file, the offline environment, model resolution and the training run together, and turns any
failure into exactly one `failed` event.
Exit code: 0 after `completed`, 1 after `failed`, 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from pathlib import Path

from trainyard_trainer.dataset_yaml import prepare_dataset_yaml
from trainyard_trainer.errors import FailureCode
from trainyard_trainer.event_stream import EventStream
from trainyard_trainer.failure_classification import classify_failure
from trainyard_trainer.job_config import JobConfig, JobConfigError, load_job_config
from trainyard_trainer.model_resolution import installed_architectures, resolve_model
from trainyard_trainer.offline import lock_down_ultralytics, prepare_offline_environment
from trainyard_trainer.training_run import EpochReporter, completion, load_model, train

CONFIG_DIR_NAME = ".ultralytics-config"  # job-local home for Ultralytics settings, fonts and matplotlib cache


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    # The agent cancels by SIGTERM; a parent that ignores it would pass SIG_IGN on through exec.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        events = EventStream.from_fd(args.events_fd)
    except OSError as e:
        print(
            f"trainyard-trainer: --events-fd {args.events_fd} is not an open descriptor: {e}", file=sys.stderr
        )
        return 2
    try:
        job = load_job_config(args.job)
    except JobConfigError as e:
        events.failed(FailureCode.UNKNOWN_ERROR, "invalid job file", str(e), None)
        return 1

    reporter = EpochReporter(events, job.epochs)
    try:
        run_job(job, events, reporter)
    except Exception as e:  # noqa: BLE001 -- the one boundary where every error becomes a `failed` event
        traceback.print_exc()  # the full trace goes to the training log; the event carries a summary
        failure = classify_failure(e, reporter.current_epoch)
        events.failed(failure.code, failure.message, failure.details, failure.epoch)
        return 1
    return 0


def run_job(job: JobConfig, events: EventStream, reporter: EpochReporter) -> None:
    """Everything from an empty run_dir to the completed event."""
    job.run_dir.mkdir(parents=True, exist_ok=True)
    os.chdir(job.run_dir)  # anything Ultralytics writes to a relative path stays inside the job
    config_dir = job.run_dir / CONFIG_DIR_NAME
    prepare_offline_environment(config_dir)

    choice = resolve_model(job.base_model, job.weights_dir, installed_architectures())
    events.preparing(choice.source, choice.model)
    dataset_yaml = prepare_dataset_yaml(job.data_yaml, job.run_dir / "dataset.yaml")

    lock_down_ultralytics(job.weights_dir or config_dir / "weights", job.run_dir)
    model = load_model(choice)
    train(job, model, dataset_yaml, reporter)
    best_pt, final_metrics, artifacts = completion(model, reporter, job.epochs)
    events.completed(best_pt, final_metrics, artifacts)


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


if __name__ == "__main__":
    sys.exit(main())
