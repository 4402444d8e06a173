#!/usr/bin/env bash
# Joins this host to a running Trainyard as one trainer-agent, from a clone of the repository:
#
#   bash scripts/join.sh --nats nats://n1:4222[,nats://n2:4222,…] --creds agent-gpu-3.nk \
#     [--agent-id gpu-3] [--work-dir DIR] [--devices auto|cpu|cuda:0,cuda:1,…]
#
# The same from the environment: NATS_URL, NATS_NKEY_SEED_FILE (or a JWT NATS_CREDS_FILE),
# AGENT_ID (default: the host name, sanitised), AGENT_WORK_DIR (default: .run/agent-<id>),
# AGENT_DEVICES (default: auto, every GPU nvidia-smi lists, else one CPU slot); NATS_TLS_* and
# NATS_USER pass through. A TRAINER_PYTHON of the host's own is used as it is (no venv, no torch
# download). The credential comes from `nats-auth --add-agent <id>` and must be mode 0600.
#
# Installs only what an agent needs (scripts/bootstrap.sh --agent), checks the host and NATS
# (the agent's preflight), then becomes the trainer-agent in the foreground: SIGUSR2 drains it,
# SIGTERM hands its jobs back and stops it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

say() { printf '[join] %s\n' "$*"; }
fail() {
  printf '[join] %s\n' "$*" >&2
  exit 1
}
usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
# an absolute path without resolving symlinks (a venv's python is one)
absolute() { case $1 in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$PWD" "$1" ;; esac; }

creds=
while [ $# -gt 0 ]; do
  case $1 in
    -h | --help) usage && exit 0 ;;
    --nats | --creds | --agent-id | --work-dir | --devices) [ $# -ge 2 ] || fail "$1 needs a value" ;;&
    --nats) NATS_URL=$2 ;;
    --creds) creds=$2 ;;
    --agent-id) AGENT_ID=$2 ;;
    --work-dir) AGENT_WORK_DIR=$2 ;;
    --devices) AGENT_DEVICES=$2 ;;
    *) usage >&2 && exit 2 ;;
  esac
  shift 2
done

[ -n "${NATS_URL:-}" ] || fail "no NATS servers: --nats nats://host:4222[,…] (or NATS_URL)"

# The credential: an nkey seed (`SU…`, from nats-auth) or, on an operator-mode server, a .creds file.
if [ -n "$creds" ]; then
  unset NATS_NKEY_SEED_FILE NATS_CREDS_FILE
  if grep -q 'BEGIN NATS USER JWT' "$creds" 2>/dev/null; then NATS_CREDS_FILE=$(absolute "$creds"); else NATS_NKEY_SEED_FILE=$(absolute "$creds"); fi
fi
creds=${NATS_NKEY_SEED_FILE:-${NATS_CREDS_FILE:-}}
[ -n "$creds" ] || fail "no credential: --creds FILE, issued by \`node packages/stack/dist/nats-auth.js --out DIR --add-agent <id>\`"
if [ ! -f "$creds" ] || [ ! -r "$creds" ]; then fail "cannot read the credential $creds"; fi
mode=$(stat -c %a "$creds")
(((8#$mode & 8#077) == 0)) || fail "the credential $creds is open to other users (mode $mode): chmod 600 $creds"

# The agent id becomes part of NATS subjects: AGENT_ID_PATTERN of packages/contracts, checked
# here too so that a typo fails before anything is installed.
if [ -z "${AGENT_ID:-}" ]; then
  AGENT_ID=$(uname -n)
  AGENT_ID=${AGENT_ID//[^A-Za-z0-9_-]/-}
  AGENT_ID=${AGENT_ID:0:64}
fi
[[ $AGENT_ID =~ ^[A-Za-z0-9_-]{1,64}$ ]] || fail "invalid agent id \"$AGENT_ID\": 1 to 64 letters, digits, _ and -"

command -v node >/dev/null || fail "Node.js 20.15 or later is required (https://nodejs.org)"
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 15) ? 0 : 1)' ||
  fail "Node.js 20.15 or later is required, found $(node --version)"

AGENT_WORK_DIR=$(absolute "${AGENT_WORK_DIR:-$root/.run/agent-$AGENT_ID}")
AGENT_DEVICES=${AGENT_DEVICES:-auto}
[ -z "${TRAINER_PYTHON:-}" ] || case $TRAINER_PYTHON in */*) TRAINER_PYTHON=$(absolute "$TRAINER_PYTHON") ;; esac
export NATS_URL AGENT_ID AGENT_WORK_DIR AGENT_DEVICES
[ -z "${NATS_NKEY_SEED_FILE:-}" ] || export NATS_NKEY_SEED_FILE
[ -z "${NATS_CREDS_FILE:-}" ] || export NATS_CREDS_FILE

cd "$root"
started=$SECONDS
say "agent $AGENT_ID joins $NATS_URL with $creds"
bash scripts/bootstrap.sh --agent
export TRAINER_PYTHON=${TRAINER_PYTHON:-$root/.venv/bin/python}
mkdir -p "$AGENT_WORK_DIR"
node services/trainer-agent/dist/preflight.js || exit 1
say "set up in $((SECONDS - started)) s; the trainer-agent starts (SIGUSR2 drains it, SIGTERM hands its jobs back and stops it)"
exec node services/trainer-agent/dist/main.js
