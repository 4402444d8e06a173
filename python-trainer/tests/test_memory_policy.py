"""Out-of-memory retries: smaller batches first, then smaller images, then give up."""

from __future__ import annotations

from trainyard_trainer.memory_policy import MemoryBudget, MemoryPlan, next_plan
from trainyard_trainer.settings import TrainerSettings

SETTINGS = TrainerSettings()


def _plans(plan: MemoryPlan | None) -> list[tuple[int, int]]:
    seen = []
    while plan is not None:
        seen.append((plan.batch_size, plan.image_size))
        plan = next_plan(plan, SETTINGS)
    return seen


def test_halves_the_batch_twice_then_shrinks_images_to_three_quarters_stride_aligned() -> None:
    assert _plans(MemoryPlan(16, 640)) == [(16, 640), (8, 640), (4, 640), (4, 480), (4, 352)]


def test_a_batch_of_one_goes_straight_to_smaller_images_and_never_below_64_px() -> None:
    assert _plans(MemoryPlan(1, 100)) == [(1, 100), (1, 64)]
    assert _plans(MemoryPlan(2, 64)) == [(2, 64), (1, 64)]


def test_budget_is_ignored_without_a_cap_or_on_cuda() -> None:
    huge = lambda: 10**15
    MemoryBudget(None, "cpu", huge).check()
    MemoryBudget(1.0, "cuda:0", huge).check()  # CUDA is capped in the allocator instead
    MemoryBudget(None, "cuda:0", huge).apply()  # no cap: touches no CUDA API
