# Sourced by the bench-*.sh scripts: build Firebell, and start it and
# Alertmanager side by side on loopback, cleaned up on exit.
#   bench_build TARGET_DIR                  sets bin, work
#   start_firebell PORT [serve flags…]       sets fb_pid, token (fresh SQLite)
#   start_alertmanager PORT CONFIG_YAML      sets am_pid
#   bench_machine                            prints the machine and versions
#   quiet_policy NAME                        writes $work/policy.toml: every
#                                            alert one P3 that pages nobody
#   backlog                                  the server's ingest backlog (needs
#                                            url, token)
#   kill_mid_flood BACKLOG                   floods never-seen alerts until
#                                            about BACKLOG reports wait in the
#                                            log, then SIGKILLs the server;
#                                            sets at_kill
#   restart_firebell PORT                    serves the same SQLite file and
#                                            policy again; sets fb_pid and
#                                            launched (ms)

bench_build() {
  CARGO_TARGET_DIR="$1" cargo build --release -p firebell >&2
  bin="$1/release/firebell"
  work="$(mktemp -d)"
  # Waited for, so the next run finds its ports free.
  trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT
}

# FIREBELL_SERVER_BIN serves with another build (an earlier commit, to
# compare); the load always comes from this tree's `firebell bench`.
# BENCH_DATABASE_URL=postgres://… serves from that database instead of a
# fresh SQLite file: it must be empty (scripts/bench-flood.sh creates it
# afresh when it is given). $backend names the one in use.
backend=SQLite
[ -z "${BENCH_DATABASE_URL:-}" ] || backend=PostgreSQL
start_firebell() {
  local port="$1"
  shift
  "${FIREBELL_SERVER_BIN:-$bin}" serve --listen "127.0.0.1:$port" \
    --database-url "${BENCH_DATABASE_URL:-sqlite:$work/firebell.db}" "$@" >"$work/fb.out" 2>"$work/fb.log" &
  fb_pid=$!
  for _ in $(seq 1 50); do grep -q "listening on" "$work/fb.out" 2>/dev/null && break; sleep 0.2; done
  sleep 1
  token="$(grep -o 'fb_[A-Za-z0-9_-]*' "$work/fb.out" | head -1)"
}

start_alertmanager() {
  printf '%s\n' "$2" >"$work/am.yml"
  prometheus-alertmanager --config.file="$work/am.yml" --storage.path="$work/am" \
    --web.listen-address="127.0.0.1:$1" --cluster.listen-address= >"$work/am.log" 2>&1 &
  am_pid=$!
}

bench_machine() {
  echo "machine: $(nproc) cores, $(uname -sr); firebell $("$bin" --version | cut -d' ' -f2), $(prometheus-alertmanager --version 2>&1 | head -1)"
}

# A policy that routes every alert into one never-paging P3 group per
# alertname: the load is ingest alone.
quiet_policy() {
  cat >"$work/policy.toml" <<TOML
version = 1
[organization]
name = "$1"
[[severities]]
name = "P3"
paging = "never"
[routing]
group_by = ["alertname"]
severity = "P3"
TOML
  "$bin" policy check "$work/policy.toml" >&2
}

now_ms() { date +%s%3N; }

backlog() {
  curl -sf "$url/metrics" -H "authorization: Bearer $token" |
    awk '$1 == "firebell_ingest_backlog" { printf "%d", $2 }'
}

kill_mid_flood() {
  "$bin" bench flood --url "$url" --token "$token" --seconds 600 --probe-timeout-secs 1 \
    >/dev/null 2>&1 &
  local flood_pid=$!
  until [ "$(backlog)" -ge "$1" ] 2>/dev/null; do sleep 0.2; done
  at_kill=$(backlog)
  kill -9 "$fb_pid"
  kill "$flood_pid" 2>/dev/null || true
  wait "$fb_pid" 2>/dev/null || true
}

restart_firebell() {
  launched=$(now_ms)
  "${FIREBELL_SERVER_BIN:-$bin}" serve --listen "127.0.0.1:$1" \
    --database-url "sqlite:$work/firebell.db" --policy "$work/policy.toml" \
    >"$work/fb2.out" 2>"$work/fb2.log" &
  fb_pid=$!
  until curl -sf "http://127.0.0.1:$1/ready" >/dev/null 2>&1; do sleep 0.05; done
}
