#!/usr/bin/env bash
# Validates template.yaml (sam validate --lint) and builds the three functions with SAM's
# rust-cargolambda build method into .aws-sam/build/<Function>/bootstrap, the binaries the
# Lambda tests (scripts/test-lambda.sh) run. `--fast` first skips LTO (tests); other arguments
# go to `sam build`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

if [[ "${1:-}" == --fast ]]; then
    # For tests: the same code, compiled without LTO and with more codegen units (minutes less
    # on two cores). Deployments use the Cargo.toml release profile.
    shift
    export CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
fi
sam validate --lint
sam build "$@"
for function in IngestFunction ConsumerFunction QueryFunction; do
    test -x ".aws-sam/build/$function/bootstrap" || {
        echo "sam build produced no bootstrap for $function" >&2
        exit 1
    }
done
echo "==> built: $(ls .aws-sam/build/*/bootstrap | tr '\n' ' ')"
