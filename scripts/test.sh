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

echo "== go test -race"
go test -race -count=1 -timeout 12m ./...

echo "== fuzz (short pass per decoder)"
fuzz() { # package target
  go test -run '^$' -fuzz "^$2\$" -fuzztime "${FUZZTIME:-10s}" "$1"
}
fuzz ./schema FuzzDecodeEvent
fuzz ./schema FuzzParseDecimal
fuzz ./book FuzzBook
fuzz ./client FuzzHandle
# Segment inputs are kilobytes: cap the minimization of each new input, or it takes the whole pass.
go test -run '^$' -fuzz '^FuzzSegmentReader$' -fuzztime "${FUZZTIME:-10s}" -fuzzminimizetime 200x ./replay
fuzz ./auth FuzzParseKeys
echo "== TypeScript client (clients/js): shared vectors, then against a live demo node"
(cd clients/js && npm ci && npm run build && npm test)

echo "== all tests passed"
