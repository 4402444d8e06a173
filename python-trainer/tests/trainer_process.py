"""Runs the real trainer as the agent does: a child process writing events to an inherited pipe.

Every event read here is validated against the generated protocol schema (TrainerEvent), so each integration
test also checks the protocol.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import jsonschema

SUBPROCESS_SITE = Path(__file__).parent / "subprocess_site"
SCHEMA_FILE = Path(__file__).parents[1] / "src" / "trainyard_trainer" / "protocol.schema.json"
TRAINER_TIMEOUT_S = 600

_SCHEMAS = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
EVENT_VALIDATOR = jsonschema.Draft202012Validator(_SCHEMAS["TrainerEvent"])
JOB_VALIDATOR = jsonschema.Draft202012Validator(_SCHEMAS["TrainerJob"])


def parse_event(line: str) -> dict[str, Any]:
    """One event line, checked against the protocol schema; a violation fails the test with its reason."""
    event: dict[str, Any] = json.loads(line)
    errors = sorted(EVENT_VALIDATOR.iter_errors(event), key=lambda e: list(e.absolute_path))
    assert not errors, f"event breaks protocol.schema.json: {line}\n" + "\n".join(e.message for e in errors)
    return event


@dataclass
class TrainerRun:
    returncode: int
    events: list[dict[str, Any]]
    stdout: str
    stderr: str
    home: Path  # the child's $HOME, which the trainer must leave untouched
    network_attempts: list[dict[str, Any]]  # refused by the guard; the "installed" markers are kept apart
    guard_installed: bool
    seconds_after_signal: float | None = None

    def types(self) -> list[str]:
        return [event["type"] for event in self.events]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] == kind]

    def artifacts(self) -> dict[str, dict[str, Any]]:
        """The last artifact event of each name."""
        return {event["name"]: event for event in self.of_type("artifact")}


@dataclass
class Isolation:
    env: dict[str, str]
    home: Path
    guard_log: Path
    extra: dict[str, str] = field(default_factory=dict)

    def network_attempts(self) -> tuple[list[dict[str, Any]], bool]:
        lines = self.guard_log.read_text().splitlines() if self.guard_log.exists() else []
        guard = [json.loads(line) for line in lines]
        return [g for g in guard if g["kind"] != "installed"], any(g["kind"] == "installed" for g in guard)


def isolated_env(work: Path, fault: str | None = None) -> Isolation:
    """Environment with an empty $HOME, the network guard and optionally an injected fault."""
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    guard_log = work / "network-guard.jsonl"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("YOLO_", "MPL", "XDG_", "ULTRALYTICS_", "TRAINYARD_"))
    }
    env.update(
        HOME=str(home),
        PYTHONPATH=str(SUBPROCESS_SITE),
        TRAINYARD_NETWORK_GUARD_LOG=str(guard_log),
        PYTHONUNBUFFERED="1",
    )
    if fault:
        env["TRAINYARD_TEST_FAULT"] = fault
    return Isolation(env, home, guard_log)


def write_job(work: Path, name: str = "job.json", **overrides: Any) -> Path:
    """A job.json for a tiny CPU training; `overrides` replace any field. It must match the schema too."""
    job = {
        "job_id": "00000000-0000-4000-8000-000000000001",
        "data_yaml": str(work / "dataset" / "data.yaml"),
        "run_dir": str(work / "run"),
        "base_model": "yolov8n.pt",
        "weights_dir": None,
        "epochs": 2,
        "batch_size": 4,
        "image_size": 64,
        "learning_rate": 0.01,
        "optimizer": None,
        "augmentation": None,
        "device": "cpu",
        "workers": 0,
        "max_memory_gb": None,
        **overrides,
    }
    path = work / name
    path.write_text(json.dumps(job), encoding="utf-8")
    return path


class TrainerProcess:
    """A running trainer whose events can be read one by one (to signal it at a chosen moment)."""

    def __init__(
        self, job_file: Path, work: Path, fault: str | None = None, log_to: Path | None = None
    ) -> None:
        self.work = work
        self.isolation = isolated_env(work, fault)
        read_end, write_end = os.pipe()
        # `log_to`: stdout and stderr both to one file, as the agent sends them to the job's log
        self._log_to = log_to
        self._out = open(log_to or work / "stdout.log", "wb")  # noqa: SIM115 -- closed in finish()
        self._err = self._out if log_to else open(work / "stderr.log", "wb")  # noqa: SIM115 -- closed in finish()
        self.child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "trainyard_trainer",
                "--job",
                str(job_file),
                "--events-fd",
                str(write_end),
            ],
            pass_fds=(write_end,),
            stdout=self._out,
            stderr=self._err,
            env=self.isolation.env,
            cwd=work,
        )
        os.close(write_end)  # only the child holds the write end now, so EOF means the child is done with it
        self._pipe: IO[str] = os.fdopen(read_end, "r", encoding="utf-8")
        self.events: list[dict[str, Any]] = []
        self._signalled_at: float | None = None
        # A hung child must not hang the suite.
        self._watchdog = threading.Timer(TRAINER_TIMEOUT_S, self.child.kill)
        self._watchdog.start()

    def read_events(self) -> Iterator[dict[str, Any]]:
        """Events as the trainer writes them, until it closes its end."""
        for line in self._pipe:
            event = parse_event(line)
            self.events.append(event)
            yield event

    def signal(self, signum: signal.Signals) -> None:
        self._signalled_at = time.monotonic()
        self.child.send_signal(signum)

    def finish(self) -> TrainerRun:
        """Read whatever is left, wait for the exit and collect what the child wrote."""
        try:
            for _ in self.read_events():
                pass
            returncode = self.child.wait()
            elapsed = None if self._signalled_at is None else time.monotonic() - self._signalled_at
        finally:
            self._watchdog.cancel()
            if self.child.poll() is None:
                self.child.kill()
            self._pipe.close()
            self._out.close()
            self._err.close()
        attempts, installed = self.isolation.network_attempts()
        return TrainerRun(
            returncode=returncode,
            events=self.events,
            stdout="" if self._log_to else (self.work / "stdout.log").read_text(errors="replace"),
            stderr="" if self._log_to else (self.work / "stderr.log").read_text(errors="replace"),
            home=self.isolation.home,
            network_attempts=attempts,
            guard_installed=installed,
            seconds_after_signal=elapsed,
        )


def run_trainer(
    job_file: Path, work: Path, fault: str | None = None, log_to: Path | None = None
) -> TrainerRun:
    """Run `python -m trainyard_trainer` to its end and collect what it wrote."""
    return TrainerProcess(job_file, work, fault, log_to).finish()


def run_python(code: str, work: Path) -> subprocess.CompletedProcess[str]:
    """Run a snippet under the same isolation (empty $HOME, network guard, offline Ultralytics)."""
    env = isolated_env(work).env
    env.update(YOLO_OFFLINE="true", YOLO_CONFIG_DIR=str(work / "ultralytics-config"))
    return subprocess.run(
        [sys.executable, "-c", code],
        check=False,  # callers assert on returncode and show stderr
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=TRAINER_TIMEOUT_S,
    )
