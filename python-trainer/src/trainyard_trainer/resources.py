"""GPU readings for the epoch event; best effort, never a reason to fail a job."""

from __future__ import annotations

import contextlib
from typing import Any

from trainyard_trainer.metrics_mapping import finite_or_none

_GIB = 1024**3


def sample_resources(device: Any) -> dict[str, float | None]:
    """GPU utilization (%), memory used (GB) and temperature (°C) of a torch.device; nulls on CPU."""
    readings: dict[str, float | None] = {
        "gpu_utilization": None,
        "memory_used_gb": None,
        "temperature_c": None,
    }
    if getattr(device, "type", None) != "cuda":
        return readings
    import torch

    # Memory reserved by torch's allocator is what this job holds on the card.
    with contextlib.suppress(Exception):
        readings["memory_used_gb"] = round(torch.cuda.memory_reserved(device) / _GIB, 3)
    # utilization() and temperature() go through pynvml/amdsmi, which may be missing or unsupported.
    with contextlib.suppress(Exception):
        readings["gpu_utilization"] = finite_or_none(torch.cuda.utilization(device))
    with contextlib.suppress(Exception):
        readings["temperature_c"] = finite_or_none(torch.cuda.temperature(device))
    return readings
