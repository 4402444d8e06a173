"""Turns the dataset's data.yaml into the job-local copy that Ultralytics actually reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from trainyard_trainer.errors import FailureCode, TrainerFailure


def prepare_dataset_yaml(data_yaml: Path, destination: Path) -> Path:
    """Write a copy of `data_yaml` to `destination` that is safe and unambiguous for Ultralytics.

    - `path` becomes absolute. Ultralytics resolves a relative `path` (even "path: .") against the process's
      working directory or its global datasets_dir, not against the yaml's folder.
    - `download` is dropped. Ultralytics runs it (a URL fetch, a bash command or Python code) whenever a
      split is missing, which an uploaded dataset must never trigger.
    The rest (train/val/names/nc...) is left for Ultralytics to validate, so its own messages reach the job.
    """
    try:
        data: Any = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
    except OSError as e:
        raise _invalid(f"cannot read {data_yaml.name}", f"{data_yaml}: {e.strerror or e}") from e
    except yaml.YAMLError as e:
        raise _invalid(f"{data_yaml.name} is not valid YAML", str(e)) from e
    if not isinstance(data, dict):
        raise _invalid(f"{data_yaml.name} must be a mapping", f"{data_yaml} holds {type(data).__name__}")
    for split in ("train", "val"):
        if not data.get(split):
            raise _invalid(f"{data_yaml.name} has no '{split}' entry", "'train' and 'val' are both required")

    root = Path(str(data.get("path") or "."))
    data["path"] = str((root if root.is_absolute() else data_yaml.parent / root).resolve())
    data.pop("download", None)

    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return destination


def _invalid(message: str, details: str) -> TrainerFailure:
    return TrainerFailure(FailureCode.DATASET_INVALID, message, details)
