"""The job-local data.yaml copy: absolute root, no `download` hook, clear DATASET_INVALID errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from trainyard_trainer.dataset_yaml import prepare_dataset_yaml
from trainyard_trainer.errors import FailureCode, TrainerFailure


def _prepare(tmp_path: Path, text: str) -> dict[str, object]:
    source = tmp_path / "ds" / "data.yaml"
    source.parent.mkdir()
    source.write_text(text)
    out = prepare_dataset_yaml(source, tmp_path / "run" / "dataset.yaml")
    loaded = yaml.safe_load(out.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.mark.parametrize("path_line", ["", "path: .\n", "path: ''\n"])
def test_relative_or_missing_root_becomes_the_yaml_folder(tmp_path: Path, path_line: str) -> None:
    data = _prepare(tmp_path, f"{path_line}train: images/train\nval: images/val\nnames: [a]\n")
    assert data["path"] == str((tmp_path / "ds").resolve())
    assert (data["train"], data["val"], data["names"]) == ("images/train", "images/val", ["a"])


def test_absolute_root_is_kept(tmp_path: Path) -> None:
    data = _prepare(tmp_path, "path: /datasets/x\ntrain: images/train\nval: images/val\nnames: [a]\n")
    assert data["path"] == "/datasets/x"


def test_download_hook_is_dropped(tmp_path: Path) -> None:
    data = _prepare(tmp_path, "train: t\nval: v\nnames: [a]\ndownload: bash ./steal.sh\n")
    assert "download" not in data


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train: [unclosed\n", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
        ("train: images/train\nnames: [a]\n", "no 'val' entry"),
    ],
)
def test_unusable_yaml_is_dataset_invalid(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(TrainerFailure, match=message) as failure:
        _prepare(tmp_path, text)
    assert failure.value.code is FailureCode.DATASET_INVALID


def test_missing_yaml_is_dataset_invalid(tmp_path: Path) -> None:
    with pytest.raises(TrainerFailure) as failure:
        prepare_dataset_yaml(tmp_path / "nope.yaml", tmp_path / "out.yaml")
    assert failure.value.code is FailureCode.DATASET_INVALID
