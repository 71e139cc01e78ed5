"""Creates and deletes the throw-away table, queue and DLQ of one scripts/test-lambda.sh run.

Same attributes as template.yaml (table keyed by `channel` S, on demand; queue with a redrive
policy to its DLQ after 5 receives), unique names so runs can share one moto server.
Usage: resources.py create  -> prints KEY=VALUE lines for the shell
       resources.py delete  (reads ROCKETS_TABLE_NAME, ROCKETS_QUEUE_URL, ROCKETS_DLQ_URL)
"""

import json
import os
import sys
import uuid

import boto3

VISIBILITY_TIMEOUT = "180"  # 6 x the consumer's 30 s timeout, as in template.yaml
QUEUE_RETENTION = "345600"
DLQ_RETENTION = "1209600"
MAX_RECEIVE_COUNT = 5


def clients():
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    return (
        boto3.client("dynamodb", endpoint_url=endpoint),
        boto3.client("sqs", endpoint_url=endpoint),
    )


def create():
    dynamodb, sqs = clients()
    prefix = f"rockets-lambda-{uuid.uuid4().hex[:10]}"
    table = f"{prefix}-state"
    dynamodb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "channel", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "channel", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.get_waiter("table_exists").wait(
        TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )

    dlq_url = sqs.create_queue(
        QueueName=f"{prefix}-messages-dlq",
        Attributes={"MessageRetentionPeriod": DLQ_RETENTION},
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}
    queue_url = sqs.create_queue(
        QueueName=f"{prefix}-messages",
        Attributes={
            "VisibilityTimeout": VISIBILITY_TIMEOUT,
            "MessageRetentionPeriod": QUEUE_RETENTION,
            "RedrivePolicy": json.dumps(redrive),
        },
    )["QueueUrl"]
    print(f"ROCKETS_TABLE_NAME={table}")
    print(f"ROCKETS_QUEUE_URL={queue_url}")
    print(f"ROCKETS_DLQ_URL={dlq_url}")


def delete():
    dynamodb, sqs = clients()
    failures = 0
    for action in (
        lambda: dynamodb.delete_table(TableName=os.environ["ROCKETS_TABLE_NAME"]),
        lambda: sqs.delete_queue(QueueUrl=os.environ["ROCKETS_QUEUE_URL"]),
        lambda: sqs.delete_queue(QueueUrl=os.environ["ROCKETS_DLQ_URL"]),
    ):
        try:
            action()
        except Exception as error:  # report every leftover, keep deleting the rest
            print(f"resources.py delete: {error}", file=sys.stderr)
            failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) == 2 else ""
    if command == "create":
        create()
    elif command == "delete":
        sys.exit(delete())
    else:
        sys.exit("usage: resources.py create|delete")
