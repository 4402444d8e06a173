"""Test-only faults injected into the trainer child process, chosen by $TRAINYARD_TEST_FAULT.

`non_finite_loss_from_epoch=N`: from epoch N (1-based) on, the training losses Ultralytics reports are NaN.
A real divergence cannot be produced on demand on a tiny dataset: Ultralytics' warm-up keeps the learning rate
near zero for the first 100 iterations whatever lr0 is. The fault sits at the library boundary (the trainer's
running loss `tloss`), so the trainer's own detection, the event and the exit code all run for real.

Ultralytics must not be imported here (the trainer sets its offline environment first), so the fault is
installed by an import hook once `ultralytics.utils.callbacks.base` is loaded by the trainer itself.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType
from typing import Any

_TARGET = "ultralytics.utils.callbacks.base"


def _non_finite_loss_from(epoch: int) -> Any:
    def on_train_batch_end(trainer: Any) -> None:
        if trainer.epoch + 1 >= epoch and trainer.tloss is not None:
            trainer.tloss = {k: v * float("nan") for k, v in trainer.tloss.items()}

    return on_train_batch_end


def _install(module: ModuleType) -> None:
    name, _, value = os.environ["TRAINYARD_TEST_FAULT"].partition("=")
    if name != "non_finite_loss_from_epoch":
        raise ValueError(f"unknown TRAINYARD_TEST_FAULT {name!r}")
    module.default_callbacks["on_train_batch_end"].append(_non_finite_loss_from(int(value)))


class _AfterImport(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Any, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _TARGET:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_then_install(module: ModuleType) -> None:
            exec_module(module)
            _install(module)

        loader.exec_module = exec_then_install  # type: ignore[method-assign]
        return spec


sys.meta_path.insert(0, _AfterImport())
