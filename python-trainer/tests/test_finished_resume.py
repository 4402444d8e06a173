"""A host lost after the last epoch's checkpoint, before `done`: the re-run completes without training.

Issue 15, defect 2: an agent lost during the final validation (or the artifact upload) left the last
epoch's checkpoint; resuming from it made Ultralytics refuse ("nothing to resume") and the trained job
failed. The re-run must go straight to the final validation, the artifacts and `done`.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from trainer_process import TrainerProcess, TrainerRun, run_trainer, write_job

from trainyard_trainer.synthetic_dataset import write_dataset_dir

EPOCHS = 2


@pytest.fixture(scope="module")
def lost_in_validation(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainerRun]:
    """A 2-epoch training SIGKILLed as its final validation begins, as if its agent host died then."""
    work = tmp_path_factory.mktemp("finished")
    write_dataset_dir(work / "dataset", train=8, val=4, size=64, seed=1)
    trainer = TrainerProcess(write_job(work, epochs=EPOCHS), work)
    for event in trainer.read_events():
        if event["type"] == "phase" and event["phase"] == "validating":
            trainer.signal(signal.SIGKILL)
            break
    return work, trainer.finish()


@pytest.fixture(scope="module")
def completed(lost_in_validation: tuple[Path, TrainerRun]) -> TrainerRun:
    work, lost = lost_in_validation
    checkpoint = lost.artifacts()["last.pt"]
    assert checkpoint["epoch"] == EPOCHS, "the lost run had uploaded its last epoch's checkpoint"
    job = write_job(
        work, name="rerun.json", epochs=EPOCHS, resume_from=checkpoint["path"], run_dir=str(work / "rerun")
    )
    run = run_trainer(job, work)
    assert run.returncode == 0, f"re-run exited {run.returncode}: {run.events[-1:]}\n{run.stderr[-4000:]}"
    return run


def test_the_lost_run_never_finished(lost_in_validation: tuple[Path, TrainerRun]) -> None:
    _, lost = lost_in_validation
    assert lost.returncode == -signal.SIGKILL
    assert "done" not in lost.types() and "error" not in lost.types()


def test_the_rerun_trains_no_epoch_and_goes_straight_to_validation(completed: TrainerRun) -> None:
    assert completed.events[0]["model_source"] == "checkpoint"
    phases = [e["phase"] for e in completed.of_type("phase")]
    assert phases == ["preparing", "validating"], f"no training phase on a finished checkpoint: {phases}"
    assert completed.of_type("epoch") == []
    assert completed.types()[-1] == "done"


def test_the_rerun_reports_a_model_and_final_metrics(completed: TrainerRun) -> None:
    done = completed.events[-1]
    best = Path(done["best_pt"])
    assert best.is_file() and best.stat().st_size > 0
    metrics = done["final_metrics"]
    assert metrics["total_epochs"] == EPOCHS and metrics["best_epoch"] == EPOCHS
    for name in ("mAP50", "mAP50-95", "precision", "recall"):
        assert isinstance(metrics[name], float), f"{name} from the final validation: {metrics}"
    assert isinstance(metrics["box_loss"], float), "losses come from the checkpoint's epoch history"
    assert "results.csv" in completed.artifacts()
    assert completed.network_attempts == []
