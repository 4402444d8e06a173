"""The real trainer, as a child process, on a generated tiny dataset: one training shared by the module."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from trainer_process import JOB_VALIDATOR, TrainerRun, run_python, run_trainer, write_job

from trainyard_trainer.artifacts import RUN_ARTIFACTS
from trainyard_trainer.metrics_mapping import LOSS_NAMES, VALIDATION_KEYS
from trainyard_trainer.synthetic_dataset import CLASS_NAMES, write_dataset_dir

EPOCHS = 2


@pytest.fixture(scope="module")
def training(tmp_path_factory: pytest.TempPathFactory) -> TrainerRun:
    """2 epochs of yolov8n (random init) on 8 train / 4 val 64 px images, under the network guard."""
    work = tmp_path_factory.mktemp("training")
    write_dataset_dir(work / "dataset", train=8, val=4, size=64, seed=0)
    job = write_job(work, epochs=EPOCHS)
    assert not list(JOB_VALIDATOR.iter_errors(json.loads(job.read_text()))), "the test job breaks the schema"
    run = run_trainer(job, work)
    assert run.returncode == 0, (
        f"trainer exited {run.returncode}; events {run.events}\nstderr:\n{run.stderr[-4000:]}"
    )
    return run


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def test_emits_the_protocol_events_in_order(training: TrainerRun) -> None:
    """Every event already passed the schema check in trainer_process; here their order and content."""
    assert all(event["v"] == 2 for event in training.events)
    kinds = [(e["type"], e.get("phase") or e.get("name")) for e in training.events if e["type"] != "log"]
    assert kinds[:6] == [
        ("phase", "preparing"),
        ("phase", "training"),
        ("artifact", "last.pt"),
        ("epoch", None),
        ("artifact", "last.pt"),
        ("epoch", None),
    ]
    assert kinds[6] == ("phase", "validating")
    assert kinds[-1] == ("done", None)
    assert {name for kind, name in kinds[7:-1]} == {*RUN_ARTIFACTS, "best.pt"}, "each file announced once"
    assert training.events[0]["model_source"] == "architecture"
    assert training.events[0]["model"] == "yolov8n.yaml"
    start = training.events[1]
    assert (start["start_epoch"], start["total_epochs"], start["resumed"]) == (1, EPOCHS, False)
    assert (start["batch_size"], start["image_size"], start["device"]) == (4, 64, "cpu")


def test_epoch_metrics_equal_the_rows_of_results_csv(training: TrainerRun) -> None:
    """Ultralytics writes results.csv with `%.6g`: the events carry the same numbers, unrounded."""
    rows = list(csv.DictReader(Path(training.artifacts()["results.csv"]["path"]).read_text().splitlines()))
    epochs = training.of_type("epoch")
    assert [int(row["epoch"]) for row in rows] == [e["epoch"] for e in epochs] == [1, 2]
    columns = {**{name: f"train/{name}" for name in LOSS_NAMES}, **VALIDATION_KEYS}
    for row, event in zip(rows, epochs, strict=True):
        for name, column in columns.items():
            assert _is_number(event["metrics"][name]), f"epoch {event['epoch']} {name} is not a number"
            assert float(f"{event['metrics'][name]:.6g}") == float(row[column]), (
                f"epoch {event['epoch']} {name}: event {event['metrics'][name]} vs results.csv {row[column]}"
            )


def test_epoch_events_carry_best_duration_eta_and_resources(training: TrainerRun) -> None:
    first, last = training.of_type("epoch")
    for event in (first, last):
        assert event["total_epochs"] == EPOCHS
        assert _is_number(event["epoch_seconds"]) and event["epoch_seconds"] > 0
        resources = event["resources"]
        # CPU training: no GPU readings, the training's RAM instead.
        assert (resources["gpu_utilization"], resources["temperature_c"]) == (None, None)
        assert _is_number(resources["memory_used_gb"]) and resources["memory_used_gb"] > 0.1
        assert resources["ram_used_gb"] == resources["memory_used_gb"]
        assert _is_number(resources["cpu_utilization"])
    assert first["eta_seconds"] == pytest.approx(first["epoch_seconds"], abs=0.1)  # one epoch left
    assert last["eta_seconds"] == 0
    # Random-init tiny runs score 0 throughout: a tie, which best.pt resolves to the later epoch.
    assert first["best"] == {"mAP50": 0.0, "mAP50-95": 0.0, "epoch": 1}
    assert last["best"]["epoch"] == 2


def test_done_event_and_artifacts_point_at_real_files(training: TrainerRun) -> None:
    done = training.events[-1]
    best_pt = Path(done["best_pt"])
    assert best_pt.is_absolute() and best_pt.is_file() and best_pt.name == "best.pt"
    final = done["final_metrics"]
    assert all(_is_number(final[k]) for k in (*LOSS_NAMES, *VALIDATION_KEYS)), f"non-numeric in {final}"
    assert (final["total_epochs"], final["best_epoch"]) == (EPOCHS, 2)
    assert final["box_loss"] == training.of_type("epoch")[1]["metrics"]["box_loss"]  # the best epoch's
    artifacts = training.artifacts()
    for name, event in artifacts.items():
        path = Path(event["path"])
        assert path.is_absolute() and path.is_file() and path.stat().st_size > 0, f"{name} missing: {path}"
    assert Path(artifacts["pr_curve.png"]["path"]).name == "BoxPR_curve.png"
    assert artifacts["last.pt"]["epoch"] == EPOCHS
    assert artifacts["best.pt"]["path"] == done["best_pt"]


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
