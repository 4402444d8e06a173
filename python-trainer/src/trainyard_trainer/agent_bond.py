"""A trainer dies with its agent: a SIGKILLed agent (or host service) must never leave a GPU busy.

On Linux the kernel sends the trainer SIGKILL the moment its parent dies (`PR_SET_PDEATHSIG`). The agent
passes its pid: if it is no longer the parent by the time the signal is armed, the agent died first and the
trainer leaves at once. Elsewhere nothing is armed; the agent's own process-group kill still applies.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_agent(agent_pid: int | None) -> bool:
    """Arms the parent-death signal; False when there is no agent to bind to (or no prctl)."""
    if agent_pid is None or not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        return False
    if os.getppid() != agent_pid:  # the agent died before the signal was armed
        os._exit(1)
    return True
