"""Failure codes of the PRD and the one exception type that carries them out of a training run."""

from __future__ import annotations

from enum import Enum


class FailureCode(str, Enum):
    """The subset of the PRD's `training_failed` codes that the trainer itself can decide."""

    DATASET_INVALID = "DATASET_INVALID"
    MODEL_DOWNLOAD_FAILED = "MODEL_DOWNLOAD_FAILED"
    INSUFFICIENT_MEMORY = "INSUFFICIENT_MEMORY"
    TRAINING_DIVERGED = "TRAINING_DIVERGED"
    UNKNOWN_ERROR = "UNKNOWN_ERROR"


class TrainerFailure(Exception):
    """A failure whose PRD code is already known where it is raised."""

    def __init__(self, code: FailureCode, message: str, details: str = "", epoch: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.epoch = epoch
