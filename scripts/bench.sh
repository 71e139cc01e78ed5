#!/usr/bin/env bash
# Benchmarks (figures for the README; nothing here is a pass/fail test):
#  1. the default launcher run (100,000 messages, 3 senders, --verify) against a release
#     rockets-local on the embedded backend: messages/s end to end and peak RSS of both sides;
#  2. DynamoDB write requests per message on moto (tests/benches/writes.rs).
# Usage: scripts/bench.sh [local|writes]...  (default: both)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh
what=("$@")
[[ ${#what[@]} -gt 0 ]] || what=(local writes)

bench_local() {
    cargo build --release --locked -p rockets-local -p rockets-launcher
    local port log pid start end rc=0
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); \
print(s.getsockname()[1])')"
    log="$(mktemp)"
    target/release/rockets-local --listen "127.0.0.1:$port" 2>"$log" &
    pid=$!
    trap 'kill "$pid" 2>/dev/null || true' RETURN
    for _ in $(seq 50); do
        curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
        sleep 0.1
    done
    start=$(date +%s.%N)
    /usr/bin/time -f '%M' -o "$log.launcher-rss" target/release/rockets-launcher launch \
        "http://127.0.0.1:$port/messages" --verify "http://127.0.0.1:$port" || rc=$?
    end=$(date +%s.%N)
    local server_rss launcher_rss
    server_rss="$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")"
    launcher_rss="$(cat "$log.launcher-rss")"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    python3 - "$start" "$end" "$server_rss" "$launcher_rss" "$rc" <<'PY'
import sys
start, end, server_kb, launcher_kb, rc = sys.argv[1:]
secs = float(end) - float(start)
print(f"\nlauncher default run (100,000 messages, 3 senders) against release rockets-local:")
print(f"  wall time incl. verify: {secs:.2f} s -> {100000 / secs:,.0f} messages/s end to end")
print(f"  peak RSS rockets-local: {int(server_kb) / 1024:.1f} MiB; "
      f"launcher: {int(launcher_kb) / 1024:.1f} MiB; launcher exit code {rc}")
PY
    return "$rc"
}

bench_writes() {
    export MOTO_INSTANCE=moto-bench
    scripts/moto.sh stop >/dev/null 2>&1 || true
    AWS_ENDPOINT_URL="$(scripts/moto.sh start)"
    export AWS_ENDPOINT_URL
    cargo bench --locked -p rockets-e2e --bench writes || { scripts/moto.sh stop; return 1; }
    scripts/moto.sh stop
}

for w in "${what[@]}"; do
    case "$w" in
        local) bench_local ;;
        writes) bench_writes ;;
        *) echo "unknown benchmark: $w (want local|writes)" >&2; exit 2 ;;
    esac
done
