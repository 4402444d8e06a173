"""The job file written by the trainer-agent, parsed once into one typed, validated object."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AUGMENTATION_KEYS = (
    "hsv_h",
    "hsv_s",
    "hsv_v",
    "degrees",
    "translate",
    "scale",
    "shear",
    "perspective",
    "flipud",
    "fliplr",
    "mosaic",
    "mixup",
)

# Ultralytics rejects these outside [0, 1] (ultralytics.cfg.CFG_FRACTION_KEYS); checked here to name the field.
FRACTION_KEYS = frozenset(
    {"hsv_h", "hsv_s", "hsv_v", "translate", "perspective", "flipud", "fliplr", "mosaic", "mixup"}
)

# Ultralytics' own optimizer names (BaseTrainer.build_optimizer); matched case-insensitively like it does.
OPTIMIZERS = ("SGD", "MuSGD", "Adam", "Adamax", "AdamW", "NAdam", "RAdam", "RMSprop", "auto")

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")


class JobConfigError(ValueError):
    """The job file is missing, unreadable or has a field of the wrong shape; the message names the field."""


@dataclass(frozen=True)
class JobConfig:
    """One training job, as the trainer-agent hands it over."""

    job_id: str
    data_yaml: Path  # the extracted dataset's data.yaml (absolute)
    run_dir: Path  # everything this job writes lands here (absolute)
    base_model: str  # a bare file name such as "yolov8n.pt", never a path or URL
    weights_dir: Path | None  # where pre-fetched base weights live; None when the host has none
    epochs: int
    batch_size: int
    image_size: int
    learning_rate: float
    optimizer: str | None  # canonical Ultralytics spelling, None when the job leaves it open
    augmentation: dict[str, float]  # only the keys the job set; Ultralytics defaults fill the rest
    device: str  # "cpu", "cuda" or "cuda:N"
    workers: int
    max_memory_gb: float | None  # best-effort cap on device memory (RAM on CPU); None for no cap
    resume_from: Path | None  # last.pt of an interrupted run of this job; None for a fresh start


def load_job_config(path: Path) -> JobConfig:
    """Read and validate the job file at `path`."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise JobConfigError(f"cannot read job file {path}: {e.strerror or e}") from e
    except json.JSONDecodeError as e:
        raise JobConfigError(f"job file {path} is not valid JSON: {e}") from e
    return parse_job_config(raw)


def parse_job_config(raw: Any) -> JobConfig:
    """Validate an already-decoded job object.

    Unknown top-level keys are ignored so the agent can add fields without breaking older trainers; an
    absent `max_memory_gb` or `resume_from` means null. Every value is checked here, before Ultralytics is
    imported, so a bad job fails in milliseconds instead of after model and dataset loading.
    """
    if not isinstance(raw, dict):
        raise JobConfigError("job file must hold a JSON object")
    weights_dir = raw.get("weights_dir")
    resume_from = raw.get("resume_from")
    return JobConfig(
        job_id=_text(raw, "job_id"),
        data_yaml=_absolute_path(raw, "data_yaml"),
        run_dir=_absolute_path(raw, "run_dir"),
        base_model=_model_file_name(raw),
        weights_dir=None if weights_dir is None else _absolute_path(raw, "weights_dir"),
        epochs=_integer(raw, "epochs", minimum=1),
        batch_size=_integer(raw, "batch_size", minimum=1),
        image_size=_integer(raw, "image_size", minimum=32),
        learning_rate=_learning_rate(raw),
        optimizer=_optimizer(raw.get("optimizer")),
        augmentation=_augmentation(raw.get("augmentation")),
        device=_device(raw),
        workers=_integer(raw, "workers", minimum=0),
        max_memory_gb=_max_memory_gb(raw.get("max_memory_gb")),
        resume_from=None if resume_from is None else _absolute_path(raw, "resume_from"),
    )


def _text(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise JobConfigError(f"'{key}' must be a non-empty string, got {value!r}")
    return value


def _absolute_path(raw: dict[str, Any], key: str) -> Path:
    path = Path(_text(raw, key))
    if not path.is_absolute():
        raise JobConfigError(f"'{key}' must be an absolute path, got {str(path)!r}")
    return path


def _model_file_name(raw: dict[str, Any]) -> str:
    name = _text(raw, "base_model")
    # A path or URL here would let a job read arbitrary files or make Ultralytics download something.
    if "/" in name or "\\" in name or ":" in name or name in {".", ".."}:
        raise JobConfigError(f"'base_model' must be a bare file name such as 'yolov8n.pt', got {name!r}")
    return name


def _integer(raw: dict[str, Any], key: str, minimum: int) -> int:
    value = raw.get(key)
    # bool is an int subclass in Python; `true` is never a valid count.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise JobConfigError(f"'{key}' must be an integer >= {minimum}, got {value!r}")
    return value


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise JobConfigError(f"'{key}' must be a finite number, got {value!r}")
    return float(value)


def _learning_rate(raw: dict[str, Any]) -> float:
    value = _number(raw.get("learning_rate"), "learning_rate")
    if not 0 < value <= 1:  # Ultralytics' lr0 is a fraction
        raise JobConfigError(f"'learning_rate' must be in (0, 1], got {value!r}")
    return value


def _max_memory_gb(value: Any) -> float | None:
    if value is None:
        return None
    number = _number(value, "max_memory_gb")
    if number <= 0:
        raise JobConfigError(f"'max_memory_gb' must be null or a positive number, got {value!r}")
    return number


def _optimizer(value: Any) -> str | None:
    if value is None:
        return None
    canonical = {name.lower(): name for name in OPTIMIZERS}
    if not isinstance(value, str) or value.lower() not in canonical:
        raise JobConfigError(f"'optimizer' must be null or one of {', '.join(OPTIMIZERS)}, got {value!r}")
    return canonical[value.lower()]


def _augmentation(value: Any) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise JobConfigError(f"'augmentation' must be null or an object, got {value!r}")
    # Unknown keys are rejected rather than dropped: a typo would otherwise silently train with defaults.
    unknown = sorted(set(value) - set(AUGMENTATION_KEYS))
    if unknown:
        raise JobConfigError(
            f"'augmentation' has unknown keys {unknown}; allowed: {', '.join(AUGMENTATION_KEYS)}"
        )
    augmentation = {key: _number(v, f"augmentation.{key}") for key, v in value.items() if v is not None}
    for key, number in augmentation.items():
        if key in FRACTION_KEYS and not 0 <= number <= 1:
            raise JobConfigError(f"'augmentation.{key}' must be in [0, 1], got {number!r}")
    return augmentation


def _device(raw: dict[str, Any]) -> str:
    device = _text(raw, "device")
    if not _DEVICE.match(device):
        raise JobConfigError(f"'device' must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return device
