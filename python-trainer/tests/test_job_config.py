"""Job file parsing: one typed object, and errors that name the offending field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trainyard_trainer.job_config import JobConfigError, load_job_config, parse_job_config


def valid_job(**overrides: Any) -> dict[str, Any]:
    job = {
        "job_id": "550e8400-e29b-41d4-a716-446655440000",
        "data_yaml": "/data/ds/data.yaml",
        "run_dir": "/runs/550e8400",
        "base_model": "yolov8n.pt",
        "weights_dir": "/weights",
        "epochs": 3,
        "batch_size": 8,
        "image_size": 64,
        "learning_rate": 0.01,
        "optimizer": "adamw",
        "augmentation": {"fliplr": 0.5, "mosaic": 1, "mixup": None, "degrees": 10.0},
        "device": "cuda:0",
        "workers": 0,
        "max_memory_gb": 16,
        "resume_from": None,
    }
    job.update(overrides)
    return job


def test_parses_a_valid_job() -> None:
    job = parse_job_config(valid_job())
    assert job.data_yaml == Path("/data/ds/data.yaml")
    assert job.weights_dir == Path("/weights")
    assert job.optimizer == "AdamW"  # canonical Ultralytics spelling
    assert job.augmentation == {"fliplr": 0.5, "mosaic": 1.0, "degrees": 10.0}  # null means "the default"
    assert job.learning_rate == 0.01


def test_optional_fields_may_be_null() -> None:
    job = parse_job_config(
        valid_job(weights_dir=None, optimizer=None, augmentation=None, device="cpu", max_memory_gb=None)
    )
    assert (job.weights_dir, job.optimizer, job.augmentation, job.max_memory_gb) == (None, None, {}, None)


def test_memory_cap_and_resume_point() -> None:
    job = parse_job_config(valid_job(max_memory_gb=7.5, resume_from="/runs/x/checkpoints/last.pt"))
    assert (job.max_memory_gb, job.resume_from) == (7.5, Path("/runs/x/checkpoints/last.pt"))
    older_agent = valid_job()
    del older_agent["max_memory_gb"], older_agent["resume_from"]
    assert parse_job_config(older_agent).resume_from is None


def test_unknown_top_level_keys_are_ignored() -> None:
    assert parse_job_config(valid_job(future_field=1)).epochs == 3


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"job_id": ""}, "'job_id'"),
        ({"data_yaml": "relative/data.yaml"}, "'data_yaml'"),
        ({"run_dir": None}, "'run_dir'"),
        ({"base_model": "../../etc/passwd"}, "'base_model'"),
        ({"base_model": "https://example.com/m.pt"}, "'base_model'"),
        ({"epochs": 0}, "'epochs'"),
        ({"epochs": True}, "'epochs'"),
        ({"batch_size": 2.5}, "'batch_size'"),
        ({"image_size": 16}, "'image_size'"),
        ({"learning_rate": 0}, "'learning_rate'"),
        ({"learning_rate": "0.01"}, "'learning_rate'"),
        ({"learning_rate": 2}, "'learning_rate'"),
        ({"augmentation": {"mosaic": 1.5}}, "'augmentation.mosaic'"),
        ({"optimizer": "Lion"}, "'optimizer'"),
        ({"augmentation": {"flip": 0.5}}, "'augmentation'"),
        ({"augmentation": {"fliplr": "high"}}, "'augmentation.fliplr'"),
        ({"device": "gpu0"}, "'device'"),
        ({"workers": -1}, "'workers'"),
        ({"max_memory_gb": 0}, "'max_memory_gb'"),
        ({"max_memory_gb": "16GB"}, "'max_memory_gb'"),
        ({"resume_from": "last.pt"}, "'resume_from'"),
    ],
)
def test_rejects_bad_fields_naming_them(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(JobConfigError, match=field):
        parse_job_config(valid_job(**overrides))


def test_rejects_a_missing_field() -> None:
    job = valid_job()
    del job["epochs"]
    with pytest.raises(JobConfigError, match="'epochs'"):
        parse_job_config(job)


def test_load_reports_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(JobConfigError, match="cannot read job file"):
        load_job_config(tmp_path / "missing.json")
    broken = tmp_path / "job.json"
    broken.write_text("{not json")
    with pytest.raises(JobConfigError, match="not valid JSON"):
        load_job_config(broken)
    broken.write_text("[1, 2]")
    with pytest.raises(JobConfigError, match="JSON object"):
        load_job_config(broken)


def test_load_reads_a_job_file(tmp_path: Path) -> None:
    path = tmp_path / "job.json"
    path.write_text(json.dumps(valid_job()))
    assert load_job_config(path).job_id == "550e8400-e29b-41d4-a716-446655440000"
