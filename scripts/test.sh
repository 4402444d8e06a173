#!/usr/bin/env bash
# Runs every test of the project after doing all set-up: bootstrap (idempotent), build,
# static checks (deploy files included), unit + integration tests (real NATS / FerretDB), the Python trainer's tests
# (real Ultralytics) and the end-to-end test. Ends with "N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.tools/bin:$PATH"
logs="$root/.run/test-logs"
rm -rf "$logs" && mkdir -p "$logs"
passed=0
failed=0
failures=()

step() { printf '\n=== %s\n' "$*"; }
count_node() { # log file → adds node:test's pass/fail totals
  local p f
  p=$(grep -aE '^(ℹ|#) pass [0-9]+' "$1" | tail -1 | grep -oE '[0-9]+$' || echo 0)
  f=$(grep -aE '^(ℹ|#) fail [0-9]+' "$1" | tail -1 | grep -oE '[0-9]+$' || echo 0)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  echo "$2: ${p:-0} passed, ${f:-0} failed"
}
check() { # name command… → one pass or one fail
  local name=$1; shift
  if "$@" >"$logs/$name.log" 2>&1; then passed=$((passed + 1)); echo "ok   $name"
  else failed=$((failed + 1)); failures+=("$name"); echo "FAIL $name"; tail -40 "$logs/$name.log"; fi
}

step "bootstrap"
bash scripts/bootstrap.sh || { echo "bootstrap failed"; echo "0 passed, 1 failed"; exit 1; }

step "build"
if ! pnpm build >"$logs/build.log" 2>&1; then
  tail -60 "$logs/build.log"; echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi
echo "ok   build"

step "static checks"
check lint pnpm lint
check format pnpm format:check
check contracts-generated pnpm --filter @trainyard/contracts check:generated
check dashboard-ui-types pnpm --filter @trainyard/dashboard check:ui
check ruff .venv/bin/ruff check python-trainer
check mypy .venv/bin/mypy --config-file python-trainer/pyproject.toml python-trainer/src
# deploy/: compose, Helm chart, Dockerfiles and NATS configs, each tool also shown to reject a broken copy
check deploy bash scripts/check-deploy.sh

step "unit and integration tests (real nats-server and FerretDB)"
mapfile -t suites < <(find packages services -path '*/node_modules' -prune -o -path '*/dist/*' -name '*.test.js' -print | sort)
node --test --test-concurrency=1 --test-reporter=spec "${suites[@]}" >"$logs/node.log" 2>&1
node_rc=$?
count_node "$logs/node.log" "node tests"
[ $node_rc -ne 0 ] && { failures+=("node tests"); grep -aE '✖|not ok|Error|expected' "$logs/node.log" | head -60; }

step "python-trainer (real Ultralytics)"
.venv/bin/python -m pytest python-trainer/tests -q -p no:cacheprovider >"$logs/pytest.log" 2>&1
py_rc=$?
tail -15 "$logs/pytest.log"
p=$(tail -1 "$logs/pytest.log" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)
f=$(tail -1 "$logs/pytest.log" | grep -oE '[0-9]+ (failed|errors?)' | awk '{s += $1} END {print s + 0}')
passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
if [ $py_rc -ne 0 ] && [ "${f:-0}" -eq 0 ]; then failed=$((failed + 1)); fi
[ $py_rc -ne 0 ] && failures+=("pytest")

step "end-to-end (the whole stack, a real training)"
node --test --test-reporter=spec e2e/dist/ >"$logs/e2e.log" 2>&1
e2e_rc=$?
grep -aE '^\s*(✔|✖)' "$logs/e2e.log"
count_node "$logs/e2e.log" "e2e"
if [ $e2e_rc -ne 0 ]; then
  failures+=("e2e"); tail -60 "$logs/e2e.log"
  log=$(grep -aoE 'stack logs: \S+' "$logs/e2e.log" | head -1 | cut -d' ' -f3)
  [ -n "$log" ] && [ -f "$log" ] && { echo "--- last lines of $log"; tail -80 "$log"; }
fi

echo
[ ${#failures[@]} -gt 0 ] && echo "failed steps: ${failures[*]} (logs in $logs)"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ] && [ ${#failures[@]} -eq 0 ]
