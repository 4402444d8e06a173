"""Artifact discovery in a run's save dir, across Ultralytics' file-name generations."""

from __future__ import annotations

from pathlib import Path

from trainyard_trainer.artifacts import find_artifacts


def test_finds_existing_artifacts_under_protocol_names_and_leaves_out_the_rest(tmp_path: Path) -> None:
    for name in ("confusion_matrix.png", "PR_curve.png", "BoxPR_curve.png", "results.csv", "BoxP_curve.png"):
        (tmp_path / name).write_bytes(b"x")
    assert find_artifacts(tmp_path) == {
        "confusion_matrix.png": tmp_path / "confusion_matrix.png",
        "pr_curve.png": tmp_path / "BoxPR_curve.png",  # the 8.4 name wins over the older one
        "p_curve.png": tmp_path / "BoxP_curve.png",
        "results.csv": tmp_path / "results.csv",
    }


def test_older_curve_names_are_accepted(tmp_path: Path) -> None:
    (tmp_path / "F1_curve.png").write_bytes(b"x")
    assert find_artifacts(tmp_path) == {"f1_curve.png": tmp_path / "F1_curve.png"}
