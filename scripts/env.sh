# shellcheck shell=bash
# Source me: puts the project's pinned tools (.tools/bin) first on PATH and exports safe test
# credentials and region, so nothing run locally can use real AWS credentials. Sets no endpoint.
_rockets_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case ":$PATH:" in
    *":$_rockets_root/.tools/bin:"*) ;;
    *) export PATH="$_rockets_root/.tools/bin:$PATH" ;;
esac
unset _rockets_root
export AWS_EC2_METADATA_DISABLED=true
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_DEFAULT_REGION=us-east-1
export AWS_REGION=us-east-1
export SAM_CLI_TELEMETRY=0
export DISABLE_DEPRECATION_NOTICE=1  # awslocal's lstk banner on every call
unset AWS_SESSION_TOKEN AWS_PROFILE
