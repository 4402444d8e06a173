"""Steps of bench/gpu-check.sh (issue #5): dataset, job file, GPU sampler, stock-Ultralytics baseline, summary.

Run with python-trainer/src on PYTHONPATH. Each subcommand is one step, so the shell script decides what runs
under which timeout and environment, and a failed step still leaves the others' files for the summary.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

TRAINYARD = "trainyard"
BARE = "bare"
# Files of the work folder that the steps agree on.
JOB_FILE = "job.json"
DATASET_DIR = "dataset"
RUN_DIR = "run"
BASELINE_DIR = "baseline"
AMP_STATE = "amp.json"  # what a finished training's GradScaler said: {"amp": bool, "scale": float | None}
WALL_FILE = "wall.json"  # {"trainyard": {"exit": int, "seconds": float}, "bare": {...}}, written by the shell


def write_dataset(work: Path, train: int, val: int, size: int) -> None:
    """The synthetic shapes dataset as a folder (the zip's content, without deflating incompressible PNGs)."""
    from trainyard_trainer.synthetic_dataset import write_dataset_dir

    write_dataset_dir(work / DATASET_DIR, train=train, val=val, size=size, seed=0)


def write_job(work: Path, device: str, epochs: int, batch: int, size: int, workers: int) -> Path:
    """A TrainerJob as the agent writes it; AMP is not a job field: Ultralytics' default (on for CUDA) applies."""
    job = {
        "job_id": "00000000-0000-4000-8000-00000000005a",
        "data_yaml": str((work / DATASET_DIR / "data.yaml").resolve()),
        "run_dir": str((work / RUN_DIR).resolve()),
        "base_model": "yolov8n.yaml",
        "weights_dir": None,
        "epochs": epochs,
        "batch_size": batch,
        "image_size": size,
        "learning_rate": 0.01,
        "optimizer": None,
        "augmentation": None,
        "device": device,
        "workers": workers,
        "max_memory_gb": None,
    }
    path = work / JOB_FILE
    path.write_text(json.dumps(job, indent=2), encoding="utf-8")
    return path


def sample_gpu(out: Path, interval: float) -> None:
    """Append device-wide NVML readings to `out` until SIGTERM; independent of the trainer's own sampler."""
    try:
        import pynvml  # type: ignore[import-untyped, unused-ignore]  # nvidia-ml-py has no types

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    except Exception as e:  # noqa: BLE001 -- no NVML means no samples, which the summary reports
        print(f"gpu-check: no NVML samples ({type(e).__name__}: {e})", file=sys.stderr)
        return
    stop = False

    def _stop(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    readings = {
        "gpu_util": lambda: pynvml.nvmlDeviceGetUtilizationRates(handle).gpu,
        "mem_util": lambda: pynvml.nvmlDeviceGetUtilizationRates(handle).memory,
        "mem_used_gib": lambda: round(pynvml.nvmlDeviceGetMemoryInfo(handle).used / 1024**3, 2),
        "temp_c": lambda: pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU),
        "power_w": lambda: round(pynvml.nvmlDeviceGetPowerUsage(handle) / 1000),
        "sm_mhz": lambda: pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM),
    }
    with out.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["time", *readings])
        while not stop:
            writer.writerow([f"{time.time():.2f}", *(_reading(read) for read in readings.values())])
            file.flush()
            time.sleep(interval)


def _reading(read: Any) -> Any:
    try:
        return read()
    except Exception:  # noqa: BLE001 -- a reading this GPU or VM does not offer stays empty
        return ""


def run_baseline(work: Path) -> None:
    """The same training with stock Ultralytics: same arguments (the trainer's own mapping), no Trainyard code
    in the loop: no callbacks, no AMP-check wrapper, no settings lock-down. Only the offline environment
    variables and staged fonts are shared, since the machine has no network at all."""
    from trainyard_trainer.dataset_yaml import prepare_dataset_yaml
    from trainyard_trainer.job_config import load_job_config
    from trainyard_trainer.memory_policy import MemoryPlan
    from trainyard_trainer.model_resolution import ModelChoice
    from trainyard_trainer.offline import prepare_offline_environment
    from trainyard_trainer.training_run import Attempt, train_arguments

    job = load_job_config(work / JOB_FILE)
    baseline = (work / BASELINE_DIR).resolve()
    baseline.mkdir(parents=True, exist_ok=True)
    os.chdir(baseline)
    prepare_offline_environment(baseline / "config")
    dataset = prepare_dataset_yaml(job.data_yaml, baseline / "dataset.yaml")
    choice = ModelChoice("architecture", job.base_model)
    arguments = train_arguments(job, Attempt(choice, MemoryPlan(job.batch_size, job.image_size)), dataset, 0)
    arguments.update(project=str(baseline), name="train")
    print(f"gpu-check: YOLO({job.base_model!r}).train(**{arguments})", flush=True)

    from ultralytics import YOLO  # type: ignore[attr-defined]

    model = YOLO(job.base_model)
    model.train(**arguments)
    trainer = model.trainer
    assert trainer is not None, "YOLO.train() returned without a trainer"
    scaler = trainer.scaler
    state = {"amp": bool(trainer.amp), "scale": scaler.get_scale() if scaler.is_enabled() else None}
    (work / BASELINE_DIR / AMP_STATE).write_text(json.dumps(state), encoding="utf-8")


def trainyard_amp(run_dir: Path) -> dict[str, Any] | None:
    """AMP as the trainer's run used it: an enabled GradScaler leaves its scale in the checkpoint."""
    checkpoint = run_dir / "checkpoints" / "last.pt"
    if not checkpoint.is_file():
        return None
    import torch

    scaler = torch.load(checkpoint, map_location="cpu", weights_only=False).get("scaler") or {}
    return {"amp": "scale" in scaler, "scale": scaler.get("scale")}


def epoch_times(results_csv: Path) -> list[float]:
    """Per-epoch seconds from results.csv's cumulative `time` column (train + val, setup excluded)."""
    if not results_csv.is_file():
        return []
    with results_csv.open(encoding="utf-8") as file:
        cumulative = [float(row["time"]) for row in csv.DictReader(file, skipinitialspace=True)]
    return [b - a for a, b in zip([0.0, *cumulative], cumulative, strict=False)]


def amp_lines(log: Path) -> list[str]:
    if not log.is_file():
        return []
    text = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text(errors="replace"))
    return sorted({line.strip() for line in text.splitlines() if "AMP" in line and len(line) < 400})


def guard_attempts(log: Path) -> list[str]:
    if not log.is_file():
        return []
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [f"{e['kind']} {e['target']}" for e in entries if e["kind"] != "installed"]


def gpu_samples(samples: Path, start: float, end: float) -> dict[str, float] | None:
    """Mean and peak of the NVML samples taken between `start` and `end` (unix seconds)."""
    if not samples.is_file():
        return None
    with samples.open(encoding="utf-8") as file:
        rows = [r for r in csv.DictReader(file) if start <= float(r["time"]) <= end]
    if not rows:
        return None

    def column(name: str) -> list[float]:
        return [float(r[name]) for r in rows if r[name] != ""] or [math.nan]

    util = column("gpu_util")
    return {
        "samples": len(rows),
        "util_mean": sum(util) / len(util),
        "util_max": max(util),
        "mem_max_gib": max(column("mem_used_gib")),
        "temp_max_c": max(column("temp_c")),
        "power_max_w": max(column("power_w")),
        "sm_mhz_max": max(column("sm_mhz")),
    }


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def summarize(work: Path, out: Path) -> str:
    """The markdown summary: set-up, per-epoch table, both runs, AMP evidence, NVML telemetry, network guard."""
    job = json.loads((work / JOB_FILE).read_text())
    walls = json.loads((work / WALL_FILE).read_text()) if (work / WALL_FILE).is_file() else {}
    events_file = out / "events.jsonl"
    events = (
        [json.loads(line) for line in events_file.read_text().splitlines()] if events_file.exists() else []
    )
    ours = epoch_times(work / RUN_DIR / "results.csv")
    bare = epoch_times(work / BASELINE_DIR / "train" / "results.csv")
    bare_amp_file = work / BASELINE_DIR / AMP_STATE
    bare_amp = json.loads(bare_amp_file.read_text()) if bare_amp_file.is_file() else None
    terminal = next((e for e in events if e["type"] in {"done", "error"}), None)
    outcome = "no terminal event" if terminal is None else terminal["type"]
    if terminal and terminal["type"] == "error":
        outcome += f" {terminal['code']}: {terminal['message']}"

    train = len(list((work / DATASET_DIR / "images" / "train").glob("*.png")))
    val = len(list((work / DATASET_DIR / "images" / "val").glob("*.png")))
    lines = [
        f"Dataset: synthetic shapes, {train} train / {val} val images at {job['image_size']} px. Job: "
        + f"{job['base_model']} (random init), {job['epochs']} epochs, batch {job['batch_size']}, imgsz "
        + f"{job['image_size']}, SGD lr0 {job['learning_rate']}, workers {job['workers']}, device {job['device']}.",
        "",
        *_epoch_table([e for e in events if e["type"] == "epoch"], bare),
        "",
        _run_line(
            "Trainyard trainer", walls.get(TRAINYARD, {}), outcome, ours, trainyard_amp(work / RUN_DIR)
        ),
        _run_line("Bare Ultralytics", walls.get(BARE, {}), "stock YOLO.train", bare, bare_amp),
    ]
    if ours and bare and TRAINYARD in walls and BARE in walls:
        lines.append(
            f"Ratio Trainyard / bare: wall {walls[TRAINYARD]['seconds'] / walls[BARE]['seconds']:.2f}, "
            f"epochs {sum(ours) / sum(bare):.2f}, epochs after the first "
            f"{sum(ours[1:]) / max(sum(bare[1:]), 1e-9):.2f}."
        )
    for name, run in ((TRAINYARD, "trainer"), (BARE, "bare Ultralytics")):
        span = walls.get(name, {})
        stats = gpu_samples(out / "gpu-samples.csv", span.get("start", 0), span.get("end", 0))
        if stats:
            lines.append(
                f"NVML during the {run} run: {stats['samples']} samples, util mean {stats['util_mean']:.0f}% / "
                f"max {stats['util_max']:.0f}%, memory max {stats['mem_max_gib']:.1f} GiB, temp max "
                f"{stats['temp_max_c']:.0f} °C, power max {stats['power_max_w']:.0f} W, SM clock max "
                f"{stats['sm_mhz_max']:.0f} MHz."
            )
    lines.append("AMP log lines (trainer): " + ("; ".join(amp_lines(out / "train.log")) or "none"))
    lines.append("AMP log lines (bare): " + ("; ".join(amp_lines(out / "baseline.log")) or "none"))
    for name, log in ((TRAINYARD, "network-guard.jsonl"), (BARE, "network-guard-bare.jsonl")):
        attempts = guard_attempts(work / log)
        lines.append(f"Network attempts refused ({name}): {len(attempts)} {attempts[:3] if attempts else ''}")
    return "\n".join(lines) + "\n"


def _epoch_table(epochs: list[dict[str, Any]], bare: list[float]) -> list[str]:
    """One row per epoch event: its duration and telemetry, beside the bare run's epoch time."""
    rows = [
        "| epoch | epoch s (event) | bare epoch s | box loss | mAP50 | mAP50-95 | GPU util % | GPU mem GB "
        + "| GPU °C | CPU % | RAM GB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for event in epochs:
        n, metrics, res = event["epoch"], event["metrics"], event["resources"]
        cells = [
            n,
            _fmt(event["epoch_seconds"]),
            _fmt(bare[n - 1] if n <= len(bare) else None),
            _fmt(metrics["box_loss"], 3),
            _fmt(metrics["mAP50"], 3),
            _fmt(metrics["mAP50-95"], 3),
            _fmt(res["gpu_utilization"], 0),
            _fmt(res["memory_used_gb"]),
            _fmt(res["temperature_c"], 0),
            _fmt(res["cpu_utilization"], 0),
            _fmt(res["ram_used_gb"]),
        ]
        rows.append("| " + " | ".join(str(c) for c in cells) + " |")
    return rows


def _run_line(
    title: str, wall: dict[str, Any], outcome: str, epochs: list[float], amp: dict[str, Any] | None
) -> str:
    return (
        f"{title}: exit {wall.get('exit', '–')} ({outcome}), wall {_fmt(wall.get('seconds'), 1)} s, "
        f"epochs (results.csv) {_fmt(sum(epochs), 1)} s; AMP {_amp_text(amp)}."
    )


def _amp_text(state: dict[str, Any] | None) -> str:
    if state is None:
        return "unknown (no checkpoint)"
    if not state["amp"]:
        return "off"
    return "on" if state["scale"] is None else f"on (GradScaler scale {state['scale']:g})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gpu-check.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    for step in ("dataset", "job", "sample", "baseline", "summary"):
        p = sub.add_parser(step)
        p.add_argument("--work", type=Path, required=True, help="the check's scratch folder")
        p.add_argument("--out", type=Path, help="where the files that come back go")
        p.add_argument("--images", type=int, default=512, help="training images; val gets a quarter")
        p.add_argument("--size", type=int, default=320, help="image side and imgsz, px")
        p.add_argument("--device", default="cuda")
        p.add_argument("--epochs", type=int, default=5)
        p.add_argument("--batch", type=int, default=32)
        p.add_argument("--workers", type=int, default=8)
        p.add_argument("--interval", type=float, default=0.5, help="seconds between NVML samples")
    args = parser.parse_args(argv)
    if args.step == "dataset":
        write_dataset(args.work, args.images, max(1, args.images // 4), args.size)
    elif args.step == "job":
        print(write_job(args.work, args.device, args.epochs, args.batch, args.size, args.workers))
    elif args.step == "sample":
        sample_gpu(args.out / "gpu-samples.csv", args.interval)
    elif args.step == "baseline":
        run_baseline(args.work)
    else:
        summary = summarize(args.work, args.out)
        (args.out / "summary.md").write_text(summary, encoding="utf-8")
        print(summary, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
