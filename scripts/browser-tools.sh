#!/usr/bin/env bash
# What the browser tests (crates/server/tests/browser.rs) need, installed
# without downloading any browser: Debian's chromium and chromium-driver,
# and axe-core from npm into .browser-tools/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "installing chromium and chromium-driver (Debian)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; }
fi
if [ ! -f .browser-tools/node_modules/axe-core/axe.min.js ]; then
  echo "installing axe-core (npm) into .browser-tools/"
  mkdir -p .browser-tools
  (cd .browser-tools && npm install --silent --no-audit --no-fund --no-save axe-core@4.14.1 >/dev/null)
fi
