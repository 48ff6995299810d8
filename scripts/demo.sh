#!/usr/bin/env bash
# The README's main command: start the embedded default mesh (fxnode dev) on
# loopback, show it, register an example Python function, run it through the
# mesh and print the result; then stop the mesh again.
set -euo pipefail
cd "$(dirname "$0")/.."
export FX_HOME="${FX_HOME:-$PWD/.fxdev/home}"
mkdir -p "$FX_HOME"
log="$FX_HOME/dev.log"
bin/fxnode dev --dir "$FX_HOME/dev" >"$FX_HOME/dev.out" 2>"$log" &
dev=$!
trap 'kill $dev 2>/dev/null; wait $dev 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  grep -q '^export FX_BOOTSTRAP=' "$FX_HOME/dev.out" 2>/dev/null && break
  kill -0 $dev 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
line=$(grep '^export FX_BOOTSTRAP=' "$FX_HOME/dev.out") || { echo "fxnode dev did not come up; see $log" >&2; exit 1; }
eval "$line"
echo "== local mesh up: $line"
echo "== fx endpoints"
bin/fx endpoints
echo "== fx function register stats --python examples/stats.py --entry summarize --public"
bin/fx function register stats --python examples/stats.py --entry summarize --public
echo "== fx run stats --args '[[2.5, 3.1, 4.7, 5.0, 6.2]]'"
bin/fx run stats --args '[[2.5, 3.1, 4.7, 5.0, 6.2]]'
