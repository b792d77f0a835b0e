#!/usr/bin/env bash
# The public status page under load while an incident is being updated:
# Firebell (release build, SQLite, the demo policy) serves /status and
# Statuspage's summary.json to wrk while a responder posts a public update
# every second. Reports the rate of 2xx answers and wrk's latency
# percentiles, and, per update, how long until a customer polling
# summary.json sees it. Loopback only; wrk and the server share the cores.
# Prints Markdown rows for BENCHMARKS.md. Needs: cargo, wrk, python3.
#   scripts/bench-status-page.sh [seconds] [connections] [history] [target-dir]
# history: resolved incidents (each with three public updates) made first.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}" conns="${2:-64}" history="${3:-200}"
. scripts/bench-common.sh
bench_build "${4:-target}"
port=18185
start_firebell "$port"
url="http://127.0.0.1:$port"
echo "machine: $(nproc) cores, $(uname -sr); firebell $("$bin" --version | cut -d' ' -f2), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)" >&2

# A realistic page: past incidents with public updates, one open P1.
python3 - "$url" "$token" "$history" <<'PY' >&2
import json, sys, urllib.request
url, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def post(path, body):
    req = urllib.request.Request(url + path, json.dumps(body).encode(),
        {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))
for i in range(n):
    sev = ["P0", "P1", "P2"][i % 3]
    svc = ["api", "web"][i % 2]
    iid = post("/api/v1/incidents", {"title": f"Past incident {i}", "severity": sev, "services": [svc]})["incident"]["id"]
    for st in ["identified", "monitoring"]:
        post(f"/api/v1/incidents/{iid}/updates", {"status": st, "visibility": "public", "message": f"{st}: incident {i} is being handled"})
    post(f"/api/v1/incidents/{iid}/resolve", {"summary": "fixed"})
iid = post("/api/v1/incidents", {"title": "Checkout errors", "severity": "P1", "services": ["api"]})["incident"]["id"]
print(iid)
PY
incident="$(curl -s -H "Authorization: Bearer $token" "$url/api/v1/incidents?status=investigating&limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')"
echo "page: $(curl -s "$url/status" | wc -c) bytes of HTML, $(curl -s "$url/status/api/v2/summary.json" | wc -c) bytes of summary.json" >&2

# One public update a second; each timed until summary.json shows it.
updater() {
  python3 - "$url" "$token" "$incident" "$1" <<'PY'
import json, sys, time, urllib.request
url, token, iid, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
lat, failed, end, n = [], 0, time.time() + seconds, 0
while time.time() < end:
    tick = time.time()
    n += 1
    text = f"Update {n}: still working on it"
    req = urllib.request.Request(url + f"/api/v1/incidents/{iid}/updates",
        json.dumps({"status": "identified", "visibility": "public", "message": text}).encode(),
        {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    t0 = time.perf_counter()
    try:
        urllib.request.urlopen(req, timeout=5).read()
        while True:
            body = urllib.request.urlopen(url + "/status/api/v2/summary.json", timeout=5).read().decode()
            if text in body:
                lat.append((time.perf_counter() - t0) * 1000)
                break
            if time.perf_counter() - t0 > 10:
                failed += 1
                break
            time.sleep(0.005)
    except Exception:
        failed += 1
    time.sleep(max(0, 1 - (time.time() - tick)))
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
print(f"{len(lat)} updates seen, {failed} not; POST → visible in summary.json p50 {q(0.5):.1f} ms, p99 {q(0.99):.1f} ms, max {lat[-1] if lat else float('nan'):.1f} ms")
PY
}

run() {
  local path="$1"
  updater "$seconds" >"$work/updates.txt" &
  local up=$!
  wrk -t2 -c"$conns" -d"${seconds}s" --latency "$url$path" >"$work/wrk.txt"
  wait "$up"
  python3 - "$work/wrk.txt" "$seconds" "$path" "$conns" "$(cat "$work/updates.txt")" <<'PY'
import re, sys
text, seconds, path, conns, updates = open(sys.argv[1]).read(), float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
total = int(re.search(r"(\d+) requests in", text).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors = re.search(r"Socket errors: (.*)", text)
ok = total - (int(bad.group(1)) if bad else 0)
pct = dict(re.findall(r"\s+(50|75|90|99)%\s+(\S+)", text))
print(f"| `{path}` | {conns} | {ok / seconds:,.0f}/s ({ok:,} 2xx{', ' + bad.group(1) + ' not' if bad else ''}) | {pct.get('50')} | {pct.get('99')} | {updates} |"
      + (f" socket errors: {errors.group(1)}" if errors else ""))
PY
}

echo "| path | connections | 2xx rate | p50 | p99 | a public update posted every second |"
echo "|---|---|---|---|---|---|"
run /status
run /status/api/v2/summary.json
echo "server RSS after: $(ps -o rss= -p "$fb_pid" | awk '{printf "%.0f MiB", $1/1024}')"
