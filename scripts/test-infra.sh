#!/usr/bin/env bash
# Infra test: starts a private moto server (scripts/moto.sh, instance "moto-infra"), runs the
# LocalStack init script twice against it (both must succeed), then runs tests/infra with
# pytest to check the resources against template.yaml. Stops its server on exit.
# Assumes scripts/install-tools.sh moto aws has run. Extra arguments go to pytest.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh
unset ROCKETS_TABLE_NAME ROCKETS_QUEUE_NAME ROCKETS_DLQ_NAME  # test the defaults
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the work tree

export MOTO_INSTANCE=moto-infra
trap 'scripts/moto.sh stop' EXIT
scripts/moto.sh stop  # a fresh, empty server: the test checks for *exactly* our resources
AWS_ENDPOINT_URL="$(scripts/moto.sh start)"
export AWS_ENDPOINT_URL
echo "moto at $AWS_ENDPOINT_URL"

for run in 1 2; do
    echo "init script, run $run"
    bash localstack-init/ready.d/10-rockets-resources.sh
done

pytest -p no:cacheprovider tests/infra "$@"
