"""Maps whatever a training run raised onto one PRD failure code, message and details."""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterator
from pathlib import PurePath

from trainyard_trainer.errors import FailureCode, TrainerFailure

_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # Ultralytics colours its messages for the terminal
_MESSAGE_LIMIT = 300
_DETAILS_LIMIT = 4000


def classify_failure(error: BaseException, epoch: int | None) -> TrainerFailure:
    """The PRD failure for `error`, raised while training `epoch` (1-based, None before the first epoch)."""
    chain = list(_causes(error))
    for link in chain:
        if isinstance(link, TrainerFailure):
            if link.epoch is None:
                link.epoch = epoch
            return link
    if any(_is_out_of_memory(link) for link in chain):
        code = FailureCode.INSUFFICIENT_MEMORY
    elif any(_is_dataset_error(link) for link in chain):
        code = FailureCode.DATASET_INVALID
    else:
        code = FailureCode.UNKNOWN_ERROR
    return TrainerFailure(code, _summary(error), _details(chain), epoch)


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def is_out_of_memory(error: BaseException) -> bool:
    """True when `error`, or anything in its cause chain, means the device or the host ran out of memory."""
    return any(_is_out_of_memory(link) for link in _causes(error))


# torch.cuda.OutOfMemoryError subclasses RuntimeError; older CUDA paths only say so in the message. On CPU,
# torch's allocator raises RuntimeError("DefaultCPUAllocator: can't allocate memory ..."), Python and numpy
# MemoryError, OpenCV cv2.error("Insufficient memory"), the OS ENOMEM ("Cannot allocate memory").
_OOM_MARKERS = (
    "out of memory",
    "can't allocate memory",
    "cannot allocate memory",
    "insufficient memory",
    "cublas_status_alloc_failed",
)


def _is_out_of_memory(error: BaseException) -> bool:
    text = str(error).lower()
    return (
        isinstance(error, MemoryError)
        or type(error).__name__ == "OutOfMemoryError"
        or any(marker in text for marker in _OOM_MARKERS)
    )


def _is_dataset_error(error: BaseException) -> bool:
    # BaseTrainer.get_dataset wraps every data.yaml problem as "Dataset '<yaml>' error ❌ ...".
    if str(error).startswith("Dataset '"):
        return True
    # Image and label problems are raised by Ultralytics' data package (missing images, no labels, bad files).
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and PurePath(frames[-1].filename).parts[-3:-1] == ("ultralytics", "data")


def _clean(text: str) -> str:
    return _ANSI.sub("", text).strip()


def _summary(error: BaseException) -> str:
    first_line = _clean(str(error)).splitlines()[0] if str(error).strip() else type(error).__name__
    return first_line[:_MESSAGE_LIMIT]


def _details(chain: list[BaseException]) -> str:
    parts = []
    for link in chain:
        frames = traceback.extract_tb(link.__traceback__)
        where = f" (at {PurePath(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
        parts.append(f"{type(link).__name__}: {_clean(str(link))}{where}")
    return "\ncaused by ".join(parts)[:_DETAILS_LIMIT]
