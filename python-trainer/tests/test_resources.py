"""Resource readings: NVML on a GPU, process RAM on CPU, nulls for anything unavailable.

No GPU is present where these tests run, so NVML is replaced by a stand-in with pynvml's function names (the
library boundary); the CPU path is real.
"""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from trainyard_trainer.resources import ResourceSampler, process_ram_bytes


class FakeNvml:
    NVML_TEMPERATURE_GPU = 0

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> str:
        return f"handle:{uuid}"

    def nvmlDeviceGetHandleByIndex(self, index: int) -> str:
        return f"handle:{index}"

    def nvmlDeviceGetUtilizationRates(self, handle: str) -> Any:
        return SimpleNamespace(gpu=87, memory=40)

    def nvmlDeviceGetTemperature(self, handle: str, sensor: int) -> int:
        return 72

    def nvmlDeviceGetComputeRunningProcesses(self, handle: str) -> list[Any]:
        return [
            SimpleNamespace(pid=os.getpid(), usedGpuMemory=3 * 1024**3),
            SimpleNamespace(pid=1, usedGpuMemory=5),
        ]


def test_cpu_jobs_report_their_ram_and_no_gpu_readings() -> None:
    readings = ResourceSampler(nvml_loader=FakeNvml).sample(torch.device("cpu"))
    assert (readings["gpu_utilization"], readings["temperature_c"]) == (None, None)
    assert readings["memory_used_gb"] == readings["ram_used_gb"]
    assert readings["ram_used_gb"] is not None and readings["ram_used_gb"] > 0.05
    assert process_ram_bytes() > 0


def test_gpu_readings_come_from_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    props = SimpleNamespace(uuid="6f1d0c2a-0000-0000-0000-000000000000")
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props)
    readings = ResourceSampler(nvml_loader=FakeNvml).sample(torch.device("cuda", 0))
    assert readings["gpu_utilization"] == 87.0
    assert readings["temperature_c"] == 72.0
    assert readings["memory_used_gb"] == 3.0  # this process's share, not the other process's


def test_without_nvml_a_gpu_job_still_gets_an_epoch_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device: 2 * 1024**3)
    readings = ResourceSampler(nvml_loader=lambda: None).sample(torch.device("cuda", 0))
    assert (readings["gpu_utilization"], readings["temperature_c"]) == (None, None)
    assert readings["memory_used_gb"] == 2.0  # torch's allocator as the fallback
