#!/usr/bin/env bash
# A new critical alert during a flood, side by side: Firebell (release build,
# SQLite, durable) and Debian's Alertmanager (in memory), same machine, same
# load, loopback only. The flood pages nobody; every second (or every
# PROBE_EVERY_MS milliseconds) a new alert in a group of its own goes out, and the time until its page (Firebell) or
# webhook (Alertmanager) reaches the benchmark's receiver is measured.
# Prints Markdown rows for BENCHMARKS.md. Needs: cargo, prometheus-alertmanager.
#   scripts/bench-flood.sh [seconds] [per-request] [concurrency] [target-dir]
# BENCH_DATABASE_URL=postgres://USER@HOST/DB serves Firebell from PostgreSQL:
# DB is dropped and created afresh (psql is needed).
# FLOOD_RATE=N paces both floods to N alerts/s; FLOOD_RATE=alertmanager paces
# Firebell's to the rate Alertmanager accepted in this run (a new alert's page
# during "a flood at the highest rate Alertmanager takes").
# FIREBELL_SERVER_BIN=path serves with another build (an earlier commit, to
# compare); the load always comes from this tree's `firebell bench flood`.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}" per="${2:-100}" conc="${3:-32}" every_ms="${PROBE_EVERY_MS:-1000}"
. scripts/bench-common.sh
bench_build "${4:-target}"
receiver=127.0.0.1:19300 fb_port=18182 am_port=19194

cat >"$work/policy.toml" <<TOML
version = 1
[organization]
name = "Flood bench"
escalation_policy = "page"
[[severities]]
name = "P1"
[[severities]]
name = "P3"
paging = "never"
[people.oncall]
name = "On call"
contacts = [{ kind = "webhook", address = "http://$receiver/page" }]
[[escalation_policies]]
name = "page"
[[escalation_policies.steps]]
targets = ["person:oncall"]
[notifiers.webhook]
[routing]
group_by = ["alertname"]
severity = "P3"
[[routing.routes]]
matchers = ['severity="critical"']
severity = "P1"
TOML
"$bin" policy check "$work/policy.toml" >&2
am_config="$(cat <<YML
route:
  receiver: blackhole
  group_by: [alertname]
  group_wait: 30s
  routes:
    - matchers: ['alertname=~"bench-probe-.*"']
      receiver: probe
      group_wait: 0s
      group_interval: 1s
receivers:
  - name: blackhole
  - name: probe
    webhook_configs:
      - url: http://$receiver/am
YML
)"

start_alertmanager "$am_port" "$am_config"
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  # Afresh: the database named in the URL, dropped and created again.
  db="${BENCH_DATABASE_URL##*/}"
  psql "${BENCH_DATABASE_URL%/*}/postgres" -qc "DROP DATABASE IF EXISTS \"$db\"" -c "CREATE DATABASE \"$db\"" >&2
fi
start_firebell "$fb_port" --policy "$work/policy.toml"
bench_machine
echo "flood: ${seconds}s, $per alerts/request, $conc in flight, a probe every ${every_ms} ms"
flood_rate="${FLOOD_RATE:-0}"
am_rate=0
case "$flood_rate" in alertmanager) ;; *) am_rate="$flood_rate" ;; esac
"$bin" bench flood --url "http://127.0.0.1:$am_port" --label alertmanager \
  --seconds "$seconds" --per-request "$per" --concurrency "$conc" --receiver "$receiver" \
  --probe-every-ms "$every_ms" --rate "$am_rate" | tee "$work/am-flood.md"
if [ "$flood_rate" = alertmanager ]; then
  # The second column of Alertmanager's row: the alerts/s it answered 2xx.
  flood_rate="$(tail -1 "$work/am-flood.md" | awk -F'|' '{gsub(/ /, "", $3); print $3}')"
  echo "firebell's flood paced to alertmanager's ${flood_rate} alerts/s"
fi
# Stopped before Firebell's turn: a million alerts in its heap would keep
# its collector busy on the same two cores.
kill "$am_pid" && wait "$am_pid" 2>/dev/null || true
"$bin" bench flood --url "http://127.0.0.1:$fb_port" --token "$token" --label "firebell ($backend)" \
  --seconds "$seconds" --per-request "$per" --concurrency "$conc" --receiver "$receiver" \
  --probe-every-ms "$every_ms" --rate "$flood_rate" | tail -1
backlog="$(curl -s "http://127.0.0.1:$fb_port/metrics" | awk '/^firebell_ingest_backlog /{print $2}')"
echo "firebell backlog left after the probes: ${backlog:-?} reports"
