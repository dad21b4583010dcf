#!/usr/bin/env bash
# Runs one Lambda function on one event under the AWS Lambda Runtime Interface
# Emulator, as `sam local invoke` does, without Docker:
#
#   scripts/invoke.sh send|drain|receipts|publisher BOOTSTRAP EVENT [ENV_FILE]
#
# `make invoke FUNCTION=send EVENT=events/send/<event>.json` builds BOOTSTRAP
# for the host's architecture and calls this. The function's environment is a
# Lambda-like base, the AWS_* variables of the calling shell (region,
# credentials, AWS_ENDPOINT_URL for an emulator such as moto), then the
# "Parameters" and the function's section (SendFunction, ...) of ENV_FILE
# (default events/env.json: the file `sam local invoke --env-vars` takes).
# Nothing else is inherited. The emulator's log (function output included)
# goes to stderr, the function's response to stdout.
set -euo pipefail

die() { echo "invoke: $*" >&2; exit 2; }

[ $# -ge 3 ] || die "usage: $0 send|drain|receipts|publisher BOOTSTRAP EVENT [ENV_FILE]"
fn=$1 bootstrap=$2 event=$3 envfile=${4:-events/env.json}

# Timeouts and memory as in template.yaml.
case $fn in
  send) logical=SendFunction timeout=10 ;;
  drain) logical=DrainFunction timeout=60 ;;
  receipts) logical=ReceiptsFunction timeout=10 ;;
  publisher) logical=PublisherFunction timeout=30 ;;
  *) die "FUNCTION must be send, drain, receipts or publisher, got '$fn'" ;;
esac
[ -x "$bootstrap" ] || die "no executable bootstrap at $bootstrap"
[ -f "$event" ] || die "no event file $event"

root=$(cd "$(dirname "$0")/.." && pwd)
rie=$root/.bin/aws-lambda-rie
[ -x "$rie" ] || rie=$(command -v aws-lambda-rie) ||
  die "aws-lambda-rie not found in ./.bin or PATH: install it with  make tools"
command -v curl >/dev/null || die "curl not found"

env_args=(
  "PATH=/usr/local/bin:/usr/bin:/bin"
  "TZ=:UTC"
  "LAMBDA_TASK_ROOT=$(cd "$(dirname "$bootstrap")" && pwd)"
  "AWS_LAMBDA_FUNCTION_NAME=$logical"
  "AWS_LAMBDA_FUNCTION_TIMEOUT=$timeout"
  "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256"
)
while IFS= read -r -d '' kv; do
  case $kv in AWS_*) env_args+=("$kv") ;; esac
done < <(env -0)

# env_sections FILE LOGICAL: prints KEY=VALUE\0 for the "Parameters" section,
# then the function's section (later values win). Non-string values are
# written as JSON (10, true), as SAM does.
env_sections() {
  if command -v python3 >/dev/null; then
    python3 - "$1" "$2" <<'PY'
import json, sys

path, logical = sys.argv[1], sys.argv[2]
try:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
except (OSError, ValueError) as e:
    sys.exit(f"invoke: {path}: {e}")
if not isinstance(doc, dict):
    sys.exit(f"invoke: {path}: must be a JSON object")
merged = {}
for section in ("Parameters", logical):
    values = doc.get(section) or {}
    if not isinstance(values, dict):
        sys.exit(f"invoke: {path}: section {section} must be an object")
    for key, value in values.items():
        if value is None:
            continue
        merged[key] = value if isinstance(value, str) else json.dumps(value)
for key, value in merged.items():
    if not key or "=" in key or "\0" in key + value:
        sys.exit(f"invoke: {path}: invalid variable {key!r}")
    sys.stdout.write(f"{key}={value}\0")
PY
  elif command -v jq >/dev/null; then
    jq -j --arg fn "$2" '((.Parameters // {}) + (.[$fn] // {})) | to_entries[]
      | select(.value != null)
      | "\(.key)=\(.value | if type == "string" then . else tojson end)\u0000"' "$1"
  else
    die "python3 or jq is needed to read $1"
  fi
}

if [ -f "$envfile" ]; then
  vars=$(mktemp)
  trap 'rm -f "$vars"' EXIT
  env_sections "$envfile" "$logical" >"$vars"
  while IFS= read -r -d '' kv; do env_args+=("$kv"); done <"$vars"
else
  echo "invoke: $envfile not found: the function gets no configuration" >&2
fi

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((20000 + RANDOM % 20000))
}
port=$(free_port)
api_port=$(free_port)
log=$(mktemp)
out=$(mktemp)
rie_pid=

cleanup() {
  if [ -n "$rie_pid" ]; then
    kill -TERM "$rie_pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$rie_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$rie_pid" 2>/dev/null || true
    wait "$rie_pid" 2>/dev/null || true
  fi
  rm -f "$log" "$out" "${vars:-}"
}
trap cleanup EXIT

(cd "$(dirname "$bootstrap")" && exec env -i "${env_args[@]}" "$rie" \
  --runtime-interface-emulator-address "127.0.0.1:$port" \
  --runtime-api-address "127.0.0.1:$api_port" \
  "$(pwd)/$(basename "$bootstrap")") >"$log" 2>&1 &
rie_pid=$!

url="http://127.0.0.1:$port/2015-03-31/functions/function/invocations"
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  kill -0 "$rie_pid" 2>/dev/null || { cat "$log" >&2; die "aws-lambda-rie exited"; }
  sleep 0.05
done

status=$(curl -sS -o "$out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  --max-time $((timeout + 10)) --data-binary "@$event" "$url") || status=000
echo "----- $logical: emulator log -----" >&2
cat "$log" >&2
echo "----- $logical: response (HTTP $status) -----" >&2
cat "$out"
echo
[ "$status" = 200 ]
