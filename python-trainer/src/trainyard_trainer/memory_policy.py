"""Out-of-memory policy (PRD 4.2.3, 17.8): smaller batches, then smaller images, under an optional cap.

`resources.max_memory_gb` is best effort. On CUDA it caps torch's allocator for this process
(`set_per_process_memory_fraction`), so an over-budget batch fails as a CUDA out-of-memory error. On CPU the
resident memory of the trainer and its dataloader workers is checked at every batch boundary, and a batch
that ends over the budget raises MemoryError. (An RLIMIT_DATA cap was tried and rejected: libraries fail in
odd places when a lazy import or a thread stack cannot be mapped.) Both surface as out-of-memory errors, which
the retry loop answers like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from trainyard_trainer.settings import TrainerSettings

_GIB = 1024**3


@dataclass(frozen=True)
class MemoryPlan:
    """Batch size and image size of one training attempt, and how often each was cut already."""

    batch_size: int
    image_size: int
    batch_halvings: int = 0
    image_size_reductions: int = 0

    def describe(self) -> str:
        return f"batch {self.batch_size} at {self.image_size} px"


def next_plan(plan: MemoryPlan, settings: TrainerSettings) -> MemoryPlan | None:
    """The plan to retry with after running out of memory under `plan`, or None when there is none left."""
    if plan.batch_size > 1 and plan.batch_halvings < settings.max_batch_halvings:
        return replace(plan, batch_size=plan.batch_size // 2, batch_halvings=plan.batch_halvings + 1)
    stride = settings.image_size_stride
    smaller = max(settings.min_image_size, (plan.image_size * 3 // 4) // stride * stride)
    if smaller < plan.image_size and plan.image_size_reductions < settings.max_image_size_reductions:
        return replace(plan, image_size=smaller, image_size_reductions=plan.image_size_reductions + 1)
    return None


class MemoryBudget:
    """`max_memory_gb` for one job: an allocator cap on CUDA, a RAM check at every batch boundary on CPU."""

    def __init__(self, max_memory_gb: float | None, device: str, ram_bytes: Callable[[], int]) -> None:
        self.max_memory_gb = max_memory_gb
        self.device = device
        self._ram_bytes = ram_bytes

    def apply(self) -> None:
        """Cap torch's CUDA allocator for this process; call before training starts."""
        if self.max_memory_gb is not None and self.device.startswith("cuda"):
            _cap_cuda(self.max_memory_gb, self.device)

    def check(self) -> None:
        """On CPU, raise MemoryError once the training's RAM exceeds the budget (PRD 17.8: stop, then retry)."""
        if self.max_memory_gb is None or self.device.startswith("cuda"):
            return
        used = self._ram_bytes() / _GIB
        if used > self.max_memory_gb:
            raise MemoryError(
                f"training uses {used:.2f} GB of RAM, over its max_memory_gb of {self.max_memory_gb:g}"
            )


def _cap_cuda(max_memory_gb: float, device: str) -> None:
    import torch

    index = int(device.split(":", 1)[1]) if ":" in device else torch.cuda.current_device()
    total: Any = torch.cuda.get_device_properties(index).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, max_memory_gb * _GIB / total), index)
