#!/usr/bin/env bash
# packaging/systemd/firebell.service: `systemd-analyze verify` must print
# nothing (it exits 0 on unknown keys and bad values, so its output is the
# verdict), and `systemd-analyze security` must rate it 2.0 or better.
# Runs offline in a scratch root: the host's unit files, stand-ins for
# /usr/local/bin/firebell and /bin/kill. Without systemd-analyze it says SKIPPED.
#   scripts/check-systemd-unit.sh
set -euo pipefail
cd "$(dirname "$0")/.."
unit=packaging/systemd/firebell.service
if ! command -v systemd-analyze >/dev/null; then
  echo "SKIPPED: no systemd-analyze (Debian's systemd package)"
  exit 0
fi
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/lib/systemd" "$root/etc/systemd/system" "$root/usr/local/bin" "$root/bin"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
cp "$unit" "$root/etc/systemd/system/"
for exe in usr/local/bin/firebell bin/kill; do
  printf '#!/bin/sh\n' >"$root/$exe"
  chmod 0755 "$root/$exe"
done

out="$(systemd-analyze verify --root="$root" firebell.service 2>&1)" || true
if [ -n "$out" ]; then
  echo "$unit: systemd-analyze verify:" >&2
  echo "$out" >&2
  exit 1
fi
score="$(systemd-analyze security --offline=yes --root="$root" firebell.service 2>&1 \
  | sed -n 's/.*Overall exposure level for firebell.service: \([0-9.]*\).*/\1/p')"
if [ -z "$score" ] || ! awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
  echo "$unit: systemd-analyze security exposure ${score:-unknown}, want 2.0 or less" >&2
  exit 1
fi
echo "$unit: verify clean, security exposure $score"
