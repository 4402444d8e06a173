"""The real trainer process failing: exactly one `failed` event with the PRD code, and exit code 1."""

from __future__ import annotations

from pathlib import Path

from trainer_process import run_trainer, write_job

from trainyard_trainer.synthetic_dataset import write_dataset_dir


def test_unknown_base_model_fails_without_downloading(tmp_path: Path) -> None:
    write_dataset_dir(tmp_path / "dataset", train=2, val=1, size=32, seed=0)
    weights = tmp_path / "weights"
    weights.mkdir()
    run = run_trainer(write_job(tmp_path, base_model="notamodel.pt", weights_dir=str(weights)), tmp_path)

    assert run.returncode == 1, run.stderr[-4000:]
    assert run.types() == ["failed"]
    failed = run.events[0]
    assert failed["code"] == "MODEL_DOWNLOAD_FAILED"
    assert "notamodel.pt" in failed["message"]
    assert failed["epoch"] is None
    assert run.network_attempts == []


def test_dataset_rejected_by_ultralytics_is_dataset_invalid(tmp_path: Path) -> None:
    data_yaml = write_dataset_dir(tmp_path / "dataset", train=2, val=1, size=32, seed=0)
    data_yaml.write_text("train: images/train\nval: images/missing\nnames: [a, b, c]\n")
    run = run_trainer(write_job(tmp_path), tmp_path)

    assert run.returncode == 1, run.stderr[-4000:]
    assert run.types() == ["preparing", "failed"]
    failed = run.events[-1]
    assert failed["code"] == "DATASET_INVALID", failed
    assert "images/missing" in failed["details"]
    assert run.network_attempts == []


def test_invalid_job_file_fails_with_a_message_naming_the_field(tmp_path: Path) -> None:
    run = run_trainer(write_job(tmp_path, epochs=0), tmp_path)

    assert run.returncode == 1
    assert run.types() == ["failed"]
    assert run.events[0]["code"] == "UNKNOWN_ERROR"
    assert "'epochs'" in run.events[0]["details"]
