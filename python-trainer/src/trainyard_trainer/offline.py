"""Keeps Ultralytics offline and inside the job's folder.

Training hosts may have no route to the internet, and a job must never fetch code or weights from it.
Ultralytics reaches out in a few places even with YOLO_OFFLINE set (read from the installed 8.4 source):
- `check_font` downloads Arial.ttf / Arial.Unicode.ttf into its config dir (dataset checks, plots).
- `check_amp` (CUDA only) downloads yolo26n.pt to compare FP32 and AMP inference.
- events/telemetry, Sentry, the pip update check and auto-install of missing requirements, gated by the
  `sync` setting, the ONLINE flag (False under YOLO_OFFLINE) and YOLO_AUTOINSTALL.
`prepare_offline_environment` must run before the first `import ultralytics`: Ultralytics reads these
variables and its settings file at import time.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The names check_font asks for; ASCII class names need the first, others the second.
PLOT_FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")

# Copied from ultralytics.utils.checks.check_amp: GPUs whose AMP is known to produce NaN losses.
_AMP_UNSAFE_GPUS = re.compile(
    r"(nvidia|geforce|quadro|tesla).*?(1660|1650|1630|t400|t550|t600|t1000|t1200|t2000|k40m)", re.IGNORECASE
)

# Ultralytics' own logger (ultralytics.utils.LOGGING_NAME), so these lines land in the training log with its own.
_ULTRALYTICS_LOG = logging.getLogger("ultralytics")

# The reference model the stock AMP check runs; it only runs when this file is already local.
AMP_REFERENCE_WEIGHTS = "yolo26n.pt"


def prepare_offline_environment(config_dir: Path) -> None:
    """Point every Ultralytics and matplotlib write at `config_dir` and switch off network features."""
    ultralytics_dir = config_dir / "Ultralytics"  # what get_user_config_dir() appends to YOLO_CONFIG_DIR
    ultralytics_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "true"  # is_online() answers False without a DNS lookup
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)  # settings.json and fonts, never under $HOME
    os.environ["YOLO_AUTOINSTALL"] = "false"  # check_requirements must never pip install
    os.environ["MPLCONFIGDIR"] = str(config_dir / "matplotlib")  # matplotlib's font cache, also not $HOME
    # A Platform API key in the environment would make Ultralytics stream the run to its cloud.
    os.environ.pop("ULTRALYTICS_API_KEY", None)
    stage_plot_fonts(ultralytics_dir)


def stage_plot_fonts(ultralytics_dir: Path) -> None:
    """Put a local font under the names check_font looks for, so it never downloads one.

    check_font returns USER_CONFIG_DIR/<name> when that file exists. Arial is not free to ship, so this stages
    matplotlib's bundled DejaVu Sans (installed anyway, Ultralytics depends on matplotlib) under both
    names; plots only need some TrueType font for their labels.
    """
    source = _bundled_dejavu_sans()
    for name in PLOT_FONT_NAMES:
        target = ultralytics_dir / name
        if not target.exists():
            shutil.copyfile(source, target)


def _bundled_dejavu_sans() -> Path:
    # Located through the import system: importing matplotlib now would fix its config dir too early.
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("matplotlib is not installed; Ultralytics needs it for plots")
    font = Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
    if not font.is_file():
        raise RuntimeError(f"matplotlib's bundled font is missing at {font}")
    return font


def lock_down_ultralytics(weights_dir: Path, run_dir: Path) -> None:
    """Settings and patches that need Ultralytics imported; call once, before building the model."""
    import ultralytics.engine.trainer as trainer_module
    import ultralytics.utils as ultralytics_utils

    ultralytics_utils.SETTINGS.update(  # type: ignore[no-untyped-call]  # Ultralytics is untyped here
        sync=False,  # no events, no Sentry
        api_key="",  # no Platform streaming
        clearml=False,
        comet=False,
        dvc=False,
        mlflow=False,
        raytune=False,
        tensorboard=False,
        wandb=False,
        weights_dir=str(weights_dir),
        datasets_dir=str(run_dir / "datasets"),  # only used for relative dataset paths, which we never pass
        runs_dir=str(run_dir),
    )
    # A module constant computed from the settings at import; the stock AMP check reads it at call time.
    ultralytics_utils.WEIGHTS_DIR = weights_dir
    stock = trainer_module.check_amp  # type: ignore[attr-defined]  # imported there from utils.checks
    trainer_module.check_amp = offline_check_amp(stock, weights_dir)  # type: ignore[attr-defined]


def offline_check_amp(stock: Callable[[Any], bool], weights_dir: Path) -> Callable[[Any], bool]:
    """Wrap Ultralytics' AMP check so it never downloads its reference model.

    Stock behaviour offline: it tries to download yolo26n.pt, gets a ConnectionError, logs "checks skipped"
    and keeps AMP on. This wrapper reaches the same answer without the network: it keeps the known-bad-GPU
    list, runs the full stock check when yolo26n.pt is already in `weights_dir` (where the stock check looks
    once lock_down_ultralytics has pointed WEIGHTS_DIR there), and otherwise keeps AMP on.
    """

    def check_amp(model: Any) -> bool:
        import torch

        device = next(model.parameters()).device
        if device.type in {"cpu", "mps"}:
            return False  # the stock check answers this before any I/O
        if device.type == "cuda" and _AMP_UNSAFE_GPUS.search(torch.cuda.get_device_name(device)):
            _ULTRALYTICS_LOG.warning("AMP: disabled on this GPU, known for NaN losses with AMP.")
            return False
        if (weights_dir / AMP_REFERENCE_WEIGHTS).is_file():
            return stock(model)
        _ULTRALYTICS_LOG.warning(
            "AMP: checks skipped offline (%s is not in %s); training with AMP.",
            AMP_REFERENCE_WEIGHTS,
            weights_dir,
        )
        return True

    return check_amp
