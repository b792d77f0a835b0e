#!/usr/bin/env bash
# A new critical alert during a flood, side by side: Firebell (release build,
# SQLite, durable) and Debian's Alertmanager (in memory), same machine, same
# load, loopback only. The flood pages nobody; every second a new alert in a
# group of its own goes out, and the time until its page (Firebell) or
# webhook (Alertmanager) reaches the benchmark's receiver is measured.
# Prints Markdown rows for BENCHMARKS.md. Needs: cargo, prometheus-alertmanager.
#   scripts/bench-flood.sh [seconds] [per-request] [concurrency] [target-dir]
# FIREBELL_SERVER_BIN=path serves with another build (an earlier commit, to
# compare); the load always comes from this tree's `firebell bench flood`.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}" per="${2:-100}" conc="${3:-32}" target_dir="${4:-target}"
CARGO_TARGET_DIR="$target_dir" cargo build --release -p firebell >&2
bin="$target_dir/release/firebell"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
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
cat >"$work/am.yml" <<YML
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

"${FIREBELL_SERVER_BIN:-$bin}" serve --listen "127.0.0.1:$fb_port" --database-url "sqlite:$work/firebell.db" \
  --policy "$work/policy.toml" >"$work/fb.out" 2>"$work/fb.log" &
fb_pid=$!
prometheus-alertmanager --config.file="$work/am.yml" --storage.path="$work/am" \
  --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= >"$work/am.log" 2>&1 &
am_pid=$!
for _ in $(seq 1 50); do grep -q "listening on" "$work/fb.out" 2>/dev/null && break; sleep 0.2; done
sleep 1
token="$(grep -o 'fb_[A-Za-z0-9_-]*' "$work/fb.out" | head -1)"

echo "machine: $(nproc) cores, $(uname -sr); firebell $("$bin" --version | cut -d' ' -f2), $(prometheus-alertmanager --version 2>&1 | head -1)"
echo "flood: ${seconds}s, $per alerts/request, $conc in flight"
"$bin" bench flood --url "http://127.0.0.1:$am_port" --label alertmanager \
  --seconds "$seconds" --per-request "$per" --concurrency "$conc" --receiver "$receiver"
"$bin" bench flood --url "http://127.0.0.1:$fb_port" --token "$token" --label "firebell (SQLite)" \
  --seconds "$seconds" --per-request "$per" --concurrency "$conc" --receiver "$receiver" | tail -1
backlog="$(curl -s "http://127.0.0.1:$fb_port/metrics" | awk '/^firebell_ingest_backlog /{print $2}')"
echo "firebell backlog left after the probes: ${backlog:-?} reports"
