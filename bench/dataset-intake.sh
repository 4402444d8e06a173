#!/usr/bin/env bash
# Dataset intake throughput against plain tools, in one sitting on this machine: serves a ~1 GB
# zip of ~20k small images on loopback and times (a) the dataset service's download + extract +
# validate and (b) `curl -s URL | bsdtar -x` (and `curl -o` + `unzip` when installed) into a temp
# folder, twice each, best run kept (the disk is synced before each); prints MB/s, the ratio and the service's peak RSS.
# Usage: bash bench/dataset-intake.sh [images] [image-kib]   (defaults 20000 and 50)
#   BENCH_RUNS=3        rounds
#   BENCH_TMP=/dev/shm  where the contenders write (default .run/bench-dataset): a tmpfs takes the
#                       disk, and its noise on a shared machine, out of the comparison
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
images=${1:-20000}
kib=${2:-50}
out="$root/.run/bench-dataset"
zip="$out/dataset-${images}x${kib}k.zip"
mkdir -p "$out"
scratch=$(mktemp -d "${BENCH_TMP:-$out}/contenders.XXXXXX")

if ! command -v bsdtar >/dev/null || ! command -v unzip >/dev/null; then
  (apt-get install -y libarchive-tools unzip >/dev/null 2>&1 ||
    (apt-get update >/dev/null 2>&1 && apt-get install -y libarchive-tools unzip >/dev/null 2>&1)) || true
fi
npx tsc -b packages/runtime services/dataset >/dev/null
[ -f "$zip" ] || node bench/dataset-corpus.js "$zip" "$images" "$kib"
size=$(stat -c %s "$zip")

# a plain file server on loopback, in its own process
port_file="$out/port"
rm -f "$port_file"
node -e '
  const http = require("node:http"), fs = require("node:fs");
  const [file, portFile] = process.argv.slice(1);
  const size = fs.statSync(file).size;
  const server = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "application/zip", "content-length": size });
    fs.createReadStream(file, { highWaterMark: 1 << 20 }).pipe(res);
  });
  server.listen(0, "127.0.0.1", () => fs.writeFileSync(portFile, String(server.address().port)));
' "$zip" "$port_file" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$scratch"' EXIT
for _ in $(seq 100); do [ -s "$port_file" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat "$port_file")/dataset.zip?token=bench"
cat "$zip" >/dev/null # the same warm page cache for every contender

now() { date +%s.%N; }
best() { printf '%s\n' "$@" | sort -g | head -1; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
baseline_bsdtar=()
baseline_unzip=()
service=()
rss=()
for run in $(seq "${BENCH_RUNS:-3}"); do
  if command -v bsdtar >/dev/null; then
    rm -rf "$scratch/bsdtar" && mkdir -p "$scratch/bsdtar" && sync
    t0=$(now); curl -s "$url" | bsdtar -x -f - -C "$scratch/bsdtar"; t1=$(now)
    baseline_bsdtar+=("$(echo "$t1 $t0" | awk '{print $1 - $2}')")
    rm -rf "$scratch/bsdtar"
  fi
  if command -v unzip >/dev/null; then
    rm -rf "$scratch/unzip" && mkdir -p "$scratch/unzip" && sync
    t0=$(now); curl -s -o "$scratch/unzip/dataset.zip" "$url" && unzip -q "$scratch/unzip/dataset.zip" -d "$scratch/unzip/x"; t1=$(now)
    baseline_unzip+=("$(echo "$t1 $t0" | awk '{print $1 - $2}')")
    rm -rf "$scratch/unzip"
  fi
  rm -rf "$scratch/work" && sync
  result=$(node bench/dataset-intake-worker.js "$url" "$scratch/work")
  echo "service run $run: $result"
  echo "$result" | grep -q '"failure":null' || { echo "the intake failed"; exit 1; }
  service+=("$(echo "$result" | sed -E 's/.*"seconds":([0-9.]+).*/\1/')")
  rss+=("$(echo "$result" | sed -E 's/.*"peak_rss_kib":([0-9]+).*/\1/')")
done

mbps() { echo "$size $1" | awk '{printf "%.0f", $1 / 1e6 / $2}'; }
report() { # name, then the run times
  local name=$1
  shift
  local b m
  b=$(best "$@")
  m=$(median "$@")
  printf '%-42s best %6.2f s %5s MB/s   median %6.2f s %5s MB/s' "$name" "$b" "$(mbps "$b")" "$m" "$(mbps "$m")"
}
sb=$(best "${service[@]}")
sm=$(median "${service[@]}")
printf '\narchive: %s images of ~%s KiB (%s entries), %.0f MB; %s rounds\n' "$images" "$kib" "$((images * 2 + 1))" \
  "$(echo "$size" | awk '{print $1 / 1e6}')" "${#service[@]}"
report "service (download + check + validate)" "${service[@]}"
printf '   peak RSS %s MiB (max of runs)\n' "$(printf '%s\n' "${rss[@]}" | sort -n | tail -1 | awk '{printf "%.0f", $1 / 1024}')"
if [ ${#baseline_bsdtar[@]} -gt 0 ]; then
  report "curl -s URL | bsdtar -x" "${baseline_bsdtar[@]}"
  printf '   ratio service/baseline: best %.2f, median %.2f\n' \
    "$(echo "$(best "${baseline_bsdtar[@]}") $sb" | awk '{print $1 / $2}')" "$(echo "$(median "${baseline_bsdtar[@]}") $sm" | awk '{print $1 / $2}')"
fi
if [ ${#baseline_unzip[@]} -gt 0 ]; then
  report "curl -o zip && unzip" "${baseline_unzip[@]}"
  printf '   ratio service/baseline: best %.2f, median %.2f\n' \
    "$(echo "$(best "${baseline_unzip[@]}") $sb" | awk '{print $1 / $2}')" "$(echo "$(median "${baseline_unzip[@]}") $sm" | awk '{print $1 / $2}')"
fi
rm -rf "$scratch/work"
