#!/usr/bin/env bash
# make bench: runs the project's benchmarks and writes the table to
# docs/benchmarks.md (with the date and the machine), so progress stays
# visible in the history. Takes a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT

bench() { # package, pattern, benchtime
	echo "== go test -bench '$2' -benchtime $3 $1" >&2
	go test -run '^$' -bench "$2" -benchtime "$3" -benchmem "$1" | tee -a "$raw" >&2
}

bench ./internal/app '^BenchmarkHandlerInProcess$' 3s
bench ./internal/app '^BenchmarkAWSRequestsPerMessage$' 200x
bench ./internal/app '^BenchmarkReceiptRequests$' 100x
bench ./internal/app '^BenchmarkScheduledRequestsPerMessage$' 50x
bench ./internal/app '^BenchmarkCostPerMessage$' 20x
bench ./internal/sms '^Benchmark(Guarded)?ValidateAndSegments$' 1s
bench ./internal/auth '^BenchmarkVerifyHS256$' 1s
bench ./internal/twilio '^BenchmarkTwilioSend$' 1s
bench ./internal/vonage '^BenchmarkVonageSend$' 1s
bench ./internal/dynamo '^BenchmarkDynamoLimiterReserve$' 2s
bench ./internal/dynamo '^BenchmarkBoundaryBurst$' 3x
bench ./internal/local '^BenchmarkLocalServer$' 3s
bench ./internal/events '^BenchmarkEventsPerMessage$' 20x
bench ./internal/e2e/invoketest '^BenchmarkColdStart$' 10x
bench ./internal/e2e/invoketest '^BenchmarkWarmSendLatency$' 60x

echo "== make build" >&2
sizes=$(make -s build | tee /dev/stderr)

python3 scripts/benchtable.py "$raw" "$sizes" > docs/benchmarks.md
cat docs/benchmarks.md
