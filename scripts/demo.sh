#!/usr/bin/env bash
# The demo: installs what is missing, builds, then trains a small YOLO model through the whole
# stack (see packages/stack/src/demo.ts). DEMO_EPOCHS / DEMO_IMAGE_SIZE size the training.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.tools/bin:$PATH"
bash scripts/bootstrap.sh
pnpm build >/dev/null
exec node packages/stack/dist/demo.js
