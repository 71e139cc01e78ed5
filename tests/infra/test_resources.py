"""The LocalStack init script creates exactly the queue, DLQ and table that template.yaml declares.

Run through scripts/test-infra.sh, which starts a private moto server and runs the init script
twice first. Needs AWS_ENDPOINT_URL (moto on loopback) and `awslocal` on PATH; without a
reachable server the tests fail, they never skip. Expected values are read from template.yaml,
with every parameter at its default, so nothing is written down twice.
"""

import json
import os
import pathlib
import subprocess

import boto3
import pytest
import yaml
from botocore.config import Config

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
INIT_SCRIPT = ROOT / "localstack-init" / "ready.d" / "10-rockets-resources.sh"

# What AWS uses when a queue property is left out of the template.
SQS_DEFAULTS = {"VisibilityTimeout": 30, "MessageRetentionPeriod": 345600}


# --- template.yaml, with CloudFormation's short tags -------------------------------------------


class CfnLoader(yaml.SafeLoader):
    """PyYAML loader that turns `!Ref x` / `!Sub ...` / `!GetAtt a.b` into their long forms."""


def _short_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    return {key: value}


CfnLoader.add_multi_constructor("!", _short_tag)


class Template:
    """The parsed template plus just enough of CloudFormation to resolve names and ARNs."""

    def __init__(self, path, pseudo):
        self.doc = yaml.load(path.read_text(), Loader=CfnLoader)  # a SafeLoader
        params = self.doc.get("Parameters", {})
        self.refs = {name: str(p["Default"]) for name, p in params.items() if "Default" in p}
        self.refs.update(pseudo)
        self.resources = self.doc["Resources"]

    def of_type(self, kind):
        return {lid: r for lid, r in self.resources.items() if r["Type"] == kind}

    def props(self, logical_id):
        return self.resources[logical_id].get("Properties", {})

    def resolve(self, value, local=None):
        """Evaluates Ref, Sub and GetAtt (queue Arn/QueueName, table Arn) recursively."""
        local = local or {}
        if isinstance(value, list):
            return [self.resolve(v, local) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::Sub":
                return self._sub(arg, local)
            if key == "Fn::GetAtt":
                return self._get_att(*arg)
        return {k: self.resolve(v, local) for k, v in value.items()}

    def _ref(self, name):
        if name in self.refs:
            return self.refs[name]
        kind = self.resources[name]["Type"]
        if kind == "AWS::DynamoDB::Table":
            return self.resolve(self.props(name)["TableName"])
        raise AssertionError(f"cannot resolve Ref {name} ({kind})")

    def _sub(self, arg, local):
        text, variables = (arg, {}) if isinstance(arg, str) else arg
        names = {**local, **{k: self.resolve(v, local) for k, v in variables.items()}}
        out, rest = [], text
        while "${" in rest:
            head, _, tail = rest.partition("${")
            name, _, rest = tail.partition("}")
            if name in names:
                value = names[name]
            elif "." in name:
                value = self._get_att(*name.split(".", 1))
            else:
                value = self._ref(name)
            out += [head, str(value)]
        return "".join(out + [rest])

    def _get_att(self, logical_id, attribute):
        kind = self.resources[logical_id]["Type"]
        p, r = self.props(logical_id), self.refs
        if kind == "AWS::SQS::Queue" and attribute in ("QueueName", "Arn"):
            name = self.resolve(p["QueueName"])
            if attribute == "QueueName":
                return name
            return f"arn:{r['AWS::Partition']}:sqs:{r['AWS::Region']}:{r['AWS::AccountId']}:{name}"
        if kind == "AWS::DynamoDB::Table" and attribute == "Arn":
            name = self.resolve(p["TableName"])
            region, account = r["AWS::Region"], r["AWS::AccountId"]
            return f"arn:{r['AWS::Partition']}:dynamodb:{region}:{account}:table/{name}"
        raise AssertionError(f"cannot resolve GetAtt {logical_id}.{attribute} ({kind})")


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def endpoint():
    url = os.environ.get("AWS_ENDPOINT_URL", "")
    if not url.startswith(("http://127.0.0.1:", "http://localhost:", "http://[::1]:")):
        pytest.fail(f"AWS_ENDPOINT_URL must point at moto on loopback, got {url!r}")
    return url


@pytest.fixture(scope="session")
def aws(endpoint):
    """Client factory bound to the local endpoint; a dead server fails fast, not slowly."""
    config = Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1})

    def client(service):
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=config,
        )

    return client


@pytest.fixture(scope="session")
def template(aws):
    identity = aws("sts").get_caller_identity()
    region = aws("sqs").meta.region_name
    pseudo = {"AWS::AccountId": identity["Account"], "AWS::Region": region,
              "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
    return Template(TEMPLATE, pseudo)


def queue_attributes(aws, name):
    sqs = aws("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def template_queues(template):
    queues = template.of_type("AWS::SQS::Queue")
    assert queues, "template.yaml declares no AWS::SQS::Queue"
    return queues


# --- tests -----------------------------------------------------------------------------------


def test_server_holds_exactly_the_template_queues_and_tables(aws, template):
    want_queues = {template.resolve(q["Properties"]["QueueName"])
                   for q in template_queues(template).values()}
    urls = aws("sqs").list_queues().get("QueueUrls", [])
    assert {u.rsplit("/", 1)[-1] for u in urls} == want_queues

    want_tables = {template.resolve(t["Properties"]["TableName"])
                   for t in template.of_type("AWS::DynamoDB::Table").values()}
    assert set(aws("dynamodb").list_tables()["TableNames"]) == want_tables


@pytest.mark.parametrize("attribute", ["VisibilityTimeout", "MessageRetentionPeriod"])
def test_queue_timing_attributes_match_template(aws, template, attribute):
    for logical_id, queue in template_queues(template).items():
        props = queue["Properties"]
        want = int(template.resolve(props.get(attribute, SQS_DEFAULTS[attribute])))
        got = int(queue_attributes(aws, template.resolve(props["QueueName"]))[attribute])
        assert got == want, f"{logical_id}.{attribute}"


def test_redrive_policy_targets_the_dlq_with_template_receive_count(aws, template):
    checked = 0
    for logical_id, queue in template_queues(template).items():
        props = queue["Properties"]
        actual = queue_attributes(aws, template.resolve(props["QueueName"]))
        if "RedrivePolicy" not in props:
            assert "RedrivePolicy" not in actual, logical_id
            continue
        want = template.resolve(props["RedrivePolicy"])
        got = json.loads(actual["RedrivePolicy"])
        assert got["deadLetterTargetArn"] == want["deadLetterTargetArn"], logical_id
        assert int(got["maxReceiveCount"]) == int(want["maxReceiveCount"]), logical_id
        checked += 1
    assert checked == 1, "expected exactly one queue with a RedrivePolicy"


def test_redrive_allow_policy_names_only_the_source_queue(aws, template):
    for logical_id, queue in template_queues(template).items():
        props = queue["Properties"]
        if "RedriveAllowPolicy" not in props:
            continue
        actual = queue_attributes(aws, template.resolve(props["QueueName"]))
        if "RedriveAllowPolicy" not in actual:
            pytest.skip("this moto version does not store RedriveAllowPolicy")
        assert json.loads(actual["RedriveAllowPolicy"]) == template.resolve(
            props["RedriveAllowPolicy"]), logical_id


def test_table_key_and_billing_match_template(aws, template):
    for logical_id, table in template.of_type("AWS::DynamoDB::Table").items():
        props = table["Properties"]
        got = aws("dynamodb").describe_table(TableName=template.resolve(props["TableName"]))
        got = got["Table"]
        assert got["TableStatus"] == "ACTIVE", logical_id
        assert got["KeySchema"] == props["KeySchema"], logical_id
        assert sorted(got["AttributeDefinitions"], key=str) == sorted(
            props["AttributeDefinitions"], key=str), logical_id
        assert got["BillingModeSummary"]["BillingMode"] == props["BillingMode"], logical_id


def test_table_point_in_time_recovery_matches_template(aws, template):
    for logical_id, table in template.of_type("AWS::DynamoDB::Table").items():
        props = table["Properties"]
        want = props.get("PointInTimeRecoverySpecification", {})
        want = "ENABLED" if want.get("PointInTimeRecoveryEnabled") else "DISABLED"
        got = aws("dynamodb").describe_continuous_backups(
            TableName=template.resolve(props["TableName"]))
        pitr = got["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        assert pitr["PointInTimeRecoveryStatus"] == want, logical_id


def test_visibility_timeout_is_at_least_six_consumer_timeouts(template):
    functions = template.of_type("AWS::Serverless::Function")
    default_timeout = template.doc.get("Globals", {}).get("Function", {}).get("Timeout", 3)
    pairs = 0
    for fn in functions.values():
        for event in fn["Properties"].get("Events", {}).values():
            if event["Type"] != "SQS":
                continue
            queue_id = event["Properties"]["Queue"]["Fn::GetAtt"][0]
            visibility = template.props(queue_id).get("VisibilityTimeout", 30)
            timeout = fn["Properties"].get("Timeout", default_timeout)
            assert int(visibility) >= 6 * int(timeout), queue_id
            pairs += 1
    assert pairs == 1, "expected one SQS-triggered function"


def test_rerun_converges_drifted_queue_attributes(aws, template):
    (queue_id,) = [lid for lid, q in template_queues(template).items()
                   if "RedrivePolicy" in q["Properties"]]
    props = template.props(queue_id)
    name = template.resolve(props["QueueName"])
    sqs = aws("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "7"})

    env = {k: v for k, v in os.environ.items() if not k.startswith("ROCKETS_")}
    run = subprocess.run(["bash", str(INIT_SCRIPT)], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr

    assert int(queue_attributes(aws, name)["VisibilityTimeout"]) == int(props["VisibilityTimeout"])
