"""The one typed settings object and the exit codes the agent relies on."""

from __future__ import annotations

import json
from pathlib import Path

from trainyard_trainer.settings import PROTOCOL_VERSION, ExitCode, TrainerSettings

SCHEMA = Path(__file__).parents[1] / "src" / "trainyard_trainer" / "protocol.schema.json"


def test_only_the_weights_dir_comes_from_the_environment() -> None:
    assert TrainerSettings.from_env({}).extra_weights_dir is None
    assert TrainerSettings.from_env({"TRAINYARD_WEIGHTS_DIR": "/srv/weights"}).extra_weights_dir == Path(
        "/srv/weights"
    )


def test_exit_codes_are_stable() -> None:
    assert [(c.name, int(c)) for c in ExitCode] == [
        ("DONE", 0),
        ("FAILED", 1),
        ("USAGE", 2),
        ("CANCELLED", 3),
    ]


def test_protocol_version_matches_the_generated_schema() -> None:
    """Every event of the schema pins `v` to the contracts' TRAINER_PROTOCOL_VERSION."""
    text = json.dumps(json.loads(SCHEMA.read_text())["TrainerEvent"])
    assert (
        text.count('"v": {"type": "number", "const": ')
        == text.count(f'"v": {{"type": "number", "const": {PROTOCOL_VERSION}}}')
        > 0
    )
