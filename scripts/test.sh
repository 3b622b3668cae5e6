#!/usr/bin/env bash
# Runs every test brainwrite has: formatting and lints, the Rust unit, property and
# integration tests, then the browser tests in headless Chromium against the real pages.
# On a fresh machine it installs what the browser tests need (Debian's chromium, the npm
# packages) first; set BRAINWRITE_SKIP_BROWSER=1 to run only the Rust tests.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt / clippy"
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings

echo "== cargo test (engine, protocol, integration over real sockets)"
cargo test --quiet

if [ "${BRAINWRITE_SKIP_BROWSER:-0}" = "1" ]; then
  echo "== browser tests skipped (BRAINWRITE_SKIP_BROWSER=1)"
  exit 0
fi

echo "== browser tests (headless Chromium)"
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "Chromium is missing: install Debian's chromium package (sudo apt-get install chromium)" >&2
    exit 1
  fi
fi
if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/axe-core ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
cargo build --quiet
node --test --test-concurrency=1 tests/browser/
