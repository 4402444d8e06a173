#!/bin/sh
# Entrypoint of both Trainyard images.
#
# Secrets the services read from their environment can come from files instead (compose and
# Kubernetes secrets): NAME_FILE=/run/secrets/x sets NAME to the file's contents, the convention of
# the official database images. NATS credentials need no such step: the services read
# NATS_NKEY_SEED_FILE / NATS_CREDS_FILE themselves.
#
# Without arguments it starts the service named by TRAINYARD_SERVICE; with arguments it runs them
# (`node packages/runtime/dist/provision.js`, `node packages/stack/dist/nats-auth.js …`).
set -eu

for name in API_SECRET API_SECRETS DOWNLOAD_URL_SECRET DASHBOARD_TOKEN GATEWAY_API_TOKEN MONGO_URL; do
  eval "file=\${${name}_FILE:-}"
  [ -n "$file" ] || continue
  eval "value=\${${name}:-}"
  if [ -n "$value" ]; then
    echo "entrypoint: both $name and ${name}_FILE are set; set only one" >&2
    exit 64
  fi
  if ! value=$(cat -- "$file"); then
    echo "entrypoint: ${name}_FILE names $file, which cannot be read" >&2
    exit 66
  fi
  export "$name=$value"
  unset "${name}_FILE"
done

if [ $# -eq 0 ]; then
  case "${TRAINYARD_SERVICE:-}" in
    gateway | dataset | scheduler | notifier | dashboard | trainer-agent)
      set -- node "/app/services/$TRAINYARD_SERVICE/dist/main.js"
      ;;
    *)
      echo "entrypoint: TRAINYARD_SERVICE must be gateway, dataset, scheduler, notifier, dashboard or trainer-agent (it is '${TRAINYARD_SERVICE:-}')" >&2
      exit 64
      ;;
  esac
fi
exec "$@"
