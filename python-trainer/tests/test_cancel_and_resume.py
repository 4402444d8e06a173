"""Stopping the real trainer: SIGKILL then resume, SIGTERM mid-training and while preparing."""

from __future__ import annotations

import csv
import signal
from pathlib import Path

import pytest
from trainer_process import TrainerProcess, TrainerRun, run_python, run_trainer, write_job

from trainyard_trainer.synthetic_dataset import write_dataset_dir

EPOCHS = 3
CANCEL_DEADLINE_S = 10


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("interrupted")
    write_dataset_dir(work / "dataset", train=8, val=4, size=64, seed=0)
    return work


@pytest.fixture(scope="module")
def killed(work: Path) -> TrainerRun:
    """A 3-epoch training SIGKILLed as soon as its first epoch is reported, as if its agent host died."""
    trainer = TrainerProcess(write_job(work, epochs=EPOCHS), work)
    for event in trainer.read_events():
        if event["type"] == "epoch":
            trainer.signal(signal.SIGKILL)
            break
    return trainer.finish()


@pytest.fixture(scope="module")
def resumed(work: Path, killed: TrainerRun) -> TrainerRun:
    """The same job again, from the killed run's last.pt."""
    checkpoint = killed.artifacts()["last.pt"]["path"]
    job = write_job(work, name="resume.json", epochs=EPOCHS, resume_from=checkpoint)
    run = run_trainer(job, work)
    assert run.returncode == 0, f"resume exited {run.returncode}: {run.events}\n{run.stderr[-4000:]}"
    return run


def _checkpoint_epoch(run: TrainerRun) -> int:
    return int(run.artifacts()["last.pt"]["epoch"])


def test_sigkill_leaves_a_whole_last_pt(killed: TrainerRun) -> None:
    assert killed.returncode == -signal.SIGKILL
    assert killed.types()[-1] != "done" and "error" not in killed.types()
    checkpoint = Path(killed.artifacts()["last.pt"]["path"])
    assert checkpoint.is_file() and checkpoint.parent.name == "checkpoints"
    assert not list(checkpoint.parent.glob(".*.partial")), "no half-copied checkpoint is left next to it"


def test_resume_trains_only_the_remaining_epochs(killed: TrainerRun, resumed: TrainerRun) -> None:
    done_before = _checkpoint_epoch(killed)  # 1, or 2 if the kill came late
    assert resumed.events[0]["model_source"] == "checkpoint"
    start = resumed.of_type("phase")[1]
    assert (start["phase"], start["resumed"], start["start_epoch"]) == ("training", True, done_before + 1)
    assert [e["epoch"] for e in resumed.of_type("epoch")] == list(range(done_before + 1, EPOCHS + 1))
    assert resumed.types()[-1] == "done"
    assert resumed.events[-1]["final_metrics"]["total_epochs"] == EPOCHS
    assert resumed.network_attempts == []


def test_resumed_results_csv_has_each_epoch_once(resumed: TrainerRun) -> None:
    rows = list(csv.DictReader(Path(resumed.artifacts()["results.csv"]["path"]).read_text().splitlines()))
    assert [int(row["epoch"]) for row in rows] == list(range(1, EPOCHS + 1))
    for event in resumed.of_type("epoch"):
        row = rows[event["epoch"] - 1]
        assert float(f"{event['metrics']['box_loss']:.6g}") == float(row["train/box_loss"])


def test_sigterm_mid_training_cancels_with_partial_metrics(resumed: TrainerRun, tmp_path: Path) -> None:
    """Fine-tunes the resumed run's best.pt as local weights (the "weights" source), then cancels it."""
    best_pt = Path(resumed.events[-1]["best_pt"])
    job = write_job(
        tmp_path,
        data_yaml=str(best_pt.parents[2] / "dataset" / "data.yaml"),
        base_model="best.pt",
        weights_dir=str(best_pt.parent),
        epochs=100,
    )
    trainer = TrainerProcess(job, tmp_path)
    for event in trainer.read_events():  # wait for proof that training runs, not for a fixed time
        if event["type"] == "epoch":
            trainer.signal(signal.SIGTERM)
            break
    run = trainer.finish()

    assert run.events[0] == {"v": 2, "type": "phase", "phase": "preparing", "model_source": "weights",
                             "model": str(best_pt)}  # fmt: skip
    assert run.returncode == 3, f"expected the CANCELLED exit code: {run.events[-1]}\n{run.stderr[-2000:]}"
    assert run.seconds_after_signal is not None and run.seconds_after_signal < CANCEL_DEADLINE_S
    cancelled = run.events[-1]
    assert (cancelled["type"], cancelled["code"], cancelled["phase"]) == ("error", "CANCELLED", "training")
    last_epoch = run.of_type("epoch")[-1]
    assert cancelled["partial_metrics"] == last_epoch["metrics"], "partial metrics are the last epoch's"
    assert cancelled["epoch"] in {last_epoch["epoch"], last_epoch["epoch"] + 1}
    assert "Traceback" not in cancelled["details"]

    checkpoint = run.artifacts()["last.pt"]
    assert checkpoint["epoch"] == last_epoch["epoch"]
    loaded = run_python(
        f"from ultralytics import YOLO; m = YOLO({checkpoint['path']!r}); print(m.ckpt['epoch'] + 1)",
        tmp_path,
    )
    assert loaded.returncode == 0, loaded.stderr[-4000:]
    assert loaded.stdout.strip().splitlines()[-1] == str(checkpoint["epoch"])
    assert run.network_attempts == []


def test_sigterm_while_preparing_cancels_at_once(work: Path, tmp_path: Path) -> None:
    job = write_job(tmp_path, data_yaml=str(work / "dataset" / "data.yaml"), epochs=1)
    trainer = TrainerProcess(job, tmp_path)
    for event in trainer.read_events():
        if event["type"] == "phase":
            trainer.signal(signal.SIGTERM)
            break
    run = trainer.finish()
    assert run.returncode == 3
    assert run.seconds_after_signal is not None and run.seconds_after_signal < CANCEL_DEADLINE_S
    cancelled = run.events[-1]
    assert (cancelled["code"], cancelled["epoch"], cancelled["partial_metrics"]) == ("CANCELLED", None, None)
    assert "epoch" not in run.types()
