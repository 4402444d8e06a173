#!/usr/bin/env bash
# Checks deploy/ without Docker or a cluster, and proves each check can fail:
#   Dockerfiles        hadolint (.hadolint.yaml); the images' scripts and these scripts:
#                      ShellCheck, node --check
#   compose            the real docker-compose binary (`config -q`, with and without the
#                      monitoring profile) and the compose-spec JSON schema
#   NATS configs       `nats-server -t` on each compose node config and on the nats.conf the
#                      official NATS chart renders from deploy/helm/nats-values.yaml, each with a
#                      throwaway auth include; both keep sync_interval: always
#   Helm               `helm lint --strict` and `helm template | kubeconform -strict` against
#                      offline Kubernetes schemas (kubernetes-validate), for the oldest and newest
#                      Kubernetes the chart supports, with default and all-options values
# Then, on copies in a temp folder, one invalid change per artefact must make its tool fail.
# Prints ok/FAIL per check and exits non-zero when any failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1

bash scripts/bootstrap-deploy-tools.sh >/dev/null || { echo "FAIL bootstrap-deploy-tools"; exit 1; }

KUBE_VERSIONS=(1.27.0 1.37.0) # the chart's kubeVersion floor and the newest schemas available
NATS_CHART=deploy/helm/vendor/nats-2.14.2.tgz
venv=.tools/deploy-venv
compose_bins=("$venv"/lib/python*/site-packages/compose/docker-compose)
compose_bin=${compose_bins[0]}
[ -x "$compose_bin" ] || compose_bin=""
helm=.tools/bin/helm
kubeconform=.tools/bin/kubeconform
hadolint=$venv/bin/hadolint
nats_server=.tools/bin/nats-server
[ -x "$nats_server" ] || nats_server=$(command -v nats-server || true)
if [ -z "$nats_server" ] || [ -z "$compose_bin" ]; then
  echo "FAIL tools: nats-server (scripts/bootstrap.sh) or docker-compose (bootstrap-deploy-tools.sh) is missing"
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
failures=()
run_check() { # name command… → passes when the command succeeds
  local name=$1; shift
  if "$@" >"$tmp/out" 2>&1; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); failures+=("$name"); echo "FAIL $name"; sed 's/^/     /' "$tmp/out" | tail -30
  fi
}
reason() { # a tool's output → its first error line (else its last line), shortened
  { grep -m1 -iE 'invalid|error|unknown|not allowed|refused|missing|SC[0-9]+ \(' "$1" || tail -1 "$1"; } | sed -e "s#$tmp/##g" -e "s/problem validating schema. Check JSON formatting: jsonschema validation failed with '[^']*' - //" | cut -c1-140
}
must_fail() { # name command… → passes when the command fails (a breakage the tool must catch)
  local name=$1; shift
  if "$@" >"$tmp/out" 2>&1; then
    failed=$((failed + 1)); failures+=("$name"); echo "FAIL $name: the broken copy was accepted"
  else
    passed=$((passed + 1)); echo "ok   $name: $(reason "$tmp/out")"
  fi
}

# --- Offline Kubernetes schemas: kubernetes-validate's, with their references made file:// URLs.
schema_dir() { # kube version → the rewritten schema folder (cached under .tools/, rebuilt on change)
  local version=$1 dst="$root/.tools/deploy-schemas/v$1" src
  src=$(echo "$venv"/lib/python*/site-packages/kubernetes_validate/kubernetes-json-schema/"v$version-local-strict")
  local stamp # the package's version and this folder, which the rewritten references name
  stamp="$("$venv/bin/pip" show kubernetes-validate 2>/dev/null | sed -n 's/^Version: //p') $dst"
  if [ "$(cat "$dst/.stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$dst" && mkdir -p "$dst"
    for f in "$src"/*.json; do
      sed "s#\"/api/_definitions.json\##\"file://$dst/_definitions.json\##g" "$f" >"$dst/${f##*/}"
    done
    echo "$stamp" >"$dst/.stamp"
  fi
  echo "$dst"
}
for v in "${KUBE_VERSIONS[@]}"; do schema_dir "$v" >/dev/null; done

# --- A throwaway auth include: the real generator's output when the workspace is built, else one
# nkey user made here (nats-server checks the key's checksum, so it must be a real public key).
auth_conf="$tmp/auth.conf"
if [ -f packages/stack/dist/nats-auth.js ] && [ -d node_modules ]; then
  node packages/stack/dist/nats-auth.js --out "$tmp/nats-auth" --agents gpu-1 --pool >/dev/null
  cp "$tmp/nats-auth/auth.conf" "$auth_conf"
else
  python3 - >"$auth_conf" <<'EOF'
import base64, os
def crc16(data):  # nkeys' CRC-16/XMODEM
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc
raw = bytes([20 << 3]) + os.urandom(32)  # prefix "U": a user's public key
crc = crc16(raw)
key = base64.b32encode(raw + bytes([crc & 0xFF, crc >> 8])).decode().rstrip("=")
print("accounts { TRAINYARD { jetstream: enabled, users: [ { nkey: %s } ] } }" % key)
EOF
fi

# --- Check functions (each takes the artefact's path, so the breakage tests reuse them).
hadolint_file() { "$hadolint" --config .hadolint.yaml "$1"; }
compose_config() { "$compose_bin" -f "$1" config -q && "$compose_bin" -f "$1" --profile monitoring config -q; }
compose_schema() { "$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec "$1"; }
nats_conf() { # a node config → nats-server -t with the auth include next to it; sync_interval: always kept
  local dir="$tmp/nats-t/$RANDOM"
  mkdir -p "$dir" && cp "$1" "$dir/nats.conf" && cp "$auth_conf" "$dir/auth.conf"
  "$nats_server" -t -c "$dir/nats.conf" || return 1
  grep -Eq '^\s*"?sync_interval"?\s*:\s*"?always"?' "$1" || { echo "$1: jetstream sync_interval is not always"; return 1; }
}
chart_valid() { # chart, kube version, helm args… → lint and kubeconform
  local chart=$1 version=$2; shift 2
  "$helm" lint "$chart" --strict --kube-version "$version" "$@" || return 1
  "$helm" template trainyard "$chart" --kube-version "$version" "$@" >"$tmp/rendered.yaml" || return 1
  "$kubeconform" -strict -summary \
    -schema-location "file://$(schema_dir "$version")/{{ .ResourceKind }}{{ .KindSuffix }}.json" "$tmp/rendered.yaml"
}
nats_chart_conf() { # values file → the chart's nats.conf passes nats-server -t with the include
  local dir="$tmp/nats-chart/$RANDOM"
  mkdir -p "$dir/nats-config" "$dir/nats-auth"
  "$helm" template nats "$NATS_CHART" -f "$1" >"$dir/rendered.yaml" || return 1
  "$venv/bin/python" - "$dir/rendered.yaml" >"$dir/nats-config/nats.conf" <<'EOF' || return 1
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
print(next(d for d in docs if d["kind"] == "ConfigMap")["data"]["nats.conf"])
EOF
  cp "$auth_conf" "$dir/nats-auth/auth.conf"
  SERVER_NAME=nats-0 "$nats_server" -t -c "$dir/nats-config/nats.conf" || return 1
  grep -q '"sync_interval": "always"' "$dir/nats-config/nats.conf" || { echo "rendered nats.conf: sync_interval is not always"; return 1; }
}
kubeconform_chart() { # chart → renders (else "accepted": the breakage must reach kubeconform), then kubeconform
  "$helm" template trainyard "$1" --kube-version "${KUBE_VERSIONS[0]}" -f "$1/ci/check-values.yaml" >"$tmp/rendered.yaml" ||
    { echo "helm template failed before kubeconform ran"; return 0; }
  "$kubeconform" -strict -summary \
    -schema-location "file://$(schema_dir "${KUBE_VERSIONS[0]}")/{{ .ResourceKind }}{{ .KindSuffix }}.json" "$tmp/rendered.yaml"
}
trainyard_chart() { # chart → valid with default and all-options values, on every kube version
  local chart=$1 v
  for v in "${KUBE_VERSIONS[@]}"; do
    chart_valid "$chart" "$v" --set publicBaseUrl=https://training.example.com || return 1
    chart_valid "$chart" "$v" -f "$chart/ci/check-values.yaml" || return 1
  done
}

echo "--- Dockerfiles"
run_check "hadolint Dockerfile.services" hadolint_file deploy/docker/Dockerfile.services
run_check "hadolint Dockerfile.agent" hadolint_file deploy/docker/Dockerfile.agent
run_check "healthcheck.mjs syntax" node --check deploy/docker/healthcheck.mjs
shell_scripts=(deploy/docker/entrypoint.sh deploy/compose/generate-secrets.sh scripts/check-deploy.sh scripts/bootstrap-deploy-tools.sh)
run_check "shellcheck ${shell_scripts[*]}" "$venv/bin/shellcheck" "${shell_scripts[@]}"

echo "--- compose"
run_check "docker-compose config deploy/compose/compose.yaml" compose_config deploy/compose/compose.yaml
run_check "compose-spec schema deploy/compose/compose.yaml" compose_schema deploy/compose/compose.yaml
for f in deploy/compose/nats/nats-*.conf; do
  run_check "nats-server -t ${f#deploy/compose/}" nats_conf "$f"
done

echo "--- Helm"
run_check "trainyard chart: lint, kubeconform (k8s ${KUBE_VERSIONS[*]})" trainyard_chart deploy/helm/trainyard
for v in "${KUBE_VERSIONS[@]}"; do
  run_check "NATS chart with nats-values.yaml: lint, kubeconform (k8s $v)" \
    chart_valid "$NATS_CHART" "$v" -f deploy/helm/nats-values.yaml
done
run_check "NATS chart's nats.conf: nats-server -t" nats_chart_conf deploy/helm/nats-values.yaml

echo "--- each check rejects a broken copy"
mkdir -p "$tmp/broken"
sed '$a RUNN echo "not an instruction"' deploy/docker/Dockerfile.services >"$tmp/broken/Dockerfile"
must_fail "hadolint rejects an unknown instruction" hadolint_file "$tmp/broken/Dockerfile"
sed '$a rm -rf $dir/' deploy/compose/generate-secrets.sh >"$tmp/broken/generate-secrets.sh"
must_fail "shellcheck rejects an unguarded rm -rf \$dir/" "$venv/bin/shellcheck" "$tmp/broken/generate-secrets.sh"
mkdir -p "$tmp/broken/compose" && cp -r deploy/compose/. "$tmp/broken/compose/"
printf 'bogus: {}\n' >>"$tmp/broken/compose/compose.yaml"
must_fail "docker-compose rejects an unknown top-level key" compose_config "$tmp/broken/compose/compose.yaml"
must_fail "compose-spec schema rejects an unknown top-level key" compose_schema "$tmp/broken/compose/compose.yaml"
sed 's/sync_interval: always/sync_interval: sometimes/' deploy/compose/nats/nats-1.conf >"$tmp/broken/nats-1.conf"
must_fail "nats-server rejects sync_interval: sometimes" nats_conf "$tmp/broken/nats-1.conf"
sed 's/^jetstream {/jetstream {\n  store_directory: \/data/' deploy/compose/nats/nats-2.conf >"$tmp/broken/nats-2.conf"
must_fail "nats-server rejects an unknown JetStream option" nats_conf "$tmp/broken/nats-2.conf"
sed '/sync_interval: always/d' deploy/compose/nats/nats-3.conf >"$tmp/broken/nats-3.conf"
must_fail "a node config without sync_interval: always is refused" nats_conf "$tmp/broken/nats-3.conf"
cp -r deploy/helm/trainyard "$tmp/broken/replicas" && sed -i '/^gateway:/,/^[a-z]/ s/^  replicas: 2$/  replicas: "three"/' "$tmp/broken/replicas/values.yaml"
must_fail "kubeconform rejects replicas: \"three\" in a Deployment" kubeconform_chart "$tmp/broken/replicas"
cp -r deploy/helm/trainyard "$tmp/broken/field" && sed -i 's/^automountServiceAccountToken: false$/automountServiceAccountToken: false\nautomountToken: false/' "$tmp/broken/field/templates/_helpers.tpl"
must_fail "kubeconform -strict rejects an unknown pod field" kubeconform_chart "$tmp/broken/field"
cp -r deploy/helm/trainyard "$tmp/broken/template" && printf '{{ .Values.gateway.replicas\n' >>"$tmp/broken/template/templates/gateway.yaml"
must_fail "helm lint rejects a broken template" "$helm" lint "$tmp/broken/template" --strict --set publicBaseUrl=https://x
# shellcheck disable=SC2016 # the chart's literal "$include" key
printf 'config:\n  merge:\n    jetstream:\n      sync_interval: always\n      bogus_option: 1\n    00$include: ../nats-auth/auth.conf\n' >"$tmp/broken/nats-values.yaml"
must_fail "nats-server rejects the NATS chart's config with an unknown option" nats_chart_conf "$tmp/broken/nats-values.yaml"

echo
[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
