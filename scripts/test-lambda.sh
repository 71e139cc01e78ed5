#!/usr/bin/env bash
# Runs the SAM-built Lambda binaries (.aws-sam/build/*/bootstrap) under cargo-lambda's local
# Runtime API (`cargo lambda watch --only-lambda-apis`, loopback only) against moto and checks
# them with pytest (tests/lambda). Uses AWS_ENDPOINT_URL if set, else starts a private moto.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh
export CARGO_NET_OFFLINE=true      # cargo-lambda reads the workspace's metadata: never fetch
export PYTHONDONTWRITEBYTECODE=1   # no __pycache__ in the work tree
unset RUST_LOG                     # the functions take their level from AWS_LAMBDA_LOG_LEVEL
python="$root/.tools/venv-moto/bin/python"

# name in cargo-lambda (= the Cargo binary, which `watch` insists on) : SAM build directory
functions=(ingest:IngestFunction consumer:ConsumerFunction query:QueryFunction)
for entry in "${functions[@]}"; do
    if [[ ! -x ".aws-sam/build/${entry#*:}/bootstrap" ]]; then
        echo "missing .aws-sam/build/${entry#*:}/bootstrap: run scripts/sam-build.sh" >&2
        exit 1
    fi
done

work="$(mktemp -d "${TMPDIR:-/tmp}/rockets-lambda.XXXXXX")"
moto_instance=""
resources_created=false
watch_pid=""
pids=()  # name=pid of each bootstrap

# Stops the processes we started: TERM, up to 5 s of grace, then KILL.
stop_pids() {
    local pid
    for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
    for pid in "$@"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}

cleanup() {
    local status=$? entry
    local started=()
    trap '' INT TERM  # finish cleaning up even when interrupted again
    for entry in "${pids[@]}"; do started+=("${entry#*=}"); done
    [[ -z "$watch_pid" ]] || started+=("$watch_pid")
    stop_pids "${started[@]}"
    if $resources_created; then "$python" tests/lambda/resources.py delete || true; fi
    if [[ -n "$moto_instance" ]]; then MOTO_INSTANCE="$moto_instance" scripts/moto.sh stop; fi
    if [[ $status -eq 0 ]]; then
        rm -rf "$work"
        [[ -z "$moto_instance" ]] || rm -f ".tools/run/$moto_instance.log"
    else
        echo "==> Lambda tests FAILED (exit $status); logs kept in $work" >&2
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -z "${AWS_ENDPOINT_URL:-}" ]]; then
    moto_instance="moto-lambda-$$"
    AWS_ENDPOINT_URL="$(MOTO_INSTANCE="$moto_instance" scripts/moto.sh start)"
    export AWS_ENDPOINT_URL
    echo "==> private moto at $AWS_ENDPOINT_URL"
fi
case "$AWS_ENDPOINT_URL" in
    http://127.0.0.1:* | http://localhost:* | "http://[::1]:"*) ;;
    *) echo "AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL is not a loopback endpoint" >&2; exit 1 ;;
esac
unset AWS_ENDPOINT_URL_SQS AWS_ENDPOINT_URL_DYNAMODB  # everything goes to that one server

# Fresh table, queue and DLQ with unique names (template attributes), deleted on exit.
resources="$("$python" tests/lambda/resources.py create)"
resources_created=true
while IFS='=' read -r key value; do
    [[ "$key" =~ ^ROCKETS_[A-Z_]+$ ]] || { echo "bad line from resources.py: $key" >&2; exit 1; }
    export "$key=$value"
done <<<"$resources"
echo "==> table $ROCKETS_TABLE_NAME, queue $ROCKETS_QUEUE_URL"

port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0));
print(s.getsockname()[1]); s.close()')"
# The Runtime API only: cargo-lambda builds and starts nothing, we start the bootstraps.
cargo lambda watch --only-lambda-apis --ignore-changes -A 127.0.0.1 -P "$port" \
    --manifest-path "$root/Cargo.toml" >"$work/runtime.log" 2>&1 </dev/null &
watch_pid=$!
# Ready when the port accepts connections. (No HTTP probe: any unknown path is an invocation
# of the default function, which would wait for a response forever.)
up=false
for _ in $(seq 1 150); do
    if (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=true; break; fi
    kill -0 "$watch_pid" 2>/dev/null || { cat "$work/runtime.log" >&2; exit 1; }
    sleep 0.1
done
$up || { echo "Runtime API not up on port $port; see $work/runtime.log" >&2; exit 1; }
echo "==> cargo lambda watch --only-lambda-apis on 127.0.0.1:$port"

# The environment Lambda gives a function: the runtime endpoint (per function under /.rt/),
# identity, memory, the JSON log format and level from the template's LoggingConfig, and only
# the resource variables the template gives that function (the rest are removed).
start_function() {
    local name="$1" dir="$2" memory="$3"
    shift 3
    env -u ROCKETS_TABLE_NAME -u ROCKETS_QUEUE_URL -u ROCKETS_DLQ_URL \
        AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$port/.rt/$name" \
        AWS_LAMBDA_FUNCTION_NAME="$name" AWS_LAMBDA_FUNCTION_VERSION="\$LATEST" \
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="$memory" \
        AWS_LAMBDA_LOG_FORMAT=JSON AWS_LAMBDA_LOG_LEVEL=INFO "$@" \
        ".aws-sam/build/$dir/bootstrap" >"$work/$name.log" 2>&1 </dev/null &
    pids+=("$name=$!")
}
start_function ingest IngestFunction 128 ROCKETS_QUEUE_URL="$ROCKETS_QUEUE_URL"
start_function consumer ConsumerFunction 256 ROCKETS_TABLE_NAME="$ROCKETS_TABLE_NAME"
start_function query QueryFunction 128 ROCKETS_TABLE_NAME="$ROCKETS_TABLE_NAME"
sleep 0.3
for entry in "${pids[@]}"; do
    if ! kill -0 "${entry#*=}" 2>/dev/null; then
        echo "the ${entry%%=*} bootstrap exited at start:" >&2
        cat "$work/${entry%%=*}.log" >&2
        exit 1
    fi
done
echo "==> bootstraps running: ${pids[*]}"

export ROCKETS_LAMBDA_PORT="$port" ROCKETS_LAMBDA_LOG_DIR="$work" ROCKETS_LAMBDA_PIDS="${pids[*]}"
pytest -p no:cacheprovider -q tests/lambda "$@"
echo "==> Lambda tests passed in ${SECONDS} s"
