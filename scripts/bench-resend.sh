#!/usr/bin/env bash
# Prometheus's real pattern, side by side: Firebell (release build, SQLite,
# durable) and Debian's Alertmanager (in memory), same machine, loopback only.
# N firing alerts are sent, then re-sent every evaluation with only endsAt
# moved, 64 per request; the server's CPU time per alert and its RSS are
# reported per cycle. Prints Markdown rows for BENCHMARKS.md.
# Needs: cargo, prometheus-alertmanager.
#   scripts/bench-resend.sh [alerts] [every-seconds] [cycles] [target-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
alerts="${1:-200000}" every="${2:-15}" cycles="${3:-4}"
. scripts/bench-common.sh
bench_build "${4:-target}"
fb_port=18185 am_port=19195

quiet_policy "Resend bench"
start_alertmanager "$am_port" "$(printf 'route:\n  receiver: blackhole\n  group_by: [alertname]\nreceivers:\n  - name: blackhole\n')"
start_firebell "$fb_port" --policy "$work/policy.toml"
bench_machine
echo "resend: $alerts alerts every ${every}s, $cycles cycles, 64 per request, 4 in flight"
sleep 2
"$bin" bench resend --url "http://127.0.0.1:$am_port" --pid "$am_pid" --label alertmanager \
  --alerts "$alerts" --every-secs "$every" --cycles "$cycles"
"$bin" bench resend --url "http://127.0.0.1:$fb_port" --token "$token" --pid "$fb_pid" \
  --label "firebell (SQLite)" --alerts "$alerts" --every-secs "$every" --cycles "$cycles" | tail -n +3
