#!/usr/bin/env bash
# The offline part of scripts/test.sh: starts moto on loopback, runs the Rust test suites (unit,
# property, handler, adapter-on-moto, end-to-end), the infra test and the Lambda binary tests,
# then stops what it started. Expects scripts/test.sh to have installed and built everything.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [[ "${1:-}" == --netns ]]; then
    ip link set lo up
fi
# shellcheck source=scripts/env.sh
source scripts/env.sh
export CARGO_NET_OFFLINE=true

export MOTO_INSTANCE=moto-test
scripts/moto.sh stop >/dev/null 2>&1 || true
trap 'MOTO_INSTANCE=moto-test scripts/moto.sh stop' EXIT
AWS_ENDPOINT_URL="$(scripts/moto.sh start)"
export AWS_ENDPOINT_URL ROCKETS_TEST_ENDPOINT="$AWS_ENDPOINT_URL"
echo "==> moto at $AWS_ENDPOINT_URL"

echo "==> cargo test"
cargo test --workspace --locked -- --skip concurrent_consumers_reach_the_sequential_state
echo "==> concurrency on moto (prints the conflicts it retried)"
cargo test --locked -p rockets-aws --test concurrency -- --nocapture

echo "==> infra test (init scripts vs template, on a private moto)"
scripts/test-infra.sh

echo "==> Lambda binaries through cargo lambda watch"
scripts/test-lambda.sh
