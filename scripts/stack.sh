#!/usr/bin/env bash
# The launcher: installs what is missing, builds, then starts NATS, FerretDB, all six services and
# one local trainer-agent; Ctrl-C stops all. `--cluster` starts a local 3-node NATS cluster (R3)
# instead of one server. `--demo` runs the demo on that stack instead.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.tools/bin:$PATH"
bash scripts/bootstrap.sh
pnpm build >/dev/null
for arg in "$@"; do [ "$arg" = "--demo" ] && exec node packages/stack/dist/demo.js "$@"; done
exec node packages/stack/dist/cli.js "$@"
