#!/usr/bin/env bash
# The whole test suite: vet, staticcheck, unit and integration tests under the race detector, and a
# short fuzz pass over each decoder. Installs what it needs (tools from the Go module proxy, Chromium from
# Debian when browser tests exist). Run from anywhere: bash scripts/test.sh (--quick: vet and the short
# tests only, a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

# Every step has a time limit of its own, so that a step that hangs fails the run with its name instead of
# holding the machine until an outer limit kills everything. The limits are several times each step's
# measured duration on two cores (see README "Two commands").
step() { # SECONDS NAME COMMAND...
  local limit=$1 name=$2
  shift 2
  local rc=0
  timeout --kill-after=30 "$limit" "$@" || rc=$?
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "== FAILED: $name did not finish within ${limit}s" >&2
  fi
  return "$rc"
}

if [ "${1:-}" = "--quick" ]; then
  # For a first look: vet and the tests in -short mode, without the race detector, the real-Kafka suite,
  # the client SDKs and fuzzing (browser tests run when Chromium is installed, and skip otherwise).
  echo "== quick: go vet, go test -short (bash scripts/test.sh without --quick runs everything)"
  step 600 "go vet" go vet ./...
  step 900 "go test -short" go test -short -count=1 ./...
  echo "== quick tests passed"
  exit 0
fi

echo "== go vet"
step 600 "go vet" go vet ./...

echo "== staticcheck"
step 900 staticcheck go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

echo "== chromium (browser tests)"
if ! step 600 "chromium install" bash scripts/install-chromium.sh; then
  if [ "${CI:-}" = "true" ]; then exit 1; fi
  echo "Chromium could not be installed: the browser tests will skip"
fi

echo "== real Apache Kafka (scripts/kafka.sh): clusters for the real-Kafka suite of cmd/depthcast"
if ! command -v kcat >/dev/null; then
  timeout 300 apt-get install -y kcat >/dev/null 2>&1 || (timeout 300 apt-get update >/dev/null && timeout 300 apt-get install -y kcat >/dev/null) || true
fi
trap 'bash scripts/kafka.sh stop >/dev/null 2>&1 || true' EXIT
if DEPTHCAST_KAFKA_BROKERS="$(step 900 "Kafka start" bash scripts/kafka.sh start --brokers 1 | tail -n 1)" &&
  DEPTHCAST_KAFKA_BROKERS3="$(step 600 "Kafka start" bash scripts/kafka.sh start --brokers 3 | tail -n 1)"; then
  export DEPTHCAST_KAFKA_BROKERS DEPTHCAST_KAFKA_BROKERS3
else
  if [ "${CI:-}" = "true" ]; then echo "Apache Kafka did not start" >&2; exit 1; fi
  echo "Apache Kafka did not start: the real-Kafka suite will skip"
fi

echo "== go test -race"
step 1500 "go test" go test -race -count=1 -timeout 20m ./...

echo "== Python client (clients/python: vectors, then against live demo nodes)"
step 900 "Python client" bash clients/python/test.sh

echo "== TypeScript client (clients/js: shared vectors, then against a live demo node)"
step 900 "TypeScript client" bash -c 'cd clients/js && npm ci --no-audit --no-fund && npm run build && npm test'

echo "== fuzz (short pass per decoder)"
# Budgets are execution counts, not durations: with a -fuzztime duration the Go 1.26 fuzz coordinator can
# race its own deadline and fail with "context deadline exceeded" and no reproducer (golang/go#75804). A
# count ends the pass when the work is done, so it fails only on a real finding. Each budget is sized to take
# about 10 s on 2 cores (measured rates: DecodeEvent ~50k/s, ParseDecimal ~26k/s, ParseKeys ~19k/s,
# DecoderMatchesReference ~10k/s, Book ~3.6k/s, Handle ~2.9k/s, SegmentReader ~2k/s). FUZZSCALE multiplies
# every budget (default 1).
fuzz() { # package target [budget in executions] [extra go test flags...]
  local pkg=$1 target=$2 n=${3:-100000}
  shift 3 2>/dev/null || shift $#
  step 600 "fuzz $target" go test -run '^$' -fuzz "^$target\$" -fuzztime "$((n * ${FUZZSCALE:-1}))x" "$@" "$pkg"
}
fuzz ./schema FuzzDecodeEvent 500000
# The decoder against encoding/json plus the contract's rules written the slow way: ambiguous records (a
# field named twice in any letter case) and decimals or levels outside the upstream form.
fuzz ./schema FuzzDecoderMatchesReference 100000
fuzz ./schema FuzzParseDecimal 300000
fuzz ./book FuzzBook 40000
fuzz ./client FuzzHandle 30000
# Segment inputs are kilobytes: cap the minimization of each new input, or it takes the whole pass.
fuzz ./replay FuzzSegmentReader 20000 -fuzzminimizetime 200x
fuzz ./auth FuzzParseKeys 200000
# Raw client frames against the real WebSocket server path (handshake, then arbitrary bytes): about 100
# inputs a second, but an input the server does not close waits out a 300 ms read and each new one is
# minimized for a bounded number of runs, so the 1000 take about 70 s.
fuzz ./feed FuzzRawFrames 1000 -fuzzminimizetime 50x
# Handshakes with arbitrary Sec-WebSocket-Key and Sec-WebSocket-Extensions values: ~1.5k a second.
fuzz ./feed FuzzHandshake 15000
echo "== all tests passed"
