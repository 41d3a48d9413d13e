#!/usr/bin/env bash
# `make screenshots`: the README's picture of Prometheus's graph of the per-route request rate,
# taken in headless Chromium from the running demo (`make run`'s gateway with its Prometheus)
# after SCREENSHOT_TRAFFIC_SECONDS of traffic at a different rate per route. Regenerated,
# never drawn: run it again after changing the metrics or the demo.
set -euo pipefail

out=${SCREENSHOT_OUT:-docs/images/prometheus-route-rate.png}
port=${PORT:-10000}
seconds=${SCREENSHOT_TRAFFIC_SECONDS:-90}
base="http://127.0.0.1:$port"
chromium=$(command -v chromium || command -v chromium-browser || true)
[ -n "$chromium" ] || { echo "screenshots: chromium is not installed (apt-get install chromium)"; exit 1; }
command -v prometheus >/dev/null || { echo "screenshots: prometheus is not installed (make system-packages)"; exit 1; }

log=$(mktemp)
target/debug/demo-gateway --port "$port" >"$log" 2>&1 &
demo=$!
loads=()
cleanup() {
  for pid in "${loads[@]}"; do kill "$pid" 2>/dev/null || true; done
  kill "$demo" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT

for _ in $(seq 1 240); do
  grep -q '^  graph: ' "$log" && break
  kill -0 "$demo" 2>/dev/null || { cat "$log"; echo "screenshots: the demo gateway exited"; exit 1; }
  sleep 0.5
done
graph=$(sed -n 's/^  graph: //p' "$log")
[ -n "$graph" ] || { cat "$log"; echo "screenshots: the demo printed no Prometheus graph URL"; exit 1; }

echo "screenshots: ${seconds}s of traffic through $base"
# hey's -q is requests per second per worker (-c 1: one worker): a distinct rate per route.
hey -z "${seconds}s" -c 1 -q 20 "$base/productpage" >/dev/null & loads+=($!)
hey -z "${seconds}s" -c 1 -q 10 "$base/api/v1/reviews/0" >/dev/null & loads+=($!)
hey -z "${seconds}s" -c 1 -q 5 "$base/static/app.css" >/dev/null & loads+=($!)
hey -z "${seconds}s" -c 1 -q 2 "$base/nothing" >/dev/null & loads+=($!)
wait "${loads[@]}"
loads=()
# Two more scrapes, so the graph's last point includes the end of the traffic.
sleep 11

mkdir -p "$(dirname "$out")"
"$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,900 \
  --virtual-time-budget=20000 --screenshot="$out" "${graph/range_input=5m/range_input=3m}" 2>/dev/null
echo "screenshots: wrote $out ($(stat -c %s "$out") bytes) from $graph"
