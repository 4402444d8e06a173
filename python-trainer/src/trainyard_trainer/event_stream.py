"""The JSON-lines event protocol (version 2) the trainer-agent reads on its own file descriptor.

Events never go to stdout: Ultralytics owns stdout/stderr, which the agent keeps as the job's training log.
Invariants: one event per line, each with `"v": 2`, flushed at once; exactly one terminal event (`done` or
`error`) and nothing after it. The schema is TrainerEvent in protocol.schema.json, generated from
packages/contracts/src/trainer-protocol.ts.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import IO, Any, Literal

from trainyard_trainer.errors import FailureCode
from trainyard_trainer.settings import PROTOCOL_VERSION

Phase = Literal["preparing", "training", "validating"]
LogLevel = Literal["info", "warning", "error"]


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
        self._emit({"type": "phase", "phase": "preparing", "model_source": model_source, "model": model})

    def training(
        self,
        *,
        start_epoch: int,
        total_epochs: int,
        resumed: bool,
        batch_size: int,
        image_size: int,
        device: str,
    ) -> None:
        self._emit(
            {
                "type": "phase",
                "phase": "training",
                "start_epoch": start_epoch,
                "total_epochs": total_epochs,
                "resumed": resumed,
                "batch_size": batch_size,
                "image_size": image_size,
                "device": device,
            }
        )

    def validating(self) -> None:
        self._emit({"type": "phase", "phase": "validating"})

    def epoch(
        self,
        *,
        epoch: int,
        total_epochs: int,
        metrics: Mapping[str, float | None],
        best: Mapping[str, Any] | None,
        epoch_seconds: float | None,
        eta_seconds: float | None,
        resources: Mapping[str, float | None],
    ) -> None:
        self._emit(
            {
                "type": "epoch",
                "epoch": epoch,
                "total_epochs": total_epochs,
                "metrics": dict(metrics),
                "best": None if best is None else dict(best),
                "epoch_seconds": epoch_seconds,
                "eta_seconds": eta_seconds,
                "resources": dict(resources),
            }
        )

    def artifact(self, name: str, path: str, epoch: int | None = None) -> None:
        self._emit({"type": "artifact", "name": name, "path": path, "epoch": epoch})

    def log(self, level: LogLevel, message: str) -> None:
        self._emit({"type": "log", "level": level, "message": message})

    def done(self, best_pt: str, final_metrics: Mapping[str, float | int | None]) -> None:
        self._emit({"type": "done", "best_pt": best_pt, "final_metrics": dict(final_metrics)})
        self._finished = True

    def error(
        self,
        code: FailureCode,
        message: str,
        details: str,
        *,
        phase: Phase,
        epoch: int | None,
        partial_metrics: Mapping[str, float | None] | None,
    ) -> None:
        self._emit(
            {
                "type": "error",
                "code": code.value,
                "message": message,
                "details": details,
                "phase": phase,
                "epoch": epoch,
                "partial_metrics": None if partial_metrics is None else dict(partial_metrics),
            }
        )
        self._finished = True

    def _emit(self, event: dict[str, Any]) -> None:
        if self._finished:
            raise RuntimeError(f"event {event['type']!r} after the terminal event")
        line = json.dumps({"v": PROTOCOL_VERSION, **json_safe(event)}, allow_nan=False)
        self._sink.write(line + "\n")
        self._sink.flush()
