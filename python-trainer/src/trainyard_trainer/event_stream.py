"""The JSON-lines event protocol the trainer-agent reads on its own file descriptor.

Events never go to stdout: Ultralytics owns stdout/stderr, which the agent keeps as the job's training log.
Invariant: one event per line, flushed at once, and nothing after the terminal `completed` or `failed`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import IO, Any

from trainyard_trainer.errors import FailureCode


def json_safe(value: Any) -> Any:
    """Replace non-finite floats (which JSON cannot carry) by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


class EventStream:
    """Writes the trainer's events to one already-open file descriptor."""

    def __init__(self, sink: IO[str]) -> None:
        self._sink = sink
        self._finished = False

    @classmethod
    def from_fd(cls, fd: int) -> EventStream:
        """Wrap `fd` (inherited from the agent); closefd=False so the agent's pipe end stays its own."""
        return cls(os.fdopen(fd, "w", encoding="utf-8", closefd=False))

    @property
    def finished(self) -> bool:
        """True once a terminal event has been written."""
        return self._finished

    def preparing(self, model_source: str, model: str) -> None:
        self._emit({"type": "preparing", "model_source": model_source, "model": model})

    def epoch(
        self,
        epoch: int,
        total_epochs: int,
        metrics: Mapping[str, float | None],
        epoch_seconds: float,
        eta_seconds: float,
        resources: Mapping[str, float | None],
    ) -> None:
        self._emit(
            {
                "type": "epoch",
                "epoch": epoch,
                "total_epochs": total_epochs,
                "metrics": dict(metrics),
                "epoch_seconds": epoch_seconds,
                "eta_seconds": eta_seconds,
                "resources": dict(resources),
            }
        )

    def validating(self) -> None:
        self._emit({"type": "validating"})

    def completed(
        self,
        best_pt: str,
        final_metrics: Mapping[str, float | int | None],
        artifacts: Mapping[str, str | None],
    ) -> None:
        self._emit(
            {
                "type": "completed",
                "best_pt": best_pt,
                "final_metrics": dict(final_metrics),
                "artifacts": dict(artifacts),
            }
        )
        self._finished = True

    def failed(self, code: FailureCode, message: str, details: str, epoch: int | None) -> None:
        self._emit(
            {"type": "failed", "code": code.value, "message": message, "details": details, "epoch": epoch}
        )
        self._finished = True

    def _emit(self, event: dict[str, Any]) -> None:
        if self._finished:
            raise RuntimeError(f"event {event['type']!r} after the terminal event")
        self._sink.write(json.dumps(json_safe(event), allow_nan=False) + "\n")
        self._sink.flush()
