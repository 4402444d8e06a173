"""Decides which local file a job's base model is built from; the trainer never downloads one."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from trainyard_trainer.errors import FailureCode, TrainerFailure

# Ultralytics builds "yolov8n.yaml" from the family file "yolov8.yaml" with scale "n"
# (ultralytics.nn.tasks.yaml_model_load).
_SCALE = re.compile(r"(\d+)([nslmx])(.+)?$")


@dataclass(frozen=True)
class ModelChoice:
    """The file a model is built from: weights, an architecture yaml (random init) or a resume checkpoint."""

    source: Literal["weights", "architecture", "checkpoint"]
    model: str  # absolute path for weights; a bare yaml name that Ultralytics finds in its own package


def installed_architectures() -> frozenset[str]:
    """Names of the model yaml files shipped inside the installed Ultralytics package.

    Found via the import system without importing Ultralytics, which must only be imported after the
    offline environment is in place.
    """
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    models = Path(next(iter(spec.submodule_search_locations))) / "cfg" / "models"
    return frozenset(p.name for p in models.rglob("*.yaml"))


def architecture_for(stem: str, architectures: frozenset[str]) -> str | None:
    """The yaml name Ultralytics can build for a model stem such as "yolov8n", or None."""
    if f"{stem}.yaml" in architectures:
        return f"{stem}.yaml"
    family = _SCALE.sub(r"\1\3", stem)
    if family != stem and f"{family}.yaml" in architectures:
        return f"{stem}.yaml"  # keep the scale letter in the name: it is how Ultralytics picks the scale
    if stem.endswith("u"):
        # "yolov5nu.pt" names the anchor-free YOLOv5 weights, which the plain yolov5.yaml already builds.
        return architecture_for(stem[:-1], architectures)
    return None


def resolve_model(
    base_model: str, weights_dirs: Sequence[Path], architectures: frozenset[str]
) -> ModelChoice:
    """Local weights first (`weights_dirs` in order), then the matching architecture; never a download."""
    for weights_dir in weights_dirs:
        weights = weights_dir / base_model
        if weights.is_file():
            return ModelChoice("weights", str(weights))
    path = Path(base_model)
    if path.suffix in {".pt", ".yaml"}:
        architecture = architecture_for(path.stem, architectures)
        if architecture is not None:
            return ModelChoice("architecture", architecture)
    raise TrainerFailure(
        FailureCode.MODEL_DOWNLOAD_FAILED,
        f"base model {base_model!r} is not available offline",
        f"no file {base_model!r} in {_describe(weights_dirs)}, and no Ultralytics architecture matches it; "
        f"the trainer never downloads models. Available weights: {_available_weights(weights_dirs)}. "
        "Any architecture yaml shipped with Ultralytics also trains from scratch "
        "(e.g. yolov8n.yaml, yolo11s.yaml, yolo26n.yaml; a .pt name without local weights means its yaml).",
    )


def _describe(weights_dirs: Sequence[Path]) -> str:
    return ", ".join(str(d) for d in weights_dirs) if weights_dirs else "(no weights directory configured)"


def _available_weights(weights_dirs: Sequence[Path]) -> str:
    names = sorted({p.name for d in weights_dirs if d.is_dir() for p in d.glob("*.pt") if p.is_file()})
    return ", ".join(names) if names else "none"
