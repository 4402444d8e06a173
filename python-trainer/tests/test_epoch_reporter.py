"""The callbacks that turn Ultralytics' training loop into events.

The trainer here is a stand-in with the attributes BaseTrainer exposes to callbacks: a diverging loss or an
early stop cannot be produced on demand with real training on a tiny dataset, so the library boundary is faked.
The real loop is covered end to end by test_training_integration.py.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

import pytest

from trainyard_trainer.errors import FailureCode, TrainerFailure
from trainyard_trainer.event_stream import EventStream
from trainyard_trainer.training_run import EpochReporter

VALIDATION = {"metrics/precision(B)": 0.5, "metrics/recall(B)": 0.5, "metrics/mAP50(B)": 0.4}


class FakeTrainer:
    """What BaseTrainer looks like to a callback (epoch is 0-based there)."""

    def __init__(self, epoch: int, box_loss: float = 1.0, fitness: float = 0.1, stop: bool = False) -> None:
        self.epoch = epoch
        self.tloss = {"box_loss": box_loss, "cls_loss": 2.0, "dfl_loss": 3.0}
        self.metrics = {**VALIDATION, "metrics/mAP50-95(B)": fitness}
        self.fitness = fitness
        self.epoch_time = 2.0
        self.stop = stop
        self.device = "cpu"

    def label_loss_items(self, loss_items: dict[str, float]) -> dict[str, float]:
        return {f"train/{k}": v for k, v in loss_items.items()}


def _reporter(total_epochs: int) -> tuple[EpochReporter, io.StringIO]:
    sink = io.StringIO()
    return EpochReporter(EventStream(sink), total_epochs), sink


def _events(sink: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in sink.getvalue().splitlines()]


def test_last_epoch_is_followed_by_validating_and_final_eval_is_not_an_epoch() -> None:
    reporter, sink = _reporter(total_epochs=2)
    reporter.on_fit_epoch_end(FakeTrainer(epoch=0, fitness=0.3))
    reporter.on_fit_epoch_end(FakeTrainer(epoch=1, fitness=0.2, stop=True))
    reporter.on_fit_epoch_end(FakeTrainer(epoch=2, fitness=0.9, stop=True))  # BaseTrainer.final_eval's call

    events = _events(sink)
    assert [e["type"] for e in events] == ["epoch", "epoch", "validating"]
    assert events[0]["metrics"]["mAP50-95"] == 0.3 and events[0]["eta_seconds"] == 2.0
    assert reporter.history.best_epoch() == 1


def test_early_stop_also_announces_validation() -> None:
    reporter, sink = _reporter(total_epochs=100)
    reporter.on_fit_epoch_end(FakeTrainer(epoch=0, stop=True))
    assert [e["type"] for e in _events(sink)] == ["epoch", "validating"]


@pytest.mark.parametrize("loss", [math.nan, math.inf])
def test_non_finite_loss_stops_training_as_diverged(loss: float) -> None:
    reporter, sink = _reporter(total_epochs=3)
    trainer = FakeTrainer(epoch=1, box_loss=loss)
    reporter.on_train_epoch_start(trainer)
    with pytest.raises(TrainerFailure) as failure:
        reporter.on_train_epoch_end(trainer)
    assert failure.value.code is FailureCode.TRAINING_DIVERGED
    assert failure.value.epoch == 2 == reporter.current_epoch
    assert "box_loss" in failure.value.message
    assert sink.getvalue() == ""


def test_finite_losses_pass() -> None:
    reporter, _ = _reporter(total_epochs=3)
    reporter.on_train_epoch_end(FakeTrainer(epoch=0))
