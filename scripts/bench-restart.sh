#!/usr/bin/env bash
# Memory and start with many active alerts (issue 11, goal 6). Firebell
# (release build, SQLite, durable) is given N firing alerts; once the log is
# merged its RSS is read. Then a flood of never-seen alerts fills the ingest
# log, the server is killed (SIGKILL) with a backlog waiting, and started
# again on the same database: the time to /ready, for a new alert group
# posted the moment it is ready to open its incident, and for the log to
# drain. Prints Markdown rows for BENCHMARKS.md.
# Needs: cargo, curl.
#   scripts/bench-restart.sh [alerts] [backlog] [target-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
alerts="${1:-1000000}" backlog_at_kill="${2:-500000}"
. scripts/bench-common.sh
bench_build "${3:-target}"
port=18186
url="http://127.0.0.1:$port"

quiet_policy "Restart bench"
start_firebell "$port" --policy "$work/policy.toml"
bench_machine

rss_mib() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
hwm_mib() { awk '/^VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
wait_drained() { until [ "$(backlog)" = "0" ]; do sleep 0.2; done; }

echo "restart: $alerts active alerts, killed with about $backlog_at_kill reports in the log"
t=$(now_ms)
"$bin" bench resend --url "$url" --token "$token" --pid "$fb_pid" --label "firebell (SQLite)" \
  --alerts "$alerts" --every-secs 1 --cycles 1 >&2
sent=$(($(now_ms) - t))
wait_drained
merged=$(($(now_ms) - t))
sleep 2
echo
echo "| active alerts | sent in | merged after | RSS | peak RSS | database |"
echo "|---|---|---|---|---|---|"
echo "| $alerts | $((sent / 1000)) s | $((merged / 1000)) s | $(rss_mib "$fb_pid") MiB | $(hwm_mib "$fb_pid") MiB | $(du -sm "$work" | cut -f1) MiB |"

# Fill the log with never-seen alerts, then kill the server mid-flood.
kill_mid_flood "$backlog_at_kill"
restart_firebell "$port"
t=$launched
ready=$(($(now_ms) - t))
left=$(backlog)
left=${left:-"not yet counted"}
probe='[{"labels":{"alertname":"restart-probe","severity":"critical"}}]'
curl -sf "$url/api/v2/alerts" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' -d "$probe" >/dev/null
until curl -sf "$url/api/v1/incidents?status=open&limit=500" -H "authorization: Bearer $token" |
  grep -q 'restart-probe'; do sleep 0.02; done
probed=$(($(now_ms) - t))
wait_drained
drained=$(($(now_ms) - t))
echo
echo "| reports in the log at the kill | ready after | left at ready | new group's incident after | log drained after | RSS after |"
echo "|---|---|---|---|---|---|"
echo "| $at_kill | $ready ms | $left | $probed ms | $drained ms | $(rss_mib "$fb_pid") MiB |"
