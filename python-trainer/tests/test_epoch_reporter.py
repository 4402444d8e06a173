"""The callbacks that turn Ultralytics' training loop into events.

The trainer here is a stand-in with the attributes BaseTrainer exposes to callbacks: an early stop or a
signal at an exact batch cannot be produced on demand with real training on a tiny dataset, so the library
boundary is faked. The real loop is covered end to end by the integration tests.
"""

from __future__ import annotations

import io
import json
import math
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from trainer_process import parse_event

from trainyard_trainer.cancellation import Cancellation
from trainyard_trainer.epoch_reporter import EpochReporter
from trainyard_trainer.errors import FailureCode, TrainerFailure, TrainingCancelled
from trainyard_trainer.event_stream import EventStream
from trainyard_trainer.memory_policy import MemoryBudget
from trainyard_trainer.resources import ResourceSampler

VALIDATION = {"metrics/precision(B)": 0.5, "metrics/recall(B)": 0.5, "metrics/mAP50(B)": 0.4}


class FakeTrainer:
    """What BaseTrainer looks like to a callback (epoch is 0-based there)."""

    def __init__(
        self, epoch: int, box_loss: float = 1.0, fitness: float = 0.1, stop: bool = False, epochs: int = 2
    ) -> None:
        self.epoch = epoch
        self.epochs = epochs
        self.start_epoch = 0
        self.resume = False
        self.batch_size = 4
        self.args = type("Args", (), {"imgsz": 64})()
        self.tloss = {"box_loss": box_loss, "cls_loss": 2.0, "dfl_loss": 3.0}
        self.metrics = {**VALIDATION, "metrics/mAP50-95(B)": fitness}
        self.fitness = fitness
        self.epoch_time = 2.0
        self.stop = stop
        self.device = "cpu"
        self.last = Path("/nonexistent/last.pt")

    def label_loss_items(self, loss_items: dict[str, float]) -> dict[str, float]:
        return {f"train/{k}": v for k, v in loss_items.items()}


def _reporter(
    tmp_path: Path, ram_gb: float = 1.0, cap: float | None = None
) -> tuple[EpochReporter, io.StringIO]:
    sink = io.StringIO()
    budget = MemoryBudget(cap, "cpu", lambda: int(ram_gb * 1024**3))
    reporter = EpochReporter(EventStream(sink), Cancellation(), tmp_path / "checkpoints" / "last.pt", budget)
    return reporter, sink


def _events(sink: io.StringIO) -> list[dict[str, Any]]:
    return [parse_event(line) for line in sink.getvalue().splitlines()]


def test_last_epoch_is_followed_by_validating_and_final_eval_gives_final_metrics(tmp_path: Path) -> None:
    reporter, sink = _reporter(tmp_path)
    reporter.on_train_start(FakeTrainer(epoch=0))
    reporter.on_fit_epoch_end(FakeTrainer(epoch=0, fitness=0.3))
    reporter.on_fit_epoch_end(FakeTrainer(epoch=1, fitness=0.2, stop=True))
    reporter.on_fit_epoch_end(FakeTrainer(epoch=2, fitness=0.9, stop=True))  # BaseTrainer.final_eval's call

    events = _events(sink)
    assert [(e["type"], e.get("phase")) for e in events] == [
        ("phase", "training"),
        ("epoch", None),
        ("epoch", None),
        ("phase", "validating"),
    ]
    assert events[1]["metrics"]["mAP50-95"] == 0.3 and events[1]["eta_seconds"] == 2.0
    assert events[2]["best"] == {"mAP50": 0.4, "mAP50-95": 0.3, "epoch": 1}
    assert reporter.final_validation is not None and reporter.final_validation["metrics/mAP50-95(B)"] == 0.9
    assert reporter.history.best_epoch() == 1
    assert reporter.last_metrics() == events[2]["metrics"]


def test_early_stop_also_announces_validation(tmp_path: Path) -> None:
    reporter, sink = _reporter(tmp_path)
    reporter.on_fit_epoch_end(FakeTrainer(epoch=0, stop=True, epochs=100))
    assert [e["type"] for e in _events(sink)] == ["epoch", "phase"]


@pytest.mark.parametrize("loss", [math.nan, math.inf])
def test_non_finite_loss_stops_training_as_diverged(tmp_path: Path, loss: float) -> None:
    reporter, sink = _reporter(tmp_path)
    trainer = FakeTrainer(epoch=1, box_loss=loss, epochs=3)
    reporter.on_train_epoch_start(trainer)
    with pytest.raises(TrainerFailure) as failure:
        reporter.on_train_epoch_end(trainer)
    assert failure.value.code is FailureCode.TRAINING_DIVERGED
    assert failure.value.epoch == 2 == reporter.current_epoch
    assert "box_loss" in failure.value.message
    assert sink.getvalue() == ""


def test_sigterm_in_the_training_loop_waits_for_the_next_batch_boundary(tmp_path: Path) -> None:
    reporter, _ = _reporter(tmp_path)
    reporter.cancellation.install()
    try:
        reporter.on_train_start(FakeTrainer(epoch=0))
        os.kill(os.getpid(), signal.SIGTERM)  # deferred: only noted
        assert reporter.cancellation.requested
        with pytest.raises(TrainingCancelled):
            reporter.on_batch_end(FakeTrainer(epoch=0))
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_sigterm_before_training_interrupts_at_once() -> None:
    cancellation = Cancellation()
    cancellation.install()
    try:
        with pytest.raises(TrainingCancelled):
            os.kill(os.getpid(), signal.SIGTERM)
            signal.sigtimedwait([], 0)  # give the interpreter a point at which to run the handler
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_a_batch_over_the_ram_budget_raises_memory_error(tmp_path: Path) -> None:
    reporter, _ = _reporter(tmp_path, ram_gb=2.0, cap=1.5)
    with pytest.raises(MemoryError, match="over its max_memory_gb of 1.5"):
        reporter.on_batch_end(FakeTrainer(epoch=0))
    within, _ = _reporter(tmp_path, ram_gb=1.0, cap=1.5)
    within.on_batch_end(FakeTrainer(epoch=0))


def test_model_save_publishes_an_atomic_copy_of_last_pt(tmp_path: Path) -> None:
    reporter, sink = _reporter(tmp_path)
    trainer = FakeTrainer(epoch=4, epochs=10)
    trainer.last = tmp_path / "weights" / "last.pt"
    trainer.last.parent.mkdir()
    trainer.last.write_bytes(b"checkpoint of epoch 5")
    reporter.on_model_save(trainer)
    (event,) = _events(sink)
    assert (event["name"], event["epoch"]) == ("last.pt", 5)
    assert Path(event["path"]).read_bytes() == b"checkpoint of epoch 5"
    assert reporter.checkpoint_epoch == 5


def test_resources_never_fail_an_epoch(tmp_path: Path) -> None:
    class BrokenSampler(ResourceSampler):
        def __init__(self) -> None:
            super().__init__(nvml_loader=lambda: None)

    reporter, sink = _reporter(tmp_path)
    reporter.sampler = BrokenSampler()
    gpu = FakeTrainer(epoch=0)
    gpu.device = type("Device", (), {"type": "cuda", "index": 0})()  # no CUDA here: every reading fails
    reporter.on_fit_epoch_end(gpu)
    (event,) = _events(sink)
    assert event["resources"]["gpu_utilization"] is None
    assert json.dumps(event)
