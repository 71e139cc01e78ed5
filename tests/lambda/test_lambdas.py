"""The SAM-built Lambda binaries, invoked through cargo-lambda's local Runtime API, against moto.

Run through scripts/test-lambda.sh, which creates a fresh table, queue and DLQ, starts
`cargo lambda watch --only-lambda-apis` and the three `.aws-sam/build/*/bootstrap` binaries, and
passes their coordinates in ROCKETS_LAMBDA_* variables. Events come from events/ (API Gateway
HTTP API payload v2 and SQS). Without that environment the tests fail, they never skip.
"""

import copy
import json
import os
import pathlib
import subprocess
import time
import urllib.error
import urllib.request

import boto3
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"

# The fixed rockets of the event files (see events/README.md).
ROCKET_A = "193270a9-c9cf-404a-8f83-838e71d9ae67"  # batch-valid, Falcon-9, active
ROCKET_B = "6f1d0e7a-4c2b-4b8e-9a53-0f2c1e8d7b41"  # batch-valid, Falcon-9, exploded
ROCKET_C = "0b6c8e21-7d4f-4a9e-b3c5-2e8f1a6d9c07"  # batch-out-of-order + batch-fill-gap
ROCKET_D = "d4e5f6a7-1b2c-4d3e-8f90-a1b2c3d4e5f6"  # batch-duplicates
ROCKET_E = "e8c1a2b3-5d6f-4a7b-9c8d-1e2f3a4b5c6d"  # batch-with-poison
ROCKET_F = "f0a9b8c7-6d5e-4f3a-8b2c-1d0e9f8a7b6c"  # batch-missing-message-id
ROCKET_I = "9a3f5c1e-2b7d-4e8a-b6c4-d1f0e2a3b5c7"  # the apigw/post-*.json messages
POISON_ID = "7c1e0000-0000-4000-8000-0000deadbeef"

VIEW_A = {
    "channel": ROCKET_A,
    "status": "active",
    "type": "Falcon-9",
    "mission": "SHUTTLE_MIR",
    "speed": 2500,
    "launchSpeed": 500,
    "explosionReason": None,
    "launchedAt": "2022-02-02T19:39:05.86337+01:00",
    "updatedAt": "2022-02-02T19:39:30+01:00",
    "lastMessageNumber": 4,
    "pendingMessages": 0,
}
VIEW_B = {
    "channel": ROCKET_B,
    "status": "exploded",
    "type": "Falcon-9",
    "mission": "APOLLO",
    "speed": 500,
    "launchSpeed": 800,
    "explosionReason": "PRESSURE_VESSEL_FAILURE",
    "launchedAt": "2022-02-02T19:40:00Z",
    "updatedAt": "2022-02-02T19:42:00Z",
    "lastMessageNumber": 3,
    "pendingMessages": 0,
}


def require_env(name):
    value = os.environ.get(name, "")
    if not value:
        pytest.fail(f"{name} is not set: run these tests through scripts/test-lambda.sh")
    return value


@pytest.fixture(scope="session")
def env():
    names = [
        "AWS_ENDPOINT_URL",
        "ROCKETS_TABLE_NAME",
        "ROCKETS_QUEUE_URL",
        "ROCKETS_LAMBDA_PORT",
        "ROCKETS_LAMBDA_LOG_DIR",
        "ROCKETS_LAMBDA_PIDS",
    ]
    return {name: require_env(name) for name in names}


@pytest.fixture(scope="session")
def dynamodb(env):
    return boto3.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL"])


@pytest.fixture(scope="session")
def sqs(env):
    return boto3.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"])


@pytest.fixture(autouse=True)
def bootstraps_stay_up(env):
    """A bootstrap that died (release builds abort on panic) fails the test that killed it."""
    yield
    for entry in env["ROCKETS_LAMBDA_PIDS"].split():
        name, pid = entry.split("=")
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            pytest.fail(f"the {name} bootstrap (pid {pid}) exited; see its log")


class Invocation:
    """What the Runtime API answered: HTTP status and the decoded payload."""

    def __init__(self, status, payload):
        self.status = status
        self.payload = payload


def invoke(env, function, event):
    """POSTs an event to cargo-lambda's invoke endpoint, as `cargo lambda invoke` does."""
    url = (
        f"http://127.0.0.1:{env['ROCKETS_LAMBDA_PORT']}"
        f"/2015-03-31/functions/{function}/invocations"
    )
    request = urllib.request.Request(
        url, data=json.dumps(event).encode(), method="POST",
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Invocation(response.status, json.loads(response.read()))
    except urllib.error.HTTPError as error:  # 500: the function returned an error
        return Invocation(error.code, json.loads(error.read()))


def load_event(relative):
    return json.loads((EVENTS / relative).read_text())


def http(env, function, relative_or_event):
    """Invokes an HTTP function; returns (statusCode, lower-cased headers, decoded body)."""
    event = relative_or_event
    if isinstance(event, str):
        event = load_event(event)
    result = invoke(env, function, event)
    assert result.status == 200, f"invocation failed: {result.payload}"
    response = result.payload
    assert response["isBase64Encoded"] is False
    headers = {k.lower(): v for k, v in response["headers"].items()}
    return response["statusCode"], headers, json.loads(response["body"])


def consume(env, relative_or_event):
    event = relative_or_event
    if isinstance(event, str):
        event = load_event(event)
    result = invoke(env, "consumer", event)
    assert result.status == 200, f"consumer invocation failed: {result.payload}"
    return result.payload


def item(env, dynamodb, channel):
    """The rocket's DynamoDB item as plain Python values, or None."""
    found = dynamodb.get_item(
        TableName=env["ROCKETS_TABLE_NAME"],
        Key={"channel": {"S": channel}},
        ConsistentRead=True,
    ).get("Item")
    if found is None:
        return None
    plain = {}
    for name, value in found.items():
        (kind, raw), = value.items()
        plain[name] = int(raw) if kind == "N" else raw
    return plain


def queue_depth(env, sqs):
    attributes = sqs.get_queue_attributes(
        QueueUrl=env["ROCKETS_QUEUE_URL"],
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


def receive_all(env, sqs, expected):
    """Receives `expected` messages (waiting up to ~5 s), then checks none is left."""
    messages = []
    deadline = time.monotonic() + 5
    while len(messages) < expected and time.monotonic() < deadline:
        got = sqs.receive_message(
            QueueUrl=env["ROCKETS_QUEUE_URL"], MaxNumberOfMessages=10, WaitTimeSeconds=1,
            AttributeNames=["All"],
        )
        messages.extend(got.get("Messages", []))
    assert len(messages) == expected, f"wanted {expected} queued messages, got {messages}"
    return messages


def delete_messages(env, sqs, messages):
    for message in messages:
        sqs.delete_message(
            QueueUrl=env["ROCKETS_QUEUE_URL"], ReceiptHandle=message["ReceiptHandle"]
        )


def log_lines(env, function):
    path = pathlib.Path(env["ROCKETS_LAMBDA_LOG_DIR"]) / f"{function}.log"
    return path.read_text().splitlines()


def json_lines(env, function):
    documents = []
    for line in log_lines(env, function):
        try:
            documents.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return documents


# --- ingest: POST /messages ---------------------------------------------------------------------


def test_valid_launch_is_accepted_and_really_enqueued(env, sqs):
    before = queue_depth(env, sqs)
    status, headers, body = http(env, "ingest", "apigw/post-valid-launch.json")
    assert status == 202
    assert headers["content-type"] == "application/json"
    assert body == {"status": "accepted", "channel": ROCKET_I, "messageNumber": 1}
    assert queue_depth(env, sqs) == before + 1

    (message,) = receive_all(env, sqs, 1)
    queued = json.loads(message["Body"])
    assert queued["metadata"]["channel"] == ROCKET_I
    assert queued["metadata"]["messageNumber"] == 1
    assert queued["metadata"]["messageType"] == "RocketLaunched"
    assert queued["metadata"]["messageTime"] == "2022-02-02T19:39:05.86337+01:00"
    assert queued["message"] == {"type": "Atlas-V", "launchSpeed": 500, "mission": "ARTEMIS"}
    delete_messages(env, sqs, [message])


def test_out_of_order_message_is_accepted(env, sqs):
    status, _, body = http(env, "ingest", "apigw/post-out-of-order.json")
    assert status == 202
    assert body == {"status": "accepted", "channel": ROCKET_I, "messageNumber": 7}
    (message,) = receive_all(env, sqs, 1)
    queued = json.loads(message["Body"])
    assert (queued["metadata"]["channel"], queued["metadata"]["messageNumber"]) == (ROCKET_I, 7)
    delete_messages(env, sqs, [message])


@pytest.mark.parametrize(
    "event, status, field, detail",
    [
        ("post-invalid-missing-message-number.json", 400, "metadata.messageNumber", "required"),
        ("post-invalid-wrong-type.json", 400, "message.launchSpeed", "non-negative integer"),
        ("post-invalid-bad-json.json", 400, None, "not valid JSON"),
        ("post-too-large.json", 413, None, "exceeds"),
    ],
)
def test_invalid_messages_are_refused_and_not_enqueued(env, sqs, event, status, field, detail):
    before = queue_depth(env, sqs)
    got_status, headers, body = http(env, "ingest", f"apigw/{event}")
    assert got_status == status
    assert headers["content-type"] == "application/problem+json"
    assert body["status"] == status
    assert body.get("field") == field
    if field is not None:
        assert field in body["detail"]
    assert detail in body["detail"]
    time.sleep(0.2)
    assert queue_depth(env, sqs) == before, "an invalid message reached the queue"
    got = sqs.receive_message(QueueUrl=env["ROCKETS_QUEUE_URL"], WaitTimeSeconds=0)
    assert got.get("Messages", []) == []


def test_ingested_messages_are_consumed_from_real_queue_records(env, sqs, dynamodb):
    """ingest -> SQS (moto) -> consumer: the records are the ones SQS really delivered."""
    for event in ("apigw/post-out-of-order.json", "apigw/post-valid-launch.json"):
        assert http(env, "ingest", event)[0] == 202
    messages = receive_all(env, sqs, 2)
    queue_arn = sqs.get_queue_attributes(
        QueueUrl=env["ROCKETS_QUEUE_URL"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    records = [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m["Attributes"],
            "messageAttributes": {},
            "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": "us-east-1",
        }
        for m in messages
    ]
    assert consume(env, {"Records": records}) == {"batchItemFailures": []}
    delete_messages(env, sqs, messages)
    state = item(env, dynamodb, ROCKET_I)
    assert state["status"] == "active"
    assert state["speed"] == 500
    assert state["lastMessageNumber"] == 1
    assert state["pendingMessages"] == 1  # number 7 waits for 2..6


# --- consumer: SQS batches ----------------------------------------------------------------------


def test_valid_batch_is_applied(env, dynamodb):
    assert consume(env, "sqs/batch-valid.json") == {"batchItemFailures": []}
    a = item(env, dynamodb, ROCKET_A)
    assert (a["speed"], a["lastMessageNumber"], a["status"]) == (2500, 4, "active")
    assert (a["type"], a["mission"], a["launchSpeed"]) == ("Falcon-9", "SHUTTLE_MIR", 500)
    assert a["pendingMessages"] == 0
    b = item(env, dynamodb, ROCKET_B)
    assert (b["speed"], b["lastMessageNumber"], b["status"]) == (500, 3, "exploded")
    assert b["explosionReason"] == "PRESSURE_VESSEL_FAILURE"


def test_redelivered_valid_batch_changes_nothing(env, dynamodb):
    assert consume(env, "sqs/batch-valid.json") == {"batchItemFailures": []}
    first = item(env, dynamodb, ROCKET_A)
    assert consume(env, "sqs/batch-valid.json") == {"batchItemFailures": []}
    assert item(env, dynamodb, ROCKET_A) == first  # same revision: not even rewritten


def test_out_of_order_batch_waits_in_pending_until_the_gap_fills(env, dynamodb):
    assert consume(env, "sqs/batch-out-of-order.json") == {"batchItemFailures": []}
    c = item(env, dynamodb, ROCKET_C)
    assert (c["speed"], c["lastMessageNumber"], c["pendingMessages"]) == (100, 1, 2)
    assert c["status"] == "active"
    assert [entry["L"][0]["N"] for entry in c["pending"]] == ["3", "4"]

    assert consume(env, "sqs/batch-fill-gap.json") == {"batchItemFailures": []}
    c = item(env, dynamodb, ROCKET_C)
    assert (c["speed"], c["lastMessageNumber"], c["pendingMessages"]) == (190, 4, 0)
    assert "pending" not in c


def test_duplicates_are_applied_once(env, dynamodb):
    assert consume(env, "sqs/batch-duplicates.json") == {"batchItemFailures": []}
    d = item(env, dynamodb, ROCKET_D)
    # Launch 1000 + 250 once; the second copy and the conflicting copy of #2 are ignored.
    assert (d["speed"], d["lastMessageNumber"], d["status"]) == (1250, 2, "active")
    assert consume(env, "sqs/batch-duplicates.json") == {"batchItemFailures": []}
    assert item(env, dynamodb, ROCKET_D) == d


def test_only_the_poison_message_is_reported(env, dynamodb):
    response = consume(env, "sqs/batch-with-poison.json")
    assert response == {"batchItemFailures": [{"itemIdentifier": POISON_ID}]}
    e = item(env, dynamodb, ROCKET_E)
    assert (e["speed"], e["lastMessageNumber"], e["status"]) == (650, 2, "active")


def test_a_record_without_message_id_fails_the_invocation(env, dynamodb):
    result = invoke(env, "consumer", load_event("sqs/batch-missing-message-id.json"))
    assert result.status == 500, result.payload
    assert "messageId" in result.payload["errorMessage"]
    assert "errorType" in result.payload
    assert item(env, dynamodb, ROCKET_F) is None, "nothing of a failed batch may be applied"


# --- query: GET /rockets, /rockets/{channel}, /health -------------------------------------------


@pytest.fixture(scope="module")
def fleet(env):
    """batch-valid applied (idempotent, so independent of test order)."""
    assert consume(env, "sqs/batch-valid.json") == {"batchItemFailures": []}


def test_get_rocket_returns_exactly_the_view(env, fleet):
    status, headers, body = http(env, "query", "apigw/get-rocket.json")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert body == VIEW_A


def test_get_unknown_rocket_is_404(env, fleet):
    status, headers, body = http(env, "query", "apigw/get-unknown-rocket.json")
    assert status == 404
    assert headers["content-type"] == "application/problem+json"
    assert body["status"] == 404
    assert body["type"] == "/problems/unknown-rocket"


def test_list_rockets_pages_with_the_cursor(env, fleet):
    event = load_event("apigw/list-rockets.json")
    status, headers, body = http(env, "query", event)
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert set(body) == {"rockets", "nextCursor"}
    assert body["rockets"] == [VIEW_A]  # type=Falcon-9, fastest first, one per page
    assert isinstance(body["nextCursor"], str) and body["nextCursor"]

    follow = copy.deepcopy(event)
    follow["rawQueryString"] += f"&cursor={body['nextCursor']}"
    follow["queryStringParameters"]["cursor"] = body["nextCursor"]
    status, _, body = http(env, "query", follow)
    assert status == 200
    assert body == {"rockets": [VIEW_B], "nextCursor": None}


def test_health(env):
    status, headers, body = http(env, "query", "apigw/health.json")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert body == {"status": "ok"}


def test_cargo_lambda_invoke_reaches_the_same_runtime(env):
    """The documented client: `cargo lambda invoke --data-file` against our runtime API."""
    command = [
        "cargo", "lambda", "invoke",
        "--invoke-address", "127.0.0.1",
        "--invoke-port", env["ROCKETS_LAMBDA_PORT"],
        "--data-file", str(EVENTS / "apigw" / "health.json"),
        "query",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    response = json.loads(done.stdout)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"status": "ok"}


# --- logs and metrics ---------------------------------------------------------------------------


def test_consumer_logs_json_lines_with_channel_and_message_number(env):
    assert consume(env, "sqs/batch-duplicates.json") == {"batchItemFailures": []}
    lines = [line for line in log_lines(env, "consumer") if line.strip()]
    documents = json_lines(env, "consumer")
    assert len(documents) == len(lines), "every consumer log line is JSON"
    per_message = [
        d["fields"] for d in documents
        if "channel" in d.get("fields", {}) and "messageNumber" in d.get("fields", {})
    ]
    assert per_message, "no JSON log line with channel and messageNumber"
    assert any(f["channel"] == ROCKET_D and f.get("outcome") == "duplicate" for f in per_message)
    assert all(isinstance(f["messageNumber"], int) for f in per_message)


def emf_documents(env, function):
    return [d for d in json_lines(env, function) if "_aws" in d]


def check_emf(document, function, metric):
    directive = document["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Rockets"
    assert directive["Dimensions"] == [["Function"]]
    assert document["Function"] == function
    assert isinstance(document["_aws"]["Timestamp"], int)
    declared = [m["Name"] for m in directive["Metrics"]]
    assert metric in declared
    for name in declared:
        assert isinstance(document[name], int), f"{name} has no value"


def test_consumer_prints_emf_metrics(env):
    assert consume(env, "sqs/batch-with-poison.json")["batchItemFailures"]
    documents = emf_documents(env, "consumer")
    assert documents, "no EMF line from the consumer"
    for document in documents:
        check_emf(document, "consumer", "MessagesApplied")
    last = documents[-1]
    assert last["BatchItemFailures"] == 1
    assert any(d["MessagesApplied"] > 0 for d in documents)


def test_ingest_prints_emf_metrics(env, sqs):
    assert http(env, "ingest", "apigw/post-valid-launch.json")[0] == 202
    delete_messages(env, sqs, receive_all(env, sqs, 1))
    assert http(env, "ingest", "apigw/post-invalid-bad-json.json")[0] == 400
    documents = emf_documents(env, "ingest")
    for metric in ("MessagesAccepted", "MessagesRejected"):
        found = [d for d in documents if metric in d]
        assert found, f"no {metric} EMF line from ingest"
        check_emf(found[-1], "ingest", metric)
