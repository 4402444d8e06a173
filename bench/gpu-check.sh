#!/usr/bin/env bash
# Issue #5's GPU check: trains the synthetic dataset through the real trainer (`python -m trainyard_trainer`,
# events on fd 3) on the GPU with AMP on, then the same training with stock Ultralytics, and prints the epoch
# times, the epoch events' GPU telemetry, device-wide NVML samples and the AMP evidence, for docs/benchmarks.md.
# Needs python-trainer/src and Ultralytics importable by $PYTHON (on the lent GPU machine: the carried .whl/).
# The wheels that machine lacks (it has torch, numpy, opencv, matplotlib, nvidia-ml-py), fetched here with
#   for w in ultralytics==8.4.190 ultralytics-thop==2.2.3 ultralytics-platform==0.1.99 polars==1.0.0; do
#     python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl "$w"; done
# (polars 1.0.0: the pinned 2.x needs a 54 MB runtime wheel, past the 64 MiB a call may carry), then there:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && PYTHONPATH=/tmp/site bash bench/gpu-check.sh
#
# Usage: bash bench/gpu-check.sh
#   PYTHON               interpreter (default python3)
#   GPU_CHECK_OUT        files that come back: events.jsonl, train.log, baseline.log, gpu-samples.csv, summary.md,
#                        results.csv, baseline-results.csv, environment.txt (default $OUT, else .run/gpu-check)
#   GPU_CHECK_DEVICE     the job's device (default cuda; cpu for a plumbing test without a GPU)
#   GPU_CHECK_EPOCHS / _IMAGES / _SIZE / _BATCH / _WORKERS    default 5 / 512 (val: a quarter) / 320 / 32 / 8
#   GPU_CHECK_BASELINE   1 runs the stock-Ultralytics baseline too (default 1)
#   GPU_CHECK_TIMEOUT    seconds each training may take before SIGTERM (default 150)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
py=${PYTHON:-python3}
case $py in */*) py="$(cd "$(dirname "$py")" && pwd)/$(basename "$py")" ;; esac # steps run elsewhere
out=${GPU_CHECK_OUT:-${OUT:-$root/.run/gpu-check}}
mkdir -p "$out" && out=$(cd "$out" && pwd)
work="$root/.run/gpu-check-work"
rm -rf "$work" && mkdir -p "$work"
export PYTHONPATH="$root/python-trainer/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
# The tests' network guard (sitecustomize): records and refuses every non-loopback connection, so the check
# also proves the CUDA-only AMP path stays offline; there is no network on the GPU machine anyway.
guard="$root/python-trainer/tests/subprocess_site"
step=("$py" "$root/bench/gpu-check.py")
opts=(--work "$work" --out "$out" --device "${GPU_CHECK_DEVICE:-cuda}" --epochs "${GPU_CHECK_EPOCHS:-5}"
  --images "${GPU_CHECK_IMAGES:-512}" --size "${GPU_CHECK_SIZE:-320}" --batch "${GPU_CHECK_BATCH:-32}"
  --workers "${GPU_CHECK_WORKERS:-8}")
limit=${GPU_CHECK_TIMEOUT:-150}
shm_free_mb=$(df -Pm /dev/shm 2>/dev/null | awk 'NR==2 {print $4}')
if [ "${shm_free_mb:-0}" -lt 1024 ] && [ "${GPU_CHECK_WORKERS:-8}" -gt 0 ]; then
  echo "gpu-check: /dev/shm has ${shm_free_mb:-no} MB free, too little for dataloader workers: workers 0"
  opts+=(--workers 0) # argparse keeps the last --workers
fi

echo "== environment"
{
  date -u +%FT%TZ
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit,temperature.gpu --format=csv
  else
    echo "nvidia-smi: not installed"
  fi
  echo "cpus: $(nproc); /dev/shm: $(df -h /dev/shm 2>/dev/null | awk 'NR==2 {print $2 " (" $4 " free)"}')"
  # Importing YOLO also compiles Ultralytics' modules (installed with --no-compile) before either run is timed.
  YOLO_OFFLINE=true YOLO_CONFIG_DIR="$work/env-config" "$py" -c 'import sys, torch, ultralytics, polars
from ultralytics import YOLO
print("python", sys.version.split()[0], "| torch", torch.__version__, "| cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "",
      "| ultralytics", ultralytics.__version__, ultralytics.__file__, "| polars", polars.__version__)' 2>&1
} | tee "$out/environment.txt"

echo "== dataset and job"
t=$(date +%s.%N)
"${step[@]}" dataset "${opts[@]}" || exit 1
job=$("${step[@]}" job "${opts[@]}") || exit 1
echo "dataset in $(awk -v t="$t" -v n="$(date +%s.%N)" 'BEGIN {printf "%.1f", n - t}') s; job $job"

"${step[@]}" sample "${opts[@]}" &
sampler=$!

# Runs one training under the timeout; appends {"name": {exit, seconds, start, end}} to wall.json.
timed() {
  local name=$1 log=$2
  shift 2
  local start end code
  start=$(date +%s.%N)
  timeout -k 15 "$limit" "$@" >"$log" 2>&1
  code=$?
  end=$(date +%s.%N)
  "$py" - "$work/wall.json" "$name" "$code" "$start" "$end" <<'EOF'
import json, pathlib, sys
path, name, code, start, end = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), *map(float, sys.argv[4:])
walls = json.loads(path.read_text()) if path.exists() else {}
walls[name] = {"exit": code, "seconds": end - start, "start": start, "end": end}
path.write_text(json.dumps(walls))
EOF
  printf '%s: exit %s after %.1f s\n' "$name" "$code" "$(awk -v a="$start" -v b="$end" 'BEGIN {print b - a}')"
  [ "$code" = 0 ] || tail -n 25 "$log"
}

echo "== Trainyard trainer (python -m trainyard_trainer --job job.json --events-fd 3)"
(cd "$work" && PYTHONPATH="$guard:$PYTHONPATH" TRAINYARD_NETWORK_GUARD_LOG="$work/network-guard.jsonl" \
  timed trainyard "$out/train.log" "$py" -m trainyard_trainer --job "$job" --events-fd 3 3>"$out/events.jsonl")
cp "$work/run/results.csv" "$out/results.csv" 2>/dev/null

if [ "${GPU_CHECK_BASELINE:-1}" = 1 ]; then
  echo "== bare Ultralytics: YOLO(...).train() with the same arguments"
  rm -f "$work"/dataset/labels/*.cache # the trainer's label cache would spare the baseline its scan
  PYTHONPATH="$guard:$PYTHONPATH" TRAINYARD_NETWORK_GUARD_LOG="$work/network-guard-bare.jsonl" \
    timed bare "$out/baseline.log" "${step[@]}" baseline "${opts[@]}"
  cp "$work/baseline/train/results.csv" "$out/baseline-results.csv" 2>/dev/null
fi

kill -TERM "$sampler" 2>/dev/null
wait "$sampler" 2>/dev/null

echo "== summary (also in summary.md)"
"${step[@]}" summary "${opts[@]}"
