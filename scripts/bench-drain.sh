#!/usr/bin/env bash
# A restart's drain (issue 11, goal 6), alone: Firebell (release build,
# SQLite, durable) is flooded with never-seen alerts of one group until
# about N reports wait in its ingest log, killed (SIGKILL), and started
# again on the same database; the restarted server is timed from its
# launch until the log is drained (its backlog gauge, polled every 0.1 s).
# Unlike scripts/bench-restart.sh no other alerts are stored, so this times
# the merge, not the million rows' deeper indexes. Prints a Markdown row.
# Needs: cargo, curl.
#   scripts/bench-drain.sh [backlog] [target-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
backlog_at_kill="${1:-300000}"
. scripts/bench-common.sh
bench_build "${2:-target}"
port=18187
url="http://127.0.0.1:$port"

quiet_policy "Drain bench"
start_firebell "$port" --policy "$work/policy.toml"
bench_machine

kill_mid_flood "$backlog_at_kill"
restart_firebell "$port"
until [ "$(backlog)" = "0" ]; do sleep 0.1; done
drained=$(($(now_ms) - launched))
cpu=$(awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$fb_pid/stat")
echo
echo "| reports in the log | drained after | per second | server CPU |"
echo "|---|---|---|---|"
echo "| $at_kill | $drained ms | $((at_kill * 1000 / drained)) | $cpu s |"
