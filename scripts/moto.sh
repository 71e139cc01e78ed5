#!/usr/bin/env bash
# Owns the project's local moto server (SQS + DynamoDB on loopback): start|stop|url.
# State lives in .tools/run/$MOTO_INSTANCE.{pid,port,log} (default name: moto); `start` prints
# the endpoint URL and is a no-op when that server already runs. Needs install-tools.sh moto.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
run="$root/.tools/run"
name="${MOTO_INSTANCE:-moto}"
pid_file="$run/$name.pid"
port_file="$run/$name.port"
log_file="$run/$name.log"
moto_server="$root/.tools/bin/moto_server"
python="$root/.tools/venv-moto/bin/python"

running() {
    [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

url() {
    [[ -f "$port_file" ]] || { echo "moto is not running (no $port_file)" >&2; return 1; }
    echo "http://127.0.0.1:$(cat "$port_file")"
}

start() {
    if running; then
        url
        return 0
    fi
    if [[ ! -x "$moto_server" ]]; then
        echo "moto_server missing: run scripts/install-tools.sh moto" >&2
        return 1
    fi
    mkdir -p "$run"
    local port pid
    port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0));
print(s.getsockname()[1]); s.close()')"
    MOTO_ACCOUNT_ID=000000000000 nohup "$moto_server" -H 127.0.0.1 -p "$port" \
        >"$log_file" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$pid_file"
    echo "$port" >"$port_file"

    # Ready when the moto API answers; give up after ~15 s.
    for _ in $(seq 1 150); do
        if curl -fs -o /dev/null "http://127.0.0.1:$port/moto-api/"; then
            url
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "moto did not start on port $port; see $log_file" >&2
    stop
    return 1
}

stop() {
    if running; then
        local pid
        pid="$(cat "$pid_file")"
        kill "$pid"
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
    fi
    rm -f "$pid_file" "$port_file"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) url ;;
    *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
