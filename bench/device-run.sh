#!/usr/bin/env bash
# Runs on the lent machine, from the repository root, after bench/device-pack.sh here: unpacks
# .devbench/ (node, nats-server, FerretDB, bundled services and benches; python3 does the xz)
# and runs the scheduler and notifier benchmarks. Output: $OUT/{machine,scheduler,notifier}.txt.
set -u
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/device-bench}
mkdir -p "$out" .tools/bin /tmp/nodebin services/notifier/dist services/scheduler/dist services/notifier/node_modules
unxz() { python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$1" "$2"; }
unxz .devbench/node.xz /tmp/nodebin/node
unxz .devbench/nats-server.xz .tools/bin/nats-server
unxz .devbench/ferretdb.xz .tools/bin/ferretdb
chmod +x /tmp/nodebin/node .tools/bin/*
unxz .devbench/notifier.mjs.xz services/notifier/dist/main.js
unxz .devbench/scheduler.mjs.xz services/scheduler/dist/main.js
unxz .devbench/notifier-bench.mjs.xz .devbench/notifier-bench.mjs
unxz .devbench/scheduler-bench.mjs.xz .devbench/scheduler-bench.mjs
python3 -c "import tarfile; tarfile.open('.devbench/undici.tar.xz').extractall('services/notifier/node_modules')"
export PATH=/tmp/nodebin:$PATH
{ echo "cpus: $(nproc)"; node -v; uname -a; } | tee "$out/machine.txt"
node .devbench/scheduler-bench.mjs ${SCHED_ARGS:-100 8 5000 10} 2>&1 | tee "$out/scheduler.txt"
node .devbench/notifier-bench.mjs 2>&1 | tee "$out/notifier.txt"
