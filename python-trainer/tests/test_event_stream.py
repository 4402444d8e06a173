"""The JSON-lines protocol: valid JSON on every line, nulls for non-finite numbers, nothing after the end."""

from __future__ import annotations

import io
import json
import math
import os

import pytest

from trainyard_trainer.errors import FailureCode
from trainyard_trainer.event_stream import EventStream, json_safe


def test_json_safe_replaces_non_finite_floats_recursively() -> None:
    assert json_safe({"a": math.nan, "b": [1.0, math.inf, {"c": -math.inf}], "d": "x"}) == {
        "a": None,
        "b": [1.0, None, {"c": None}],
        "d": "x",
    }


def test_each_event_is_one_json_line() -> None:
    sink = io.StringIO()
    events = EventStream(sink)
    events.preparing("architecture", "yolov8n.yaml")
    events.epoch(1, 2, {"box_loss": math.nan, "mAP50": 0.5}, 1.5, 1.5, {"gpu_utilization": None})
    events.validating()
    lines = sink.getvalue().splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["preparing", "epoch", "validating"]
    assert json.loads(lines[1])["metrics"] == {"box_loss": None, "mAP50": 0.5}


def test_nothing_is_emitted_after_a_terminal_event() -> None:
    events = EventStream(io.StringIO())
    events.failed(FailureCode.TRAINING_DIVERGED, "diverged", "loss NaN", 3)
    assert events.finished
    with pytest.raises(RuntimeError, match="after the terminal event"):
        events.validating()


def test_writes_through_an_inherited_descriptor_without_closing_it() -> None:
    read_end, write_end = os.pipe()
    try:
        EventStream.from_fd(write_end).completed("/run/weights/best.pt", {"mAP50": 0.5}, {"pr_curve": None})
        os.close(write_end)  # still open: the stream must not have closed the agent's descriptor
        with os.fdopen(read_end) as pipe:
            event = json.loads(pipe.readline())
    finally:
        for fd in (read_end, write_end):
            try:
                os.close(fd)
            except OSError:
                pass
    assert event == {
        "type": "completed",
        "best_pt": "/run/weights/best.pt",
        "final_metrics": {"mAP50": 0.5},
        "artifacts": {"pr_curve": None},
    }
