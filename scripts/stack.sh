#!/usr/bin/env bash
# The launcher: NATS, FerretDB, all six services and one local trainer-agent; Ctrl-C stops all.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.tools/bin:$PATH"
bash scripts/bootstrap.sh
pnpm build >/dev/null
exec node packages/stack/dist/cli.js
