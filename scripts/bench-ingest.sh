#!/usr/bin/env bash
# Side-by-side ingest benchmark: Firebell (release build, SQLite, durable) and
# Debian's Alertmanager (in memory), same machine, same load, loopback only.
# Prints Markdown rows for BENCHMARKS.md. Needs: cargo, prometheus-alertmanager.
#   scripts/bench-ingest.sh [target-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-common.sh
bench_build "${1:-target}"

fb_port=18181 am_port=19193
start_alertmanager "$am_port" '{route: {receiver: blackhole, group_wait: 30s}, receivers: [{name: blackhole}]}'
start_firebell "$fb_port"
bench_machine
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
