#!/usr/bin/env bash
# Measures, in one sitting on this machine, the demo's wall time (set-up excluded) against the
# same training run with the bare `yolo` CLI on the same data and hyper-parameters, and prints
# the ratio. Usage: bash bench/demo-vs-yolo-cli.sh   (DEMO_EPOCHS / DEMO_IMAGE_SIZE as in the demo)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.tools/bin:$PATH"
bash scripts/bootstrap.sh >/dev/null
pnpm build >/dev/null
epochs=${DEMO_EPOCHS:-20}
imgsz=${DEMO_IMAGE_SIZE:-128}
out="$root/.run/bench"
rm -rf "$out" && mkdir -p "$out"

echo "== Trainyard demo (stack start, dataset, queueing, training, callbacks, model download)"
t0=$(date +%s.%N)
DEMO_EXIT=1 DEMO_EPOCHS=$epochs DEMO_IMAGE_SIZE=$imgsz node packages/stack/dist/demo.js </dev/null | tee "$out/demo.log" | grep -E '^\[demo\]|DEMO_RESULT'
t1=$(date +%s.%N)
demo=$(echo "$t1 - $t0" | awk '{print $1 - $3}')
training=$(grep -oE '"training_seconds":[0-9.]+' "$out/demo.log" | cut -d: -f2)

echo "== bare yolo CLI on the same dataset (the demo's zip) and configuration"
"$root/.venv/bin/python" -m zipfile -e "$root/.run/demo/shapes.zip" "$out/data"
printf 'path: %s\n' "$out/data" >"$out/data.yaml"
grep -vE '^path:' "$out/data/data.yaml" >>"$out/data.yaml"
t2=$(date +%s.%N)
(cd "$out" && YOLO_OFFLINE=true YOLO_CONFIG_DIR="$out/yolo-config" "$root/.venv/bin/yolo" detect train \
  data="$out/data.yaml" model=yolov8n.yaml epochs="$epochs" imgsz="$imgsz" batch=16 lr0=0.01 optimizer=AdamW \
  hsv_h=0.015 hsv_s=0.7 hsv_v=0.4 degrees=10 translate=0.1 scale=0.5 shear=0 perspective=0 flipud=0 fliplr=0.5 \
  mosaic=1.0 mixup=0 workers=2 device=cpu project="$out/yolo-runs" name=bare exist_ok=True plots=True >"$out/yolo.log" 2>&1) \
  || { tail -30 "$out/yolo.log"; exit 1; }
t3=$(date +%s.%N)
bare=$(echo "$t3 - $t2" | awk '{print $1 - $3}')

printf '\nepochs=%s imgsz=%s\n' "$epochs" "$imgsz"
printf 'demo wall time      %8.1f s  (of which training, agent-measured: %s s)\n' "$demo" "$training"
printf 'bare yolo CLI       %8.1f s\n' "$bare"
printf 'ratio demo / bare   %8.2f\n' "$(echo "$demo $bare" | awk '{print $1 / $2}')"
