#!/usr/bin/env bash
# Installs everything Trainyard needs for development, tests and the demo, idempotently,
# into ignored project-local folders (.tools/, .venv/, node_modules/). Safe to re-run:
# each step is skipped when its pinned output is already present.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

NATS_SERVER_VERSION=v2.15.2
FERRETDB_VERSION=v1.24.2
PNPM_VERSION=12.4.2

log() { printf '[bootstrap] %s\n' "$*"; }
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { log "Go is required (https://go.dev/dl/)"; exit 1; }
mkdir -p .tools/bin

# --- Debian packages: OpenCV (pulled in by ultralytics) needs libGL and glib.
need_apt=()
for pkg in libgl1 libglib2.0-0; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# --- Debian's Chromium for the dashboard's browser tests (playwright-core drives it; no browser download).
if [ ! -x /usr/bin/chromium ]; then
  log "apt-get install chromium"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# --- Go-built servers: NATS (JetStream) and FerretDB (Mongo wire protocol over SQLite).
go_tool() { # name module version
  local name=$1 module=$2 version=$3 stamp=".tools/bin/.$1.version"
  if [ -x ".tools/bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then return; fi
  log "go install $module@$version"
  GOBIN="$root/.tools/bin" GOFLAGS=-mod=mod go install "$module@$version"
  echo "$version" >"$stamp"
}
go_tool nats-server github.com/nats-io/nats-server/v2 "$NATS_SERVER_VERSION"
# FerretDB's binary refuses to start unless build/version/version.txt names its version, a file
# its release process generates and the module zip lacks; so build it from a copy of the module.
if [ "$(cat .tools/bin/.ferretdb.version 2>/dev/null)" != "$FERRETDB_VERSION" ]; then
  log "build FerretDB $FERRETDB_VERSION"
  src=$(GOFLAGS=-mod=mod go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  rm -rf .tools/src/ferretdb && mkdir -p .tools/src && cp -r "$src" .tools/src/ferretdb && chmod -R u+w .tools/src/ferretdb
  echo "$FERRETDB_VERSION" >.tools/src/ferretdb/build/version/version.txt
  (cd .tools/src/ferretdb && go build -o "$root/.tools/bin/ferretdb" ./cmd/ferretdb)
  echo "$FERRETDB_VERSION" >.tools/bin/.ferretdb.version
fi

# --- Python venv with Ultralytics (torch comes from PyPI) and the trainer package.
py_stamp=.venv/.trainyard-stamp
py_want=$(cat python-trainer/pyproject.toml | sha256sum | cut -c1-16)
if [ "$(cat "$py_stamp" 2>/dev/null)" != "$py_want" ]; then
  log "python venv (.venv) with ultralytics; the first run downloads torch (several GB)"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e "python-trainer[dev]"
  echo "$py_want" >"$py_stamp"
fi

# --- Node workspace via a pinned pnpm installed locally.
if [ "$(.tools/pnpm/node_modules/.bin/pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  log "npm install pnpm@$PNPM_VERSION"
  npm install --silent --prefix .tools/pnpm "pnpm@$PNPM_VERSION" >/dev/null
fi
ln -sf ../pnpm/node_modules/.bin/pnpm .tools/bin/pnpm
if [ -f pnpm-lock.yaml ]; then
  log "pnpm install"
  .tools/bin/pnpm install --frozen-lockfile --reporter=silent
fi
log "done"
