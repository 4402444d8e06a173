#!/usr/bin/env bash
# The launcher: installs what is missing, builds, then starts NATS, FerretDB, all six services and
# one local trainer-agent; Ctrl-C stops all. `--demo` runs the demo on that stack instead.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.tools/bin:$PATH"
bash scripts/bootstrap.sh
pnpm build >/dev/null
if [ "${1:-}" = "--demo" ]; then exec node packages/stack/dist/demo.js; fi
exec node packages/stack/dist/cli.js
