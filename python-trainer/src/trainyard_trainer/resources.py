"""Resource readings for the epoch events; best effort, never a reason to fail a job.

On a GPU: utilization and temperature of the card, and the GPU memory this process holds, from NVML
(nvidia-ml-py). On CPU: the training process's RAM as `memory_used_gb`. Always: the process's CPU
utilization and RAM. A reading that is not available is null.
"""

from __future__ import annotations

import contextlib
import os
from types import ModuleType
from typing import Any, cast

from trainyard_trainer.metrics_mapping import finite_or_none

_GIB = 1024**3


def _load_nvml() -> ModuleType | None:
    try:
        import pynvml  # type: ignore[import-untyped, unused-ignore]  # nvidia-ml-py has no type information

        pynvml.nvmlInit()
        return cast(ModuleType, pynvml)
    except Exception:  # noqa: BLE001 -- no library, no driver, no GPU: all mean "no GPU readings"
        return None


class ResourceSampler:
    """Reads resources for one torch device; NVML is initialised on the first GPU reading."""

    def __init__(self, nvml_loader: Any = _load_nvml) -> None:
        self._nvml_loader = nvml_loader
        self._nvml: Any = None
        self._nvml_tried = False
        self._process: Any = None
        with contextlib.suppress(Exception):
            import psutil

            self._process = psutil.Process()
            self._process.cpu_percent(None)  # the first call only starts the measurement

    def sample(self, device: Any) -> dict[str, float | None]:
        readings: dict[str, float | None] = {
            "gpu_utilization": None,
            "memory_used_gb": None,
            "temperature_c": None,
            "cpu_utilization": None,
            "ram_used_gb": None,
        }
        with contextlib.suppress(Exception):
            readings["cpu_utilization"] = finite_or_none(round(self._process.cpu_percent(None), 1))
        with contextlib.suppress(Exception):
            readings["ram_used_gb"] = round(process_ram_bytes() / _GIB, 3)
        if getattr(device, "type", None) == "cuda":
            readings.update(self._gpu(device))
        else:
            readings["memory_used_gb"] = readings["ram_used_gb"]
        return readings

    def _gpu(self, device: Any) -> dict[str, float | None]:
        readings: dict[str, float | None] = {}
        if not self._nvml_tried:
            self._nvml_tried = True
            self._nvml = self._nvml_loader()
        nvml = self._nvml
        handle = None
        if nvml is not None:
            with contextlib.suppress(Exception):
                handle = _nvml_handle(nvml, device)
        if handle is not None:
            with contextlib.suppress(Exception):
                readings["gpu_utilization"] = finite_or_none(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            with contextlib.suppress(Exception):
                readings["temperature_c"] = finite_or_none(
                    nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)
                )
            with contextlib.suppress(Exception):
                readings["memory_used_gb"] = _process_gpu_memory_gb(nvml, handle)
        if readings.get("memory_used_gb") is None:
            # What torch's allocator holds; misses the CUDA context, but needs no NVML.
            with contextlib.suppress(Exception):
                import torch

                readings["memory_used_gb"] = round(torch.cuda.memory_reserved(device) / _GIB, 3)
        return readings


def process_ram_bytes() -> int:
    """Resident memory of the trainer and its dataloader workers."""
    import psutil

    process = psutil.Process()
    total = 0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(Exception):
            total += member.memory_info().rss
    return total


def _nvml_handle(nvml: Any, device: Any) -> Any:
    """NVML's handle for a torch device. NVML numbers all GPUs, torch only the visible ones: match by UUID."""
    import torch

    index = device.index if device.index is not None else torch.cuda.current_device()
    uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
    if uuid is not None:
        text = str(uuid)
        return nvml.nvmlDeviceGetHandleByUUID(text if text.startswith(("GPU-", "MIG-")) else f"GPU-{text}")
    return nvml.nvmlDeviceGetHandleByIndex(index)


def _process_gpu_memory_gb(nvml: Any, handle: Any) -> float | None:
    """GPU memory used by this process (and its workers), as nvidia-smi lists it."""
    pids = {os.getpid()}
    with contextlib.suppress(Exception):
        import psutil

        pids.update(child.pid for child in psutil.Process().children(recursive=True))
    used = [
        p.usedGpuMemory
        for p in nvml.nvmlDeviceGetComputeRunningProcesses(handle)
        if p.pid in pids and isinstance(p.usedGpuMemory, int)
    ]
    return round(sum(used) / _GIB, 3) if used else None
