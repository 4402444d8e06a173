"""Runs the real trainer as the agent does: a child process writing events to an inherited pipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NETWORK_GUARD_DIR = Path(__file__).parent / "network_guard"
TRAINER_TIMEOUT_S = 600


@dataclass
class TrainerRun:
    returncode: int
    events: list[dict[str, Any]]
    stdout: str
    stderr: str
    home: Path  # the child's $HOME, which the trainer must leave untouched
    network_attempts: list[dict[str, Any]]  # refused by the guard; the "installed" markers are kept apart
    guard_installed: bool

    def types(self) -> list[str]:
        return [event["type"] for event in self.events]


def isolated_env(work: Path) -> tuple[dict[str, str], Path, Path]:
    """Environment with an empty $HOME and the network guard; returns it, the home and the guard log."""
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    guard_log = work / "network-guard.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YOLO_", "MPL", "XDG_", "ULTRALYTICS_"))}
    env.update(
        HOME=str(home),
        PYTHONPATH=str(NETWORK_GUARD_DIR),
        TRAINYARD_NETWORK_GUARD_LOG=str(guard_log),
        PYTHONUNBUFFERED="1",
    )
    return env, home, guard_log


def write_job(work: Path, **overrides: Any) -> Path:
    """A job.json for a tiny CPU training; `overrides` replace any field."""
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
        **overrides,
    }
    path = work / "job.json"
    path.write_text(json.dumps(job), encoding="utf-8")
    return path


def run_trainer(job_file: Path, work: Path) -> TrainerRun:
    """Start `python -m trainyard_trainer` with an events pipe, wait for it and collect what it wrote."""
    env, home, guard_log = isolated_env(work)
    read_end, write_end = os.pipe()
    with open(work / "stdout.log", "wb") as out, open(work / "stderr.log", "wb") as err:
        child = subprocess.Popen(
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
            stdout=out,
            stderr=err,
            env=env,
            cwd=work,
        )
        os.close(write_end)  # only the child holds the write end now, so EOF means the child is done with it
        watchdog = threading.Timer(TRAINER_TIMEOUT_S, child.kill)  # a hung child must not hang the suite
        watchdog.start()
        try:
            with os.fdopen(read_end, "r", encoding="utf-8") as events_pipe:
                lines = events_pipe.read().splitlines()
            returncode = child.wait()
        finally:
            watchdog.cancel()
    guard_lines = (
        [json.loads(line) for line in guard_log.read_text().splitlines()] if guard_log.exists() else []
    )
    return TrainerRun(
        returncode=returncode,
        events=[json.loads(line) for line in lines],
        stdout=(work / "stdout.log").read_text(errors="replace"),
        stderr=(work / "stderr.log").read_text(errors="replace"),
        home=home,
        network_attempts=[g for g in guard_lines if g["kind"] != "installed"],
        guard_installed=any(g["kind"] == "installed" for g in guard_lines),
    )


def run_python(code: str, work: Path) -> subprocess.CompletedProcess[str]:
    """Run a snippet under the same isolation (empty $HOME, network guard, offline Ultralytics)."""
    env, _, _ = isolated_env(work)
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
