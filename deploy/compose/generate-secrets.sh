#!/usr/bin/env bash
# Writes every secret compose.yaml reads into deploy/compose/secrets/ (git-ignored), keeping the
# ones that already exist, so re-running it only fills gaps:
#   nats/<user>.nk, nats/auth.conf   NATS nkeys of admin, each service and each agent; the include
#                                    every NATS node loads (packages/stack/dist/nats-auth.js)
#   api_secret, api_secrets (empty), download_url_secret, dashboard_token, grafana_admin_password
#   mongo_root_password, mongo_app_password, mongo_keyfile, mongo_url (the services' connection)
#
#   sudo ./generate-secrets.sh [--agents gpu-1,gpu-2] [--pool]
#   sudo ./generate-secrets.sh --add-agent gpu-3     # then reload the NATS nodes (deploy/README.md)
#
# Run it as root: it gives each file to the user of the container that reads it (1000: the
# Trainyard images; 472: Grafana), with mode 0600. The NATS credentials come from a built clone
# (pnpm build) when there is one, else from the services image.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secrets="$here/secrets"
agents=gpu-1
nats_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --agents) agents=$2; shift 2 ;;
    --add-agent) nats_args+=(--add-agent "$2"); agents=; shift 2 ;;
    --pool) nats_args+=(--pool); shift ;;
    *) echo "usage: $0 [--agents id,id] [--pool] [--add-agent id]" >&2; exit 2 ;;
  esac
done
[ -n "$agents" ] && nats_args+=(--agents "$agents")

log() { printf '[secrets] %s\n' "$*"; }
random() { head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | cut -c1-40; }
keep_or_write() { # file content-command…
  local file=$1; shift
  if [ -s "$file" ]; then return; fi
  (umask 077 && "$@" >"$file")
  log "wrote ${file#"$here"/}"
}

umask 077
mkdir -p "$secrets/nats"

# --- NATS: one nkey per user and the server's include.
generator="$root/packages/stack/dist/nats-auth.js"
if [ -f "$generator" ] && [ -d "$root/node_modules" ]; then
  node "$generator" --out "$secrets/nats" "${nats_args[@]}"
else
  image=${TRAINYARD_SERVICES_IMAGE:-trainyard-services:latest}
  log "no built clone here: running the generator from $image"
  docker run --rm --user "$(id -u):$(id -g)" -v "$secrets/nats:/out" --entrypoint node "$image" \
    /app/packages/stack/dist/nats-auth.js --out /out "${nats_args[@]}"
fi

# --- Shared secrets of the services.
keep_or_write "$secrets/api_secret" random
# More accepted API tokens during a rotation (deploy/README.md); empty otherwise.
[ -e "$secrets/api_secrets" ] || : >"$secrets/api_secrets"
keep_or_write "$secrets/download_url_secret" random
keep_or_write "$secrets/dashboard_token" random
keep_or_write "$secrets/grafana_admin_password" random

# --- MongoDB: root (administration only), the services' user, the replica set's keyfile.
keep_or_write "$secrets/mongo_root_password" random
keep_or_write "$secrets/mongo_app_password" random
keyfile() { head -c 512 /dev/urandom | base64 | tr -d '\n'; }
mongo_url() { printf 'mongodb://trainyard:%s@mongo:27017/trainyard?replicaSet=rs0&authSource=admin' "$(cat "$secrets/mongo_app_password")"; }
keep_or_write "$secrets/mongo_keyfile" keyfile
keep_or_write "$secrets/mongo_url" mongo_url

# --- Owners: compose mounts each file as it is on the host, so the reading user must own it.
service_files=("$secrets"/nats/*.nk "$secrets"/{api_secret,api_secrets,download_url_secret,dashboard_token,mongo_url})
chmod 0600 "${service_files[@]}" "$secrets"/{grafana_admin_password,mongo_root_password,mongo_app_password,mongo_keyfile}
if [ "$(id -u)" = 0 ]; then
  chown 1000:1000 "${service_files[@]}"
  chown 472:472 "$secrets/grafana_admin_password"
else
  log "not root: the files belong to $(id -un); the containers (uid 1000, Grafana 472) cannot read them"
  log "unless that is their uid. Re-run with sudo before 'docker compose up'."
fi
log "done: $secrets"
