#!/usr/bin/env bash
# Packs the scheduler and notifier benchmarks for a machine that has neither Node.js nor this
# repository's dependencies (the lent 16-core GPU host): the node binary, nats-server and
# FerretDB (stripped), and the two services and two benches bundled with esbuild, xz-compressed
# into .devbench/ (about 40 MB; git-ignored through .git/info/exclude). There, from the
# repository root: `bash bench/device-run.sh` (it unpacks and runs both benches, output in $OUT).
# Needs a build (`pnpm build`) and npm's registry for esbuild.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=.devbench
rm -rf "$out" && mkdir -p "$out"
grep -qx '/.devbench/' .git/info/exclude 2>/dev/null || echo '/.devbench/' >>.git/info/exclude
bundle() { # entry outfile: one ESM file; optional drivers of the MongoDB client stay out
  npx -y esbuild@0.25.0 "$1" --bundle --platform=node --format=esm --target=node20 --log-level=error \
    --external:kerberos --external:mongodb-client-encryption --external:snappy --external:@mongodb-js/zstd \
    --external:gcp-metadata --external:socks --external:aws4 --external:@aws-sdk/credential-providers \
    --external:@aws-sdk/client-s3 --external:aws-sdk \
    "--banner:js=import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);" \
    --outfile="$2"
  xz -9 -T2 -f "$2"
}
bundle services/notifier/dist/main.js "$out/notifier.mjs"
bundle services/scheduler/dist/main.js "$out/scheduler.mjs"
bundle bench/notifier-callbacks.js "$out/notifier-bench.mjs"
bundle bench/scheduler-simulation.mjs "$out/scheduler-bench.mjs"
for tool in nats-server ferretdb; do
  strip -o "$out/$tool" ".tools/bin/$tool" && xz -9 -T2 -f "$out/$tool"
done
xz -6 -T2 -c "$(command -v node)" >"$out/node.xz"
# the bare POST loop loads the notifier's undici through services/notifier/node_modules
undici=$(readlink -f services/notifier/node_modules/undici)
tar -C "$(dirname "$undici")" -cJf "$out/undici.tar.xz" undici
du -sh "$out"
