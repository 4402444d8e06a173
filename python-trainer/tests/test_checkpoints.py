"""last.pt copies that survive SIGKILL, and results.csv rebuilt from a checkpoint on resume."""

from __future__ import annotations

import csv
from pathlib import Path

from trainyard_trainer.checkpoints import publish_checkpoint, results_rows, rewrite_results_csv


def test_publish_replaces_the_target_whole(tmp_path: Path) -> None:
    source = tmp_path / "weights" / "last.pt"
    source.parent.mkdir()
    target = tmp_path / "checkpoints" / "last.pt"
    for content in (b"epoch 1", b"epoch 2, longer"):
        source.write_bytes(content)
        assert publish_checkpoint(source, target) == target
        assert target.read_bytes() == content
    assert sorted(p.name for p in target.parent.iterdir()) == ["last.pt"], "no temporary file is left"


def test_results_csv_is_rebuilt_from_the_checkpoints_table(tmp_path: Path) -> None:
    # As Ultralytics stores it in last.pt: columns parsed back by polars (0 became an int, as in the csv).
    table: dict[str, list[float]] = {
        "epoch": [1, 2],
        "time": [0.184641, 0.200984],
        "train/box_loss": [3.26578, 3.21836],
        "metrics/mAP50(B)": [0, 0.000123456789],
    }
    csv_file = tmp_path / "results.csv"
    csv_file.write_text("stale row for an epoch whose checkpoint was lost\n")
    rewrite_results_csv(csv_file, results_rows(table))
    assert csv_file.read_text().splitlines() == [
        "epoch,time,train/box_loss,metrics/mAP50(B)",
        "1,0.184641,3.26578,0",
        "2,0.200984,3.21836,0.000123457",  # %.6g, exactly as Ultralytics writes it
    ]
    assert [row["epoch"] for row in csv.DictReader(csv_file.read_text().splitlines())] == ["1", "2"]


def test_an_empty_table_leaves_results_csv_alone(tmp_path: Path) -> None:
    csv_file = tmp_path / "results.csv"
    rewrite_results_csv(csv_file, results_rows(None))
    rewrite_results_csv(csv_file, results_rows({}))
    assert not csv_file.exists()
