#!/usr/bin/env bash
# The one test command (README "Test"; .ci/run calls it). Installs the pinned tools, checks
# formatting and lints, builds every target and the SAM artifacts, then runs every test layer
# against servers it starts itself, inside a loopback-only network namespace when it can.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/install-tools.sh all
# shellcheck source=scripts/env.sh
source scripts/env.sh
unset AWS_ENDPOINT_URL AWS_ENDPOINT_URL_SQS AWS_ENDPOINT_URL_DYNAMODB

echo "==> cargo fmt --check"
cargo fmt --all --check
echo "==> cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> building tests"
cargo test --workspace --locked --no-run
echo "==> sam validate --lint, sam build"
scripts/sam-build.sh --fast

# Everything from here on needs no network: crates are fetched and tools installed. A network
# namespace with only loopback makes a mis-aimed endpoint fail here instead of leaving the host.
if [[ "${ROCKETS_NO_NETNS:-}" != 1 ]] && unshare -n true 2>/dev/null; then
    echo "==> test phase in a loopback-only network namespace"
    exec unshare -n -- bash scripts/test-phase.sh --netns
fi
echo "==> test phase (no network namespace available)"
exec bash scripts/test-phase.sh
