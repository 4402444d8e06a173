"""The real trainer, as a child process, on a generated tiny dataset: one training shared by the module."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from trainer_process import TrainerRun, isolated_env, run_python, run_trainer, write_job

from trainyard_trainer.metrics_mapping import LOSS_NAMES, VALIDATION_KEYS
from trainyard_trainer.synthetic_dataset import CLASS_NAMES, write_dataset_dir


@pytest.fixture(scope="module")
def training(tmp_path_factory: pytest.TempPathFactory) -> TrainerRun:
    """2 epochs of yolov8n (random init) on 8 train / 4 val 64 px images, under the network guard."""
    work = tmp_path_factory.mktemp("training")
    write_dataset_dir(work / "dataset", train=8, val=4, size=64, seed=0)
    run = run_trainer(write_job(work), work)
    assert run.returncode == 0, (
        f"trainer exited {run.returncode}; events {run.events}\nstderr:\n{run.stderr[-4000:]}"
    )
    return run


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def test_emits_the_protocol_events_in_order(training: TrainerRun) -> None:
    assert training.types() == ["preparing", "epoch", "epoch", "validating", "completed"]
    assert training.events[0] == {
        "type": "preparing",
        "model_source": "architecture",
        "model": "yolov8n.yaml",
    }
    assert [e["epoch"] for e in training.events[1:3]] == [1, 2]
    assert all(e["total_epochs"] == 2 for e in training.events[1:3])


def test_epoch_events_carry_numeric_metrics(training: TrainerRun) -> None:
    for event in training.events[1:3]:
        metrics = event["metrics"]
        assert set(metrics) == {*LOSS_NAMES, *VALIDATION_KEYS}
        assert all(_is_number(v) for v in metrics.values()), f"non-numeric metric in {metrics}"
        assert _is_number(event["epoch_seconds"]) and event["epoch_seconds"] >= 0
        assert _is_number(event["eta_seconds"]) and event["eta_seconds"] >= 0
        # CPU training: the GPU readings exist and are null.
        assert event["resources"] == {"gpu_utilization": None, "memory_used_gb": None, "temperature_c": None}
    assert training.events[2]["eta_seconds"] == 0


def test_completed_event_points_at_real_files(training: TrainerRun) -> None:
    completed = training.events[-1]
    best_pt = Path(completed["best_pt"])
    assert best_pt.is_absolute() and best_pt.is_file() and best_pt.name == "best.pt"
    final = completed["final_metrics"]
    assert all(_is_number(final[k]) for k in (*LOSS_NAMES, *VALIDATION_KEYS)), f"non-numeric in {final}"
    assert final["total_epochs"] == 2
    assert final["best_epoch"] in {1, 2}
    artifacts = completed["artifacts"]
    assert set(artifacts) == {"confusion_matrix", "pr_curve", "f1_curve", "results_csv"}
    for name, path in artifacts.items():
        assert path is not None and Path(path).is_absolute() and Path(path).is_file(), (
            f"{name} missing: {path}"
        )
    assert Path(artifacts["results_csv"]).read_text().count("\n") == 3  # header + one row per epoch


def test_events_never_reach_stdout(training: TrainerRun) -> None:
    for line in training.stdout.splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        assert not (isinstance(parsed, dict) and "type" in parsed), f"event leaked to stdout: {line}"


def test_training_is_offline_and_leaves_home_alone(training: TrainerRun) -> None:
    assert training.guard_installed, "the network guard did not load in the trainer process"
    assert training.network_attempts == [], f"network access attempted: {training.network_attempts}"
    written = sorted(str(p.relative_to(training.home)) for p in training.home.rglob("*"))
    assert written == [], f"trainer wrote under $HOME: {written}"


def test_best_pt_loads_and_predicts_with_ultralytics(training: TrainerRun, tmp_path: Path) -> None:
    best_pt = training.events[-1]["best_pt"]
    image = next((Path(best_pt).parents[2] / "dataset" / "images" / "val").glob("*.png"))
    result = run_python(
        "import json; from ultralytics import YOLO\n"
        f"model = YOLO({best_pt!r})\n"
        f"model.predict({str(image)!r}, imgsz=64, device='cpu', verbose=False)\n"
        "print(json.dumps(list(model.names.values())))",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == list(CLASS_NAMES)


def test_fine_tunes_local_weights_and_stops_at_once_on_sigterm(training: TrainerRun, tmp_path: Path) -> None:
    """The agent cancels a job by SIGTERM; the trainer must die right away, mid-training.

    Starts from the first run's best.pt as pre-fetched weights, which also covers the "weights" model source.
    """
    weights_dir = Path(training.events[-1]["best_pt"]).parent
    dataset = Path(training.events[-1]["best_pt"]).parents[2] / "dataset" / "data.yaml"
    job = write_job(
        tmp_path, data_yaml=str(dataset), base_model="best.pt", weights_dir=str(weights_dir), epochs=100
    )
    env, _, guard_log = isolated_env(tmp_path)
    read_end, write_end = os.pipe()
    child = subprocess.Popen(
        [sys.executable, "-m", "trainyard_trainer", "--job", str(job), "--events-fd", str(write_end)],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    os.close(write_end)
    seen: list[dict[str, object]] = []
    try:
        with os.fdopen(read_end, "r", encoding="utf-8") as events:
            for line in events:  # wait for proof that training runs, not for a fixed time
                seen.append(json.loads(line))
                if seen[-1]["type"] == "epoch":
                    child.send_signal(signal.SIGTERM)
                    break
        assert [e["type"] for e in seen] == ["preparing", "epoch"], f"no epoch to cancel: {seen}"
        assert child.wait(timeout=10) == -signal.SIGTERM
    finally:
        if child.poll() is None:
            child.kill()
    assert seen[0] == {"type": "preparing", "model_source": "weights", "model": str(weights_dir / "best.pt")}
    attempts = [line for line in guard_log.read_text().splitlines() if '"installed"' not in line]
    assert attempts == [], f"network access attempted: {attempts}"
