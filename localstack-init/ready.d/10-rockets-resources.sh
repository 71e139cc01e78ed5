#!/usr/bin/env bash
# Creates (or converges) the rockets queue, its DLQ and the state table with `awslocal`, with
# the same names and attributes as template.yaml. Safe to run any number of times. Runs as a
# LocalStack ready.d hook (localhost:4566) or against moto with AWS_ENDPOINT_URL set.
set -euo pipefail
shopt -s inherit_errexit

table="${ROCKETS_TABLE_NAME:-rockets-state}"
queue="${ROCKETS_QUEUE_NAME:-rockets-messages}"
dlq="${ROCKETS_DLQ_NAME:-rockets-messages-dlq}"
awslocal="${AWSLOCAL:-awslocal}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_EC2_METADATA_DISABLED=true
export DISABLE_DEPRECATION_NOTICE="${DISABLE_DEPRECATION_NOTICE:-1}"  # awslocal banner

# Keep in step with template.yaml (checked by tests/infra/test_resources.py).
visibility_timeout=180    # 6 x the consumer's 30 s timeout
queue_retention=345600    # 4 days
dlq_retention=1209600     # 14 days, the maximum: time to investigate and redrive
max_receive_count=5

log() { echo "[rockets-init] $*" >&2; }

# Prints the URL of queue $1, creating it when missing.
ensure_queue() {
    local url
    if url="$("$awslocal" sqs get-queue-url --queue-name "$1" \
        --query QueueUrl --output text 2>/dev/null)"; then
        log "queue $1 exists"
    else
        url="$("$awslocal" sqs create-queue --queue-name "$1" --query QueueUrl --output text)"
        log "queue $1 created"
    fi
    echo "$url"
}

queue_arn() {
    "$awslocal" sqs get-queue-attributes --queue-url "$1" --attribute-names QueueArn \
        --query Attributes.QueueArn --output text
}

# Queues: create first, then set every attribute, so a second run converges drifted values.
dlq_url="$(ensure_queue "$dlq")"
queue_url="$(ensure_queue "$queue")"
dlq_arn="$(queue_arn "$dlq_url")"
queue_arn="$(queue_arn "$queue_url")"

redrive="{\\\"deadLetterTargetArn\\\":\\\"$dlq_arn\\\",\\\"maxReceiveCount\\\":$max_receive_count}"
"$awslocal" sqs set-queue-attributes --queue-url "$queue_url" --attributes "{
    \"VisibilityTimeout\": \"$visibility_timeout\",
    \"MessageRetentionPeriod\": \"$queue_retention\",
    \"RedrivePolicy\": \"$redrive\"
}"
allow="{\\\"redrivePermission\\\":\\\"byQueue\\\",\\\"sourceQueueArns\\\":[\\\"$queue_arn\\\"]}"
"$awslocal" sqs set-queue-attributes --queue-url "$dlq_url" --attributes "{
    \"MessageRetentionPeriod\": \"$dlq_retention\",
    \"RedriveAllowPolicy\": \"$allow\"
}"
log "queue $queue -> DLQ $dlq after $max_receive_count receives"

# Table: on-demand, hash key `channel`; the key schema cannot change after creation.
if "$awslocal" dynamodb describe-table --table-name "$table" >/dev/null 2>&1; then
    log "table $table exists"
    key="$("$awslocal" dynamodb describe-table --table-name "$table" \
        --query 'Table.KeySchema[].[AttributeName,KeyType]' --output text)"
    if [[ "$(echo "$key" | tr -s '[:space:]' ' ' | sed 's/ $//')" != "channel HASH" ]]; then
        echo "table $table has key schema '$key', want 'channel HASH': delete it" >&2
        exit 1
    fi
    mode="$("$awslocal" dynamodb describe-table --table-name "$table" \
        --query 'Table.BillingModeSummary.BillingMode' --output text)"
    if [[ "$mode" != PAY_PER_REQUEST ]]; then
        "$awslocal" dynamodb update-table --table-name "$table" \
            --billing-mode PAY_PER_REQUEST >/dev/null
        log "table $table switched to on-demand"
    fi
else
    "$awslocal" dynamodb create-table --table-name "$table" \
        --attribute-definitions AttributeName=channel,AttributeType=S \
        --key-schema AttributeName=channel,KeyType=HASH \
        --billing-mode PAY_PER_REQUEST >/dev/null
    log "table $table created"
fi
"$awslocal" dynamodb wait table-exists --table-name "$table"

# Point-in-time recovery is best effort: not every emulator implements it.
if "$awslocal" dynamodb update-continuous-backups --table-name "$table" \
    --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true >/dev/null; then
    log "table $table has point-in-time recovery"
else
    log "WARN: point-in-time recovery not supported by this endpoint; skipped"
fi
log "done: table $table, queue $queue, DLQ $dlq"
