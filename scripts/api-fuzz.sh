#!/usr/bin/env bash
# Fuzzes a running node against its own OpenAPI document with schemathesis
# (every check, set in scripts/schemathesis.toml: server errors, status codes, content types, headers, response
# schemas, and that schema-valid requests are accepted and schema-invalid ones
# refused). Starts `yimatong serve --demo` on a free loopback port with a
# fresh data directory, runs schemathesis as the demo national admin, as the
# demo lab, then without credentials, and exits non-zero on any failure. Sends traffic to
# 127.0.0.1 only; bounded by --max-examples per operation.
#
#   scripts/api-fuzz.sh              builds the release binary if needed
#   YMT_BIN=path scripts/api-fuzz.sh uses that binary
#   ST=path/to/st                    the schemathesis CLI (default: `st`)
#   YMT_FUZZ_EXAMPLES=N              test cases per operation (default 100)
#   YMT_FUZZ_SEED=N                  a fixed seed (default: random, printed)
set -euo pipefail
cd "$(dirname "$0")/.."

st=${ST:-st}
if ! command -v "$st" >/dev/null 2>&1; then
  echo "api-fuzz: schemathesis CLI '$st' not found (pip install schemathesis, or set ST)" >&2
  exit 2
fi
if [ -z "${YMT_BIN:-}" ]; then
  cargo build --release --locked -p yimatong
  YMT_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/yimatong"
fi
examples=${YMT_FUZZ_EXAMPLES:-100}
seed=${YMT_FUZZ_SEED:-$RANDOM$RANDOM}

config="$PWD/scripts/schemathesis.toml"
work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
"$YMT_BIN" serve --demo --data "$work/data" --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 600); do
  if grep -q '^YMT_READY ' "$work/serve.log"; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "api-fuzz: the node exited:" >&2
    cat "$work/serve.log" >&2
    exit 1
  fi
  sleep 0.2
done
if ! grep -q '^YMT_READY ' "$work/serve.log"; then
  echo "api-fuzz: the node did not become ready in 120 s" >&2
  cat "$work/serve.log" >&2
  exit 1
fi
key_of() {
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/data/demo-keys.json" "$1"
}

status=0
passed=0
failed=0
run() {
  local label=$1
  shift
  echo "== schemathesis: $label (seed $seed, $examples examples per operation)"
  # Run from the scratch directory: schemathesis keeps a crash cache in its
  # working directory.
  if ! (cd "$work" && "$st" --config-file "$config" run "$base/openapi.json" \
    --max-examples "$examples" --seed "$seed" --workers 1 \
    --request-timeout 30 --generation-database none --no-color "$@"); then
    status=1
    failed=$((failed + 1))
  else
    passed=$((passed + 1))
  fi
}
run "as the national admin" -H "Authorization: Bearer $(key_of demo-admin)"
run "as a lab of 440305" -H "Authorization: Bearer $(key_of demo-lab-440305)"
run "without credentials"
if [ "$status" -ne 0 ]; then
  echo "api-fuzz: failures (seed $seed); server log tail:" >&2
  tail -n 20 "$work/serve.log" >&2
fi
echo "api-fuzz: $passed passed, $failed failed"
exit "$status"
