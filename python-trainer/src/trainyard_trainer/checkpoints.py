"""last.pt as a resume point: an atomic copy per epoch, and results.csv made to match it on resume."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def publish_checkpoint(source: Path, target: Path) -> Path:
    """Copy `source` to `target` so that `target` is always a whole file, whatever kills the process.

    Ultralytics writes weights/last.pt in place; a SIGKILL during that write leaves a torn file. The copy goes
    to a temporary name in the same folder, is flushed to disk, then renamed over `target` (atomic on POSIX).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    with source.open("rb") as src, partial.open("wb") as dst:
        shutil.copyfileobj(src, dst, length=1 << 20)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(partial, target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # make the rename itself durable
    finally:
        os.close(directory)
    return target


def results_rows(train_results: Mapping[str, Sequence[Any]] | None) -> list[dict[str, Any]]:
    """Rows of the results table a checkpoint carries (`train_results`: column name → values)."""
    if not train_results:
        return []
    columns = list(train_results)
    length = min(len(train_results[c]) for c in columns)
    return [{c: train_results[c][i] for c in columns} for i in range(length)]


def rewrite_results_csv(csv: Path, rows: list[dict[str, Any]]) -> None:
    """Write results.csv as Ultralytics does (`%.6g` per value), holding exactly the checkpoint's epochs.

    On resume Ultralytics appends to an existing results.csv. It may hold a row for an epoch whose checkpoint
    never made it (killed between the two writes), or not exist at all on another host: both would leave the
    table out of step with the epochs actually trained, so it is rebuilt from the checkpoint first.
    """
    if not rows:
        return
    header = ",".join(rows[0])
    lines = [",".join(_cell(v) for v in row.values()) for row in rows]
    csv.parent.mkdir(parents=True, exist_ok=True)
    csv.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")


def _cell(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.6g}"
    return "" if value is None else str(value)
