#!/usr/bin/env bash
# Builds the node, installs the pinned test dependencies and runs the browser
# tests against Debian's chromium. Screenshots land in target/screenshots/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"

if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ] || ! fc-list 2>/dev/null | grep -qi "noto.*cjk"; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
  else
    echo "browser-tests: chromium and fonts-noto-cjk are needed (apt-get install chromium fonts-noto-cjk)" >&2
    exit 2
  fi
fi

# The same build as `cargo test --workspace` (same features), so after the
# Rust tests this is a no-op instead of a second build of every dependency.
(cd "$root" && cargo test --workspace --no-run --locked)
export YMT_BIN="$root/target/debug/yimatong"
cd "$here"
npm ci --no-audit --no-fund
timeout 900 node --test --test-concurrency=1 tests/
