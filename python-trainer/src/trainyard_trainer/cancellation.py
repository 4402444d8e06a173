"""SIGTERM handling: the agent cancels a job (or hands it back on shutdown) by SIGTERM.

Before training starts, the signal interrupts whatever runs at once. Inside the training loop it only sets a
flag, and the next batch boundary (a training or a validation batch) raises `TrainingCancelled`: stopping
between batches never leaves a half-written checkpoint behind, and a batch takes well under a second to a few
seconds. The agent follows up with SIGKILL after its grace period should a batch ever take longer.
"""

from __future__ import annotations

import signal
from types import FrameType

from trainyard_trainer.errors import TrainingCancelled


class Cancellation:
    """Turns SIGTERM into `TrainingCancelled`, at once or at the next `checkpoint()`."""

    def __init__(self) -> None:
        self.requested = False
        self._deferred = False

    def install(self) -> None:
        """Handle SIGTERM from now on (the default handler would kill the process without a word)."""
        signal.signal(signal.SIGTERM, self._on_signal)

    def defer(self, deferred: bool) -> None:
        """While deferred, SIGTERM waits for the next `checkpoint()` instead of interrupting."""
        self._deferred = deferred

    def checkpoint(self) -> None:
        """A safe place to stop: raises if SIGTERM has arrived."""
        if self.requested:
            raise TrainingCancelled()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if not self._deferred:
            raise TrainingCancelled()
