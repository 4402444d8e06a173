"""Offline guards that can be exercised without training: fonts, environment, the AMP check."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from trainyard_trainer.offline import (
    AMP_REFERENCE_WEIGHTS,
    PLOT_FONT_NAMES,
    offline_check_amp,
    prepare_offline_environment,
)

_ENV_KEYS = ("YOLO_OFFLINE", "YOLO_CONFIG_DIR", "YOLO_AUTOINSTALL", "MPLCONFIGDIR", "ULTRALYTICS_API_KEY")


def test_environment_points_everything_at_the_job_and_stages_fonts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in _ENV_KEYS:  # registered with monkeypatch so the test process gets its environment back
        monkeypatch.setenv(key, "previous")
    prepare_offline_environment(tmp_path / "config")

    assert os.environ["YOLO_OFFLINE"] == "true"
    assert os.environ["YOLO_CONFIG_DIR"] == str(tmp_path / "config")
    assert os.environ["YOLO_AUTOINSTALL"] == "false"
    assert os.environ["MPLCONFIGDIR"].startswith(str(tmp_path / "config"))
    assert "ULTRALYTICS_API_KEY" not in os.environ
    for name in PLOT_FONT_NAMES:
        font = tmp_path / "config" / "Ultralytics" / name
        assert font.read_bytes()[:4] == b"\x00\x01\x00\x00", f"{name} is not a TrueType font"


class _FakeParameter:
    def __init__(self, device_type: str) -> None:
        self.device = SimpleNamespace(type=device_type)


class _FakeModel:
    """Stands in for a model on a CUDA device, which this (GPU-less) test machine cannot hold for real."""

    def __init__(self, device_type: str) -> None:
        self._parameter = _FakeParameter(device_type)

    def parameters(self) -> Any:
        return iter([self._parameter])


def _stock_must_not_run(model: Any) -> bool:
    raise AssertionError("the stock AMP check would download yolo26n.pt")


def test_amp_is_off_on_cpu_without_the_stock_check(tmp_path: Path) -> None:
    check = offline_check_amp(_stock_must_not_run, tmp_path)
    assert check(torch.nn.Linear(2, 2)) is False


def test_amp_stays_on_offline_without_downloading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No GPU here: the device name is the one library answer that has to be faked.
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 80GB HBM3")
    assert offline_check_amp(_stock_must_not_run, tmp_path)(_FakeModel("cuda")) is True


def test_amp_is_off_on_gpus_known_to_break_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA GeForce GTX 1660 Ti")
    assert offline_check_amp(_stock_must_not_run, tmp_path)(_FakeModel("cuda")) is False


def test_full_stock_check_runs_when_its_weights_are_local(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 80GB HBM3")
    (tmp_path / AMP_REFERENCE_WEIGHTS).write_bytes(b"weights")
    calls: list[Any] = []

    def stock(model: Any) -> bool:
        calls.append(model)
        return False

    model = _FakeModel("cuda")
    assert offline_check_amp(stock, tmp_path)(model) is False
    assert calls == [model]
