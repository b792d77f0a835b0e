#!/usr/bin/env bash
# The seed policies' Prometheus rules (examples/prometheus/): promtool checks
# every rules file and runs every unit-test file. Exits non-zero if either
# fails. Needs promtool (Debian's `prometheus` package).
#   scripts/check-prometheus-rules.sh
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
rules=(examples/prometheus/*.rules.yml)
tests=(examples/prometheus/*.test.yml)
if [ "${#rules[@]}" -eq 0 ] || [ "${#tests[@]}" -eq 0 ]; then
  echo "no rules or tests in examples/prometheus/" >&2
  exit 1
fi
promtool check rules "${rules[@]}"
promtool test rules "${tests[@]}"
