"""Finds the plots and tables Ultralytics leaves in a run's save dir."""

from __future__ import annotations

from pathlib import Path

# Ultralytics 8.4 prefixes curves with the metric head ("Box" for detection); older releases did not.
ARTIFACT_CANDIDATES = {
    "confusion_matrix": ("confusion_matrix.png",),
    "pr_curve": ("BoxPR_curve.png", "PR_curve.png"),
    "f1_curve": ("BoxF1_curve.png", "F1_curve.png"),
    "results_csv": ("results.csv",),
}


def find_artifacts(save_dir: Path) -> dict[str, str | None]:
    """Absolute path of each artifact that exists in `save_dir`, None for those that do not."""
    found: dict[str, str | None] = {}
    for artifact, names in ARTIFACT_CANDIDATES.items():
        existing = [save_dir / name for name in names if (save_dir / name).is_file()]
        found[artifact] = str(existing[0].resolve()) if existing else None
    return found
