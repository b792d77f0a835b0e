#!/usr/bin/env bash
# The OpenAPI document (`GET /api/v1/openapi.json`) against a real validator
# and against the server. The contract test (crates/server/tests/contract.rs)
# starts the real server, calls every documented operation, checks each
# answer's status and headers, and writes the served document and the
# answers to DIR; then openapi-spec-validator checks the document, and
# scripts/check_contract.py each answer's body against the schema the
# document gives for its status. Exits non-zero if any of them fails.
# Needs openapi-spec-validator (pip; it brings jsonschema).
#   scripts/check-openapi.sh [DIR]    (default target/openapi)
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-target/openapi}"
rm -rf "$dir"
mkdir -p "$dir"
FIREBELL_OPENAPI_DIR="$(cd "$dir" && pwd)" \
  cargo test -p firebell-server --test contract -- --exact \
  sqlite::every_documented_operation_answers_as_documented
test -s "$dir/openapi.json" && test -s "$dir/answers.json"
python3 -m openapi_spec_validator --validation-errors all "$dir/openapi.json"
python3 scripts/check_contract.py "$dir/openapi.json" "$dir/answers.json"
