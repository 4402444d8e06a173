"""Failure codes of the PRD and the exception types that carry them out of a training run."""

from __future__ import annotations

from enum import Enum


class FailureCode(str, Enum):
    """The subset of the PRD's `training_failed` codes that the trainer itself can decide."""

    DATASET_INVALID = "DATASET_INVALID"
    MODEL_DOWNLOAD_FAILED = "MODEL_DOWNLOAD_FAILED"
    INSUFFICIENT_MEMORY = "INSUFFICIENT_MEMORY"
    TRAINING_DIVERGED = "TRAINING_DIVERGED"
    CANCELLED = "CANCELLED"
    UNKNOWN_ERROR = "UNKNOWN_ERROR"


class TrainerFailure(Exception):
    """A failure whose PRD code is already known where it is raised."""

    def __init__(self, code: FailureCode, message: str, details: str = "", epoch: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.epoch = epoch


class TrainingCancelled(BaseException):
    """SIGTERM arrived. A BaseException so that no library's `except Exception` can swallow it."""
