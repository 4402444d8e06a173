"""Every knob of the trainer in one typed object: protocol version, exit codes, run layout, policies.

Only `TRAINYARD_WEIGHTS_DIR` and `TRAINYARD_AGENT_PID` come from the environment; everything a job varies comes
from its job file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

# Major version of the event protocol, sent as `v` on every event (TRAINER_PROTOCOL_VERSION in contracts).
PROTOCOL_VERSION = 2


class ExitCode(IntEnum):
    """The trainer's exit status; the events say why, the exit code only says how it ended."""

    DONE = 0  # after a `done` event
    FAILED = 1  # after an `error` event with any code but CANCELLED
    USAGE = 2  # bad command line: no event can be sent
    CANCELLED = 3  # after an `error` event with code CANCELLED (SIGTERM)


@dataclass(frozen=True)
class TrainerSettings:
    """Process-wide settings; `from_env` is the only place the trainer reads its environment."""

    # Searched after the job's own weights_dir for pre-fetched base weights; None when unset.
    extra_weights_dir: Path | None = None
    # The agent that started this trainer: when it dies, so does the trainer (agent_bond); None when unset.
    agent_pid: int | None = None
    # Job-local home for Ultralytics settings, staged fonts and the matplotlib cache (inside run_dir).
    config_dir_name: str = ".ultralytics-config"
    # Where the atomic copy of last.pt lives (inside run_dir): always a whole checkpoint, even after SIGKILL.
    checkpoint_dir_name: str = "checkpoints"
    # Fixed so that reruns of a job on the same host train alike.
    seed: int = 0
    # Out-of-memory retries: batch halvings first, then image-size reductions (each to 3/4, stride-aligned).
    max_batch_halvings: int = 2
    max_image_size_reductions: int = 2
    # Ultralytics' largest stride: image sizes stay multiples of it.
    image_size_stride: int = 32
    # Retries never go below this image size: Ultralytics refuses batch 1 at 32 px (BatchNorm needs 2 values).
    min_image_size: int = 64

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> TrainerSettings:
        weights = env.get("TRAINYARD_WEIGHTS_DIR", "").strip()
        agent = env.get("TRAINYARD_AGENT_PID", "").strip()
        return cls(
            extra_weights_dir=Path(weights) if weights else None,
            agent_pid=int(agent) if agent.isdigit() else None,
        )
