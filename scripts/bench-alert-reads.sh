#!/usr/bin/env bash
# Reading many alerts back, side by side: Firebell (release build, SQLite)
# and Debian's Alertmanager (in memory) each hold N firing alerts (sent with
# `firebell bench ingest`), then amtool lists those matching a filter, three
# times each. Prints Markdown rows for BENCHMARKS.md.
# Needs: cargo, prometheus-alertmanager (with amtool).
#   scripts/bench-alert-reads.sh [alerts] [target-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
alerts="${1:-200000}"
. scripts/bench-common.sh
bench_build "${2:-target}"
fb_port=18184 am_port=19195

start_alertmanager "$am_port" '{route: {receiver: blackhole, group_wait: 30s}, receivers: [{name: blackhole}]}'
start_firebell "$fb_port"
printf 'authorization:\n  type: Bearer\n  credentials: %s\n' "$token" >"$work/http.yml"

requests=$(( alerts / 1000 ))
"$bin" bench ingest --url "http://127.0.0.1:$am_port" --label alertmanager \
  --per-request 1000 --requests "$requests" --concurrency 8 >/dev/null
"$bin" bench ingest --url "http://127.0.0.1:$fb_port" --token "$token" --label firebell \
  --per-request 1000 --requests "$requests" --concurrency 8 >/dev/null
for _ in $(seq 1 1200); do
  backlog="$(curl -s "http://127.0.0.1:$fb_port/metrics" | awk '/^firebell_ingest_backlog /{print $2}')"
  [ "${backlog:-1}" = "0" ] && break
  sleep 0.1
done

echo "machine: $(nproc) cores, $(uname -sr); $alerts firing alerts in each; filter instance=~\"node-19.*\""
echo "| target | run | alerts listed | seconds | RSS after |"
echo "|---|---|---|---|---|"
rss() { awk '/^VmRSS:/{printf "%.0f MiB", $2/1024}' "/proc/$1/status"; }
for run in 1 2 3; do
  for target in alertmanager firebell; do
    if [ "$target" = alertmanager ]; then url="http://127.0.0.1:$am_port/"; cfg=(); pid=$am_pid
    else url="http://127.0.0.1:$fb_port/"; cfg=(--http.config.file="$work/http.yml"); pid=$fb_pid; fi
    start=$(date +%s.%N)
    n=$(amtool --alertmanager.url="$url" "${cfg[@]}" -o json alert query 'instance=~"node-19.*"' 2>/dev/null \
      | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    end=$(date +%s.%N)
    echo "| $target | $run | $n | $(awk "BEGIN{printf \"%.2f\", $end - $start}") | $(rss $pid) |"
  done
done
