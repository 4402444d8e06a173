"""The JSON-lines protocol: schema-valid JSON on every line, nulls for non-finite numbers, nothing after the end."""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import pytest
from trainer_process import parse_event

from trainyard_trainer.errors import FailureCode
from trainyard_trainer.event_stream import EventStream, json_safe

METRICS = {
    "box_loss": math.nan,
    "cls_loss": 1.0,
    "dfl_loss": 1.0,
    "precision": 0.5,
    "recall": 0.5,
    "mAP50": 0.5,
    "mAP50-95": 0.25,
}
RESOURCES = {
    "gpu_utilization": 87.5,
    "memory_used_gb": 12.3,
    "temperature_c": 72.0,
    "cpu_utilization": 101.0,
    "ram_used_gb": 3.2,
}


def test_json_safe_replaces_non_finite_floats_recursively() -> None:
    assert json_safe({"a": math.nan, "b": [1.0, math.inf, {"c": -math.inf}], "d": "x"}) == {
        "a": None,
        "b": [1.0, None, {"c": None}],
        "d": "x",
    }


def _every_event(events: EventStream) -> None:
    events.preparing("architecture", "yolov8n.yaml")
    events.training(start_epoch=3, total_epochs=5, resumed=True, batch_size=8, image_size=64, device="cuda:0")
    events.log("warning", "out of memory with batch 16 at 640 px; retrying with batch 8 at 640 px")
    events.artifact("last.pt", "/run/checkpoints/last.pt", epoch=3)
    best = {"mAP50": 0.5, "mAP50-95": 0.25, "epoch": 3}
    events.epoch(
        epoch=3,
        total_epochs=5,
        metrics=METRICS,
        best=best,
        epoch_seconds=1.5,
        eta_seconds=None,
        resources=RESOURCES,
    )
    events.validating()
    events.artifact("pr_curve.png", "/run/BoxPR_curve.png")


def test_every_event_kind_matches_the_generated_schema() -> None:
    sink = io.StringIO()
    events = EventStream(sink)
    _every_event(events)
    events.done("/run/weights/best.pt", {**METRICS, "box_loss": 1.0, "best_epoch": 3, "total_epochs": 5})
    parsed = [parse_event(line) for line in sink.getvalue().splitlines()]
    assert [e["type"] for e in parsed] == [
        "phase",
        "phase",
        "log",
        "artifact",
        "epoch",
        "phase",
        "artifact",
        "done",
    ]
    assert all(e["v"] == 2 for e in parsed)
    assert parsed[4]["metrics"]["box_loss"] is None  # NaN travels as null


SAMPLE = Path(__file__).parent / "fixtures" / "events.sample.jsonl"


def test_sample_events_file_is_what_the_trainer_writes() -> None:
    """fixtures/events.sample.jsonl is parsed by the agent's zod schema in trainer-process.test.ts, so both
    sides are checked against the same lines. Regenerate with TRAINYARD_UPDATE_SAMPLES=1."""
    sink = io.StringIO()
    events = EventStream(sink)
    _every_event(events)
    events.done("/run/weights/best.pt", {**METRICS, "box_loss": 1.0, "best_epoch": 3, "total_epochs": 5})
    failure = io.StringIO()
    EventStream(failure).error(
        FailureCode.TRAINING_DIVERGED, "training diverged", "box_loss NaN", phase="training", epoch=2,
        partial_metrics=METRICS,
    )  # fmt: skip
    written = sink.getvalue() + failure.getvalue()
    if os.environ.get("TRAINYARD_UPDATE_SAMPLES"):
        SAMPLE.write_text(written, encoding="utf-8")
    assert SAMPLE.read_text(encoding="utf-8") == written, "run with TRAINYARD_UPDATE_SAMPLES=1 to regenerate"


def test_error_events_match_the_schema() -> None:
    sink = io.StringIO()
    EventStream(sink).error(
        FailureCode.CANCELLED, "training cancelled", "SIGTERM after epoch 2", phase="training", epoch=3,
        partial_metrics=METRICS,
    )  # fmt: skip
    event = parse_event(sink.getvalue())
    assert (event["code"], event["epoch"], event["partial_metrics"]["mAP50"]) == ("CANCELLED", 3, 0.5)


def test_nothing_is_emitted_after_a_terminal_event() -> None:
    events = EventStream(io.StringIO())
    events.error(
        FailureCode.TRAINING_DIVERGED, "diverged", "loss NaN", phase="training", epoch=3, partial_metrics=None
    )
    assert events.finished
    with pytest.raises(RuntimeError, match="after the terminal event"):
        events.validating()


def test_writes_through_an_inherited_descriptor_without_closing_it() -> None:
    read_end, write_end = os.pipe()
    try:
        EventStream.from_fd(write_end).validating()
        os.close(write_end)  # still open: the stream must not have closed the agent's descriptor
        with os.fdopen(read_end) as pipe:
            event = parse_event(pipe.readline())
    finally:
        for fd in (read_end, write_end):
            try:
                os.close(fd)
            except OSError:
                pass
    assert event == {"v": 2, "type": "phase", "phase": "validating"}
