"""Artifact discovery in a run's save dir, across Ultralytics' file-name generations."""

from __future__ import annotations

from pathlib import Path

from trainyard_trainer.artifacts import find_artifacts


def test_finds_existing_artifacts_and_nulls_the_rest(tmp_path: Path) -> None:
    for name in ("confusion_matrix.png", "PR_curve.png", "BoxPR_curve.png", "results.csv"):
        (tmp_path / name).write_bytes(b"x")
    assert find_artifacts(tmp_path) == {
        "confusion_matrix": str(tmp_path / "confusion_matrix.png"),
        "pr_curve": str(tmp_path / "BoxPR_curve.png"),  # the 8.4 name wins over the older one
        "f1_curve": None,
        "results_csv": str(tmp_path / "results.csv"),
    }


def test_older_curve_names_are_accepted(tmp_path: Path) -> None:
    (tmp_path / "F1_curve.png").write_bytes(b"x")
    assert find_artifacts(tmp_path)["f1_curve"] == str(tmp_path / "F1_curve.png")
