"""Base model resolution: local weights, else a shipped architecture, else MODEL_DOWNLOAD_FAILED."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainyard_trainer.errors import FailureCode, TrainerFailure
from trainyard_trainer.model_resolution import (
    ModelChoice,
    architecture_for,
    installed_architectures,
    resolve_model,
)

ARCHITECTURES = frozenset({"yolov8.yaml", "yolo11.yaml", "yolo26.yaml", "yolov8-p2.yaml", "yolov3-tiny.yaml"})


def test_weights_in_weights_dir_win(tmp_path: Path) -> None:
    (tmp_path / "yolov8n.pt").write_bytes(b"weights")
    assert resolve_model("yolov8n.pt", [tmp_path], ARCHITECTURES) == ModelChoice(
        "weights", str(tmp_path / "yolov8n.pt")
    )


def test_weights_dirs_are_searched_in_order(tmp_path: Path) -> None:
    job_dir, host_dir = tmp_path / "job", tmp_path / "host"
    for folder in (job_dir, host_dir):
        folder.mkdir()
    (host_dir / "yolo11n.pt").write_bytes(b"host")
    assert resolve_model("yolo11n.pt", [job_dir, host_dir], ARCHITECTURES).model == str(
        host_dir / "yolo11n.pt"
    )
    (job_dir / "yolo11n.pt").write_bytes(b"job")
    assert resolve_model("yolo11n.pt", [job_dir, host_dir], ARCHITECTURES).model == str(
        job_dir / "yolo11n.pt"
    )


@pytest.mark.parametrize(
    ("base_model", "architecture"),
    [
        ("yolov8n.pt", "yolov8n.yaml"),
        ("yolov8s.pt", "yolov8s.yaml"),
        ("yolo11n.pt", "yolo11n.yaml"),
        ("yolo26x.pt", "yolo26x.yaml"),
        ("yolov8n-p2.pt", "yolov8n-p2.yaml"),
        ("yolov3-tiny.pt", "yolov3-tiny.yaml"),
        ("yolov8n.yaml", "yolov8n.yaml"),
    ],
)
def test_falls_back_to_the_matching_architecture(tmp_path: Path, base_model: str, architecture: str) -> None:
    assert resolve_model(base_model, [tmp_path], ARCHITECTURES) == ModelChoice("architecture", architecture)


@pytest.mark.parametrize("base_model", ["notamodel.pt", "yolov9z.pt", "yolov8n.onnx", "resnet50.pt"])
def test_anything_else_would_need_a_download(tmp_path: Path, base_model: str) -> None:
    (tmp_path / "yolov8s.pt").write_bytes(b"weights")
    with pytest.raises(TrainerFailure) as failure:
        resolve_model(base_model, [tmp_path], ARCHITECTURES)
    assert failure.value.code is FailureCode.MODEL_DOWNLOAD_FAILED
    assert base_model in failure.value.message
    assert "Available weights: yolov8s.pt" in failure.value.details


def test_no_weights_dir_still_resolves_architectures() -> None:
    assert resolve_model("yolo11n.pt", [], ARCHITECTURES).source == "architecture"
    with pytest.raises(TrainerFailure, match="not available offline") as failure:
        resolve_model("custom.pt", [], ARCHITECTURES)
    assert "no weights directory configured" in failure.value.details


def test_the_installed_ultralytics_ships_the_common_families() -> None:
    installed = installed_architectures()
    for stem in ("yolov8n", "yolo11n", "yolo26n", "yolov10n", "yolo12s"):
        assert architecture_for(stem, installed) == f"{stem}.yaml", stem
    assert architecture_for("yolov5nu", installed) == "yolov5n.yaml"
