#!/usr/bin/env bash
# The whole test suite: vet, staticcheck, unit and integration tests under the race detector, and a
# short fuzz pass over each decoder. Installs what it needs (tools from the Go module proxy, Chromium from
# Debian when browser tests exist). Run from anywhere: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== go vet"
go vet ./...

echo "== staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

echo "== chromium (browser tests)"
if ! bash scripts/install-chromium.sh; then
  if [ "${CI:-}" = "true" ]; then exit 1; fi
  echo "Chromium could not be installed: the browser tests will skip"
fi

echo "== real Apache Kafka (scripts/kafka.sh): clusters for the real-Kafka suite of cmd/depthcast"
if ! command -v kcat >/dev/null; then
  apt-get install -y kcat >/dev/null 2>&1 || (apt-get update >/dev/null && apt-get install -y kcat >/dev/null) || true
fi
trap 'bash scripts/kafka.sh stop >/dev/null 2>&1 || true' EXIT
if DEPTHCAST_KAFKA_BROKERS="$(bash scripts/kafka.sh start --brokers 1 | tail -n 1)" &&
  DEPTHCAST_KAFKA_BROKERS3="$(bash scripts/kafka.sh start --brokers 3 | tail -n 1)"; then
  export DEPTHCAST_KAFKA_BROKERS DEPTHCAST_KAFKA_BROKERS3
else
  if [ "${CI:-}" = "true" ]; then echo "Apache Kafka did not start" >&2; exit 1; fi
  echo "Apache Kafka did not start: the real-Kafka suite will skip"
fi

echo "== go test -race"
go test -race -count=1 -timeout 12m ./...

echo "== Python client (clients/python: vectors, then against live demo nodes)"
bash clients/python/test.sh

echo "== TypeScript client (clients/js: shared vectors, then against a live demo node)"
(cd clients/js && npm ci --no-audit --no-fund && npm run build && npm test)

echo "== fuzz (short pass per decoder)"
# Budgets are execution counts, not durations: with a -fuzztime duration the Go 1.26 fuzz coordinator can
# race its own deadline and fail with "context deadline exceeded" and no reproducer (golang/go#75804). A
# count ends the pass when the work is done, so it fails only on a real finding. Each budget is sized to take
# about 10 s on 2 cores (measured rates: DecodeEvent ~50k/s, ParseDecimal ~26k/s, ParseKeys ~19k/s,
# Book ~3.6k/s, Handle ~2.9k/s, SegmentReader ~2k/s). FUZZSCALE multiplies every budget (default 1).
fuzz() { # package target [budget in executions] [extra go test flags...]
  local pkg=$1 target=$2 n=${3:-100000}
  shift 3 2>/dev/null || shift $#
  go test -run '^$' -fuzz "^$target\$" -fuzztime "$((n * ${FUZZSCALE:-1}))x" "$@" "$pkg"
}
fuzz ./schema FuzzDecodeEvent 500000
fuzz ./schema FuzzParseDecimal 300000
fuzz ./book FuzzBook 40000
fuzz ./client FuzzHandle 30000
# Segment inputs are kilobytes: cap the minimization of each new input, or it takes the whole pass.
fuzz ./replay FuzzSegmentReader 20000 -fuzzminimizetime 200x
fuzz ./auth FuzzParseKeys 200000
# Raw client frames against the real WebSocket server path (handshake, then arbitrary bytes): about 100
# inputs a second, each new one minimized for a bounded number of runs.
fuzz ./feed FuzzRawFrames 1000 -fuzzminimizetime 50x
echo "== all tests passed"
