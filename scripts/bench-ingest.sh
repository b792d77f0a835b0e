#!/usr/bin/env bash
# Side-by-side ingest benchmark: Firebell (release build, SQLite, durable) and
# Debian's Alertmanager (in memory), same machine, same load, loopback only.
# Prints Markdown rows for BENCHMARKS.md. Needs: cargo, prometheus-alertmanager.
#   scripts/bench-ingest.sh [target-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${1:-target}"
CARGO_TARGET_DIR="$target_dir" cargo build --release -p firebell >&2
bin="$target_dir/release/firebell"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

fb_port=18181 am_port=19193
"$bin" serve --listen "127.0.0.1:$fb_port" --database-url "sqlite:$work/firebell.db" >"$work/fb.out" 2>"$work/fb.log" &
fb_pid=$!
cat >"$work/am.yml" <<YML
route: {receiver: blackhole, group_wait: 30s}
receivers: [{name: blackhole}]
YML
prometheus-alertmanager --config.file="$work/am.yml" --storage.path="$work/am" \
  --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= >"$work/am.log" 2>&1 &
am_pid=$!
for _ in $(seq 1 50); do grep -q "listening on" "$work/fb.out" 2>/dev/null && break; sleep 0.2; done
sleep 1
token="$(grep -o 'fb_[A-Za-z0-9_-]*' "$work/fb.out" | head -1)"

echo "machine: $(nproc) cores, $(uname -sr); firebell $("$bin" --version | cut -d' ' -f2), $(prometheus-alertmanager --version 2>&1 | head -1)"
for per in 1 100; do
  requests=$(( per == 1 ? 20000 : 2000 ))
  "$bin" bench ingest --url "http://127.0.0.1:$am_port" --pid "$am_pid" --label alertmanager \
    --per-request "$per" --requests "$requests" --concurrency 32 | tail -1
  "$bin" bench ingest --url "http://127.0.0.1:$fb_port" --token "$token" --pid "$fb_pid" --label "firebell (SQLite)" \
    --per-request "$per" --requests "$requests" --concurrency 32 | tail -1
done
# Firebell answers once reports are in its ingest log; merging them into the
# alerts follows. How long until the log is empty after the runs above:
drained=$(date +%s.%N)
for _ in $(seq 1 1200); do
  backlog="$(curl -s "http://127.0.0.1:$fb_port/metrics" | awk '/^firebell_ingest_backlog /{print $2}')"
  [ "${backlog:-1}" = "0" ] && break
  sleep 0.1
done
echo "firebell: ingest log merged $(awk "BEGIN{printf \"%.2f\", $(date +%s.%N) - $drained}") s after the last 2xx (backlog ${backlog:-?})"
echo "storm, firebell:"
"$bin" bench storm --url "http://127.0.0.1:$fb_port" --token "$token" --pid "$fb_pid" --alerts 100000 --per-request 1000
echo "storm, alertmanager:"
"$bin" bench storm --url "http://127.0.0.1:$am_port" --pid "$am_pid" --alerts 100000 --per-request 1000
