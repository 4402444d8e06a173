"""Finds the files a finished run announces, under the names the protocol gives them."""

from __future__ import annotations

from pathlib import Path

# Protocol name → file names Ultralytics may use in the save dir, preferred first. Ultralytics 8.4 prefixes
# curves with the metric head ("Box" for detection); older releases did not.
RUN_ARTIFACTS: dict[str, tuple[str, ...]] = {
    "results.csv": ("results.csv",),
    "results.png": ("results.png",),
    "confusion_matrix.png": ("confusion_matrix.png",),
    "confusion_matrix_normalized.png": ("confusion_matrix_normalized.png",),
    "pr_curve.png": ("BoxPR_curve.png", "PR_curve.png"),
    "f1_curve.png": ("BoxF1_curve.png", "F1_curve.png"),
    "p_curve.png": ("BoxP_curve.png", "P_curve.png"),
    "r_curve.png": ("BoxR_curve.png", "R_curve.png"),
    "args.yaml": ("args.yaml",),
}


def find_artifacts(save_dir: Path) -> dict[str, Path]:
    """Absolute path of each run artifact that exists in `save_dir`; missing ones are left out."""
    found: dict[str, Path] = {}
    for artifact, names in RUN_ARTIFACTS.items():
        existing = [save_dir / name for name in names if (save_dir / name).is_file()]
        if existing:
            found[artifact] = existing[0].resolve()
    return found
