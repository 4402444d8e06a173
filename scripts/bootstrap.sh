#!/usr/bin/env bash
# Installs everything Trainyard needs for development, tests and the demo, idempotently,
# into ignored project-local folders (.tools/, .venv/, node_modules/). Safe to re-run:
# each step is skipped when its pinned output is already present.
#
#   bash scripts/bootstrap.sh           everything: servers, browser, venv, workspace
#   bash scripts/bootstrap.sh --agent   only what a trainer-agent host needs (scripts/join.sh):
#                                       OpenCV's libraries, the trainer's venv (none when
#                                       TRAINER_PYTHON names one), the agent's node_modules,
#                                       and the agent built; no Go, no servers, no browser
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

mode=all
case "${1:-}" in
  "") ;;
  --agent) mode=agent ;;
  *) echo "usage: bash scripts/bootstrap.sh [--agent]" >&2; exit 2 ;;
esac

NATS_SERVER_VERSION=v2.15.2
FERRETDB_VERSION=v1.24.2
PNPM_VERSION=12.4.2

log() { printf '[bootstrap] %s\n' "$*"; }
if [ "$mode" = all ]; then
  command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
  command -v go >/dev/null || { log "Go is required (https://go.dev/dl/)"; exit 1; }
fi
mkdir -p .tools/bin

# --- Debian packages: OpenCV (pulled in by ultralytics) needs libGL and glib.
need_apt=()
if [ "$mode" = agent ] && ! command -v dpkg >/dev/null; then
  log "not a Debian host: make sure libGL and glib (OpenCV's libraries) are installed"
else
  for pkg in libgl1 libglib2.0-0; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
  done
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# --- Debian's Chromium for the dashboard's browser tests (playwright-core drives it; no browser download).
if [ "$mode" = all ] && [ ! -x /usr/bin/chromium ]; then
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
if [ "$mode" = all ]; then go_tool nats-server github.com/nats-io/nats-server/v2 "$NATS_SERVER_VERSION"; fi
# FerretDB's binary refuses to start unless build/version/version.txt names its version, a file
# its release process generates and the module zip lacks; so build it from a copy of the module.
if [ "$mode" = all ] && [ "$(cat .tools/bin/.ferretdb.version 2>/dev/null)" != "$FERRETDB_VERSION" ]; then
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
agent_stamp=.venv/.trainyard-agent-stamp
if [ "$mode" = agent ]; then
  # An agent host needs the trainer without its dev tools, and no venv at all when TRAINER_PYTHON
  # names an interpreter of its own (the agent's preflight checks that it has the trainer).
  if [ -n "${TRAINER_PYTHON:-}" ]; then
    log "TRAINER_PYTHON=$TRAINER_PYTHON: no venv"
  elif [ "$(cat "$py_stamp" 2>/dev/null)" != "$py_want" ] && [ "$(cat "$agent_stamp" 2>/dev/null)" != "$py_want" ]; then
    log "python venv (.venv) with the trainer; the first run downloads torch (several GB)"
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e python-trainer
    echo "$py_want" >"$agent_stamp"
  fi
elif [ "$(cat "$py_stamp" 2>/dev/null)" != "$py_want" ]; then
  log "python venv (.venv) with ultralytics; the first run downloads torch (several GB)"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e "python-trainer[dev]"
  echo "$py_want" >"$py_stamp"
fi

# --- Node workspace via a pinned pnpm installed locally (an agent host may have it on its PATH).
pnpm=.tools/bin/pnpm
if [ "$mode" = agent ] && [ "$(pnpm --version 2>/dev/null)" = "$PNPM_VERSION" ]; then
  pnpm=pnpm
else
  if [ "$(.tools/pnpm/node_modules/.bin/pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
    log "npm install pnpm@$PNPM_VERSION"
    npm install --silent --prefix .tools/pnpm "pnpm@$PNPM_VERSION" >/dev/null
  fi
  ln -sf ../pnpm/node_modules/.bin/pnpm .tools/bin/pnpm
fi
if [ "$mode" = agent ]; then
  log "pnpm install (the trainer-agent and what it imports)"
  "$pnpm" install --frozen-lockfile --reporter=silent --filter "@trainyard/trainer-agent..."
  log "build the trainer-agent"
  node_modules/.bin/tsc -b services/trainer-agent
elif [ -f pnpm-lock.yaml ]; then
  log "pnpm install"
  .tools/bin/pnpm install --frozen-lockfile --reporter=silent
fi

# --- Tools that check deploy/ without Docker: helm, kubeconform, docker-compose, hadolint, schemas.
[ "$mode" = agent ] || bash scripts/bootstrap-deploy-tools.sh
log "done"
