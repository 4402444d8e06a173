"""The real trainer process failing: exactly one `error` event with the PRD code, and exit code 1."""

from __future__ import annotations

from pathlib import Path

from trainer_process import TrainerRun, run_trainer, write_job

from trainyard_trainer.synthetic_dataset import write_dataset_dir


def _failure(run: TrainerRun) -> dict[str, object]:
    assert run.returncode == 1, f"exit {run.returncode}, events {run.events}\n{run.stderr[-4000:]}"
    assert run.types().count("error") == 1 and run.types()[-1] == "error", run.types()
    assert run.network_attempts == [], run.network_attempts
    return run.events[-1]


def test_missing_weights_fail_as_model_download_failed_listing_what_is_there(tmp_path: Path) -> None:
    write_dataset_dir(tmp_path / "dataset", train=2, val=1, size=32, seed=0)
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "yolo11n.pt").write_bytes(b"not used")
    run = run_trainer(write_job(tmp_path, base_model="notamodel.pt", weights_dir=str(weights)), tmp_path)

    failed = _failure(run)
    assert run.types() == ["error"]
    assert failed["code"] == "MODEL_DOWNLOAD_FAILED"
    assert failed["phase"] == "preparing" and failed["epoch"] is None
    assert "notamodel.pt" in str(failed["message"])
    assert "Available weights: yolo11n.pt" in str(failed["details"])


def test_dataset_rejected_by_ultralytics_is_dataset_invalid(tmp_path: Path) -> None:
    data_yaml = write_dataset_dir(tmp_path / "dataset", train=2, val=1, size=32, seed=0)
    data_yaml.write_text("train: images/train\nval: images/missing\nnames: [a, b, c]\n")
    run = run_trainer(write_job(tmp_path), tmp_path)

    failed = _failure(run)
    assert run.types() == ["phase", "error"]
    assert failed["code"] == "DATASET_INVALID", failed
    assert "images/missing" in str(failed["details"])


def test_chaos_seed_2445_a_log_on_a_full_disk_loses_the_trace_never_the_error_event(tmp_path: Path) -> None:
    # The agent sends the trainer's output to the job's log in its work folder. On a full disk printing the
    # traceback raised ENOSPC inside the handler, so the trainer died with exit 1 and no event, and the agent
    # could not tell a full disk from a crash (chaos seed 2445). /dev/full answers every write with ENOSPC.
    data_yaml = write_dataset_dir(tmp_path / "dataset", train=2, val=1, size=32, seed=0)
    data_yaml.write_text("train: images/train\nval: images/missing\nnames: [a, b, c]\n")
    run = run_trainer(write_job(tmp_path), tmp_path, log_to=Path("/dev/full"))

    failed = _failure(run)
    assert failed["code"] == "DATASET_INVALID", failed


def test_invalid_job_file_fails_with_a_message_naming_the_field(tmp_path: Path) -> None:
    run = run_trainer(write_job(tmp_path, epochs=0), tmp_path)

    failed = _failure(run)
    assert failed["code"] == "UNKNOWN_ERROR"
    assert "'epochs'" in str(failed["details"])


def test_non_finite_loss_is_training_diverged_with_its_epoch(tmp_path: Path) -> None:
    write_dataset_dir(tmp_path / "dataset", train=8, val=4, size=64, seed=0)
    run = run_trainer(write_job(tmp_path, epochs=3), tmp_path, fault="non_finite_loss_from_epoch=2")

    failed = _failure(run)
    assert (failed["code"], failed["epoch"], failed["phase"]) == ("TRAINING_DIVERGED", 2, "training")
    assert [e["epoch"] for e in run.of_type("epoch")] == [1]
    assert failed["partial_metrics"] == run.of_type("epoch")[0]["metrics"]
    assert "box_loss" in str(failed["message"])


def test_over_max_memory_retries_smaller_then_fails_as_insufficient_memory(tmp_path: Path) -> None:
    """A CPU job whose RAM budget is below what torch alone needs: every plan fails, each retry is announced."""
    write_dataset_dir(tmp_path / "dataset", train=4, val=2, size=64, seed=0)
    run = run_trainer(write_job(tmp_path, batch_size=2, image_size=64, max_memory_gb=0.25), tmp_path)

    failed = _failure(run)
    assert failed["code"] == "INSUFFICIENT_MEMORY"
    assert "batch 1 at 64 px" in str(failed["message"])
    assert "max_memory_gb of 0.25" in str(failed["details"])
    retries = [e["message"] for e in run.of_type("log") if e["level"] == "warning"]
    assert len(retries) == 1 and "retrying with batch 1 at 64 px" in retries[0], retries
    assert [e["batch_size"] for e in run.of_type("phase") if e["phase"] == "training"] == [2, 1]
