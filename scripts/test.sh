#!/usr/bin/env bash
# Runs every test of the project: the Rust workspace (unit, property,
# golden-scenario, conformance, crash and in-process server tests) and, when
# present, the browser tests. Conformance vectors are read from
# ../shared/external or $YMT_CONFORMANCE_DIR; tests print a skip line when
# they are absent.
set -euo pipefail
cd "$(dirname "$0")/.."
# The Rust tests of OpenID sign-in run a real OpenID provider (oidc-provider,
# a pinned dev dependency of browser-tests/) under Node.js.
(cd browser-tests && npm ci --no-audit --no-fund --silent)
cargo test --workspace --locked
if [ -x browser-tests/run.sh ]; then
  browser-tests/run.sh
fi
