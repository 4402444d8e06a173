"""Exceptions mapped onto PRD failure codes."""

from __future__ import annotations

from trainyard_trainer.errors import FailureCode, TrainerFailure
from trainyard_trainer.failure_classification import classify_failure, is_out_of_memory


def _raised(error: BaseException, cause: BaseException | None = None) -> BaseException:
    try:
        raise error from cause
    except BaseException as caught:  # noqa: BLE001 -- building a real traceback for the classifier
        return caught


def test_known_failures_keep_their_code_and_gain_the_epoch() -> None:
    failure = classify_failure(TrainerFailure(FailureCode.TRAINING_DIVERGED, "nan"), epoch=4)
    assert (failure.code, failure.epoch) == (FailureCode.TRAINING_DIVERGED, 4)


def test_out_of_memory_is_insufficient_memory() -> None:
    cuda_oom = _raised(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert classify_failure(cuda_oom, 2).code is FailureCode.INSUFFICIENT_MEMORY
    assert classify_failure(_raised(MemoryError()), None).code is FailureCode.INSUFFICIENT_MEMORY
    cpu_oom = _raised(
        RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 bytes")
    )
    assert is_out_of_memory(cpu_oom)
    assert is_out_of_memory(_raised(ValueError("while loading"), cause=cpu_oom)), "found in the cause chain"
    assert not is_out_of_memory(_raised(ValueError("memory address 0x1 is fine")))


def test_ultralytics_dataset_errors_are_dataset_invalid() -> None:
    # BaseTrainer.get_dataset wraps the real cause like this, colour codes included.
    cause = _raised(FileNotFoundError("Dataset 'x.yaml' images not found, missing path '/ds/images/val'"))
    wrapped = _raised(
        RuntimeError("Dataset '/run/dataset.yaml' error \x1b[31m❌\x1b[0m images not found"), cause
    )
    failure = classify_failure(wrapped, None)
    assert failure.code is FailureCode.DATASET_INVALID
    assert "\x1b[" not in failure.message
    assert "/ds/images/val" in failure.details


def test_anything_else_is_unknown_with_a_short_message() -> None:
    failure = classify_failure(_raised(ValueError("first line\n" + "x" * 10_000)), 1)
    assert failure.code is FailureCode.UNKNOWN_ERROR
    assert failure.message == "first line"
    assert failure.details.startswith("ValueError: first line")
    assert len(failure.details) <= 4000
