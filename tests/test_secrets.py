"""An environment's secrets (issue 20, secrets): references, the fallback to a shared name, the operator's
prefix checked before any call, and reads from moto's SSM Parameter Store and Secrets Manager (in-process).
Faults AWS would answer and moto can't (a denied read, a KMS key out of reach, throttling) are AWS's own
error responses, given by a botocore hook on the reader's clients in place of moto's answer."""
from __future__ import annotations

import json
import logging

import boto3
import moto
import pytest
from botocore.awsrequest import AWSResponse
from hypothesis import HealthCheck, given, settings, strategies as st
from pydantic import ValidationError

from deployer.errors import ConfigError, SecretsUnavailable
from deployer.secrets import (
    SSM_BATCH, SecretReader, SecretValues, parse_reference, plan_secrets, secret_reader, shared_name, under_prefix,
)
from deployer.settings import Settings

PREFIX = "/deploybot/"
FEATURE = "feature-x"
PLANTED = "pl4nted-s3cret-value"  # no value read from AWS may show anywhere but in the returned mapping
READS = {"GetParameters", "GetSecretValue"}


class Aws:
    """moto's SSM and Secrets Manager: `admin` clients plant what exists, the reader's own clients record
    every request they send (operation and JSON body) and answer with a planted fault when told to."""

    def __init__(self) -> None:
        self.ssm, self.secretsmanager = _client("ssm"), _client("secretsmanager")
        self.admin_ssm, self.admin_secretsmanager = _client("ssm"), _client("secretsmanager")
        self.requests: list[tuple[str, dict]] = []
        self.faults: list[tuple[str, str, str, object]] = []
        for client in (self.ssm, self.secretsmanager):
            client.meta.events.register("before-call", self._before_call)

    def reader(self, prefix: str | None = PREFIX) -> SecretReader:
        return SecretReader(self.ssm, self.secretsmanager, prefix)

    def parameter(self, name: str, value: str = PLANTED, kind: str = "SecureString") -> None:
        self.admin_ssm.put_parameter(Name=name, Value=value, Type=kind)

    def secret(self, name: str, value: str = PLANTED) -> None:
        self.admin_secretsmanager.create_secret(Name=name, SecretString=value)

    def fail(self, operation: str, code: str, message: str = "", when=lambda body: True) -> None:
        """Answer `operation` (when `when(body)`) with AWS's error `code` instead of moto's answer."""
        self.faults.append((operation, code, message, when))

    def names_read(self, operation: str = "GetParameters") -> list[list[str]]:
        return [body.get("Names") or [body.get("SecretId")] for op, body in self.requests if op == operation]

    def _before_call(self, model, params, **_):
        body = json.loads(params.get("body") or b"{}")
        self.requests.append((model.name, body))
        for operation, code, message, when in self.faults:
            if operation == model.name and when(body):
                error = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}}
                return AWSResponse("https://aws.invalid", 400, {}, None), error
        return None


def _client(service: str):
    return boto3.client(service, region_name="us-east-1")


@pytest.fixture
def aws():
    with moto.mock_aws():
        yield Aws()


def _refused(aws: Aws, secrets: dict[str, str], prefix: str | None = PREFIX) -> SecretsUnavailable:
    with pytest.raises(SecretsUnavailable) as caught:
        aws.reader(prefix).resolve(secrets, FEATURE)
    return caught.value


def _said(error: Exception) -> str:
    """Everything an error can show: its text, repr and details."""
    return " ".join([str(error), repr(error), *getattr(error, "details", [])])


# -- reading ---------------------------------------------------------------------------------------

def test_a_securestring_is_read_decrypted(aws):
    aws.parameter("/deploybot/API_KEY", PLANTED)
    values = aws.reader().resolve({"API_KEY": "/deploybot/API_KEY"}, FEATURE)
    assert dict(values) == {"API_KEY": PLANTED}
    assert aws.requests == [("GetParameters", {"Names": ["/deploybot/API_KEY"], "WithDecryption": True})]


def test_a_plain_string_parameter_and_a_secrets_manager_secret_are_read_together(aws):
    aws.parameter("/deploybot/GREETING", "hello there", kind="String")
    aws.secret("deploybot/stripe", '{"key": "sk_test_1"}')
    values = aws.reader().resolve({"GREETING": "/deploybot/GREETING", "STRIPE": "secretsmanager:deploybot/stripe"},
                                  FEATURE)
    assert dict(values) == {"GREETING": "hello there", "STRIPE": '{"key": "sk_test_1"}'}
    assert aws.names_read("GetSecretValue") == [["deploybot/stripe"]]


def test_the_branchs_own_parameter_wins_over_the_shared_one(aws):
    aws.parameter("/deploybot/feature-x/API_KEY", "the branch's own")
    aws.parameter("/deploybot/API_KEY", "everyone's")
    aws.secret("deploybot/feature-x/stripe", "the branch's stripe")
    aws.secret("deploybot/stripe", "everyone's stripe")
    values = aws.reader().resolve(
        {"API_KEY": "/deploybot/{feature}/API_KEY", "STRIPE": "secretsmanager:deploybot/{feature}/stripe"}, FEATURE)
    assert dict(values) == {"API_KEY": "the branch's own", "STRIPE": "the branch's stripe"}
    assert aws.names_read() == [["/deploybot/feature-x/API_KEY"]]  # the shared one was never read
    assert aws.names_read("GetSecretValue") == [["deploybot/feature-x/stripe"]]


def test_the_shared_one_is_read_when_the_branch_has_none(aws):
    aws.parameter("/deploybot/API_KEY", "everyone's")
    aws.parameter("/deploybot/feature-x/OTHER", "the branch's other")
    aws.secret("deploybot/stripe", "everyone's stripe")
    values = aws.reader().resolve({"API_KEY": "/deploybot/{feature}/API_KEY", "OTHER": "/deploybot/{feature}/OTHER",
                                   "STRIPE": "secretsmanager:deploybot/{feature}/stripe"}, FEATURE)
    assert dict(values) == {"API_KEY": "everyone's", "OTHER": "the branch's other", "STRIPE": "everyone's stripe"}
    assert aws.names_read() == [["/deploybot/feature-x/API_KEY", "/deploybot/feature-x/OTHER"],
                                ["/deploybot/API_KEY"]]


@pytest.mark.parametrize("written,shared", [
    ("/deploybot/{feature}/API_KEY", "/deploybot/API_KEY"),
    ("/deploybot/API_KEY/{feature}", "/deploybot/API_KEY"),
    ("deploybot/stripe-{feature}", "deploybot/stripe"),
    ("/deploybot/{feature}_API_KEY", "/deploybot/API_KEY"),
    ("/deploybot/key{feature}", "/deploybot/key"),
])
def test_the_shared_name_drops_the_placeholder_and_one_separator_beside_it(written, shared):
    assert shared_name(written) == shared


def test_more_than_ten_parameters_are_read_ten_at_a_time(aws):
    secrets = {f"KEY_{i}": f"/deploybot/KEY_{i}" for i in range(2 * SSM_BATCH + 3)}
    for variable, name in secrets.items():
        aws.parameter(name, f"value of {variable}")
    values = aws.reader().resolve(secrets, FEATURE)
    assert dict(values) == {variable: f"value of {variable}" for variable in secrets}
    assert [len(names) for names in aws.names_read()] == [10, 10, 3]


def test_a_parameter_two_variables_name_is_read_once(aws):
    aws.parameter("/deploybot/TOKEN")
    values = aws.reader().resolve({"TOKEN": "/deploybot/TOKEN", "ALSO_TOKEN": "/deploybot/TOKEN"}, FEATURE)
    assert dict(values) == {"TOKEN": PLANTED, "ALSO_TOKEN": PLANTED}
    assert aws.names_read() == [["/deploybot/TOKEN"]]


def test_no_secrets_read_nothing_and_need_no_prefix(aws):
    assert dict(aws.reader(prefix=None).resolve({}, FEATURE)) == {}
    assert aws.requests == []


# -- the operator's prefix, before any call ---------------------------------------------------------

@pytest.mark.parametrize("reference,says", [
    ("/other/API_KEY", "/other/API_KEY is outside DEPLOYBOT_SECRETS_PREFIX (/deploybot/)"),
    ("/deploybot/{feature}", "the shared fallback /deploybot is outside DEPLOYBOT_SECRETS_PREFIX"),
    ("/deploybot-other/API_KEY", "is outside DEPLOYBOT_SECRETS_PREFIX"),
    ("secretsmanager:other/stripe", "other/stripe is outside"),
    ("/deploybot/../other/API_KEY", "contains `..`"),
    ("/deploybot/*", "has a wildcard"),
    ("/deploybot/API_?", "has a wildcard"),
    ("arn:aws:ssm:us-east-1:210987654321:parameter/deploybot/API_KEY", "is an ARN"),
    ("secretsmanager:arn:aws:secretsmanager:us-east-1:210987654321:secret:deploybot/x", "is an ARN"),
    ("/deploybot/{url}", "is not a valid SSM parameter name: use letters"),
    ("/deploybot/API_KEY:3", "is not a valid SSM parameter name: use letters"),
    ("/deploybot/{feature}/{feature}", "more than once"),
    ("/deploybot//API_KEY", "no empty level"),
    ("deploybot/API_KEY", "it starts with `/`"),
])
def test_what_the_prefix_or_aws_would_not_allow_is_refused_before_any_call(aws, reference, says):
    aws.parameter("/deploybot/API_KEY")  # something readable, in case anything were read
    refused = _refused(aws, {"FINE": "/deploybot/API_KEY", "API_KEY": reference})
    assert says in refused.message and "Secret API_KEY" in refused.message
    assert aws.requests == []


def test_a_secrets_manager_name_is_compared_without_its_leading_slash():
    assert under_prefix("deploybot/stripe", "/deploybot/") and under_prefix("/deploybot/x", "deploybot/")
    assert not under_prefix("deploybotx/stripe", "/deploybot/")
    ref = parse_reference("STRIPE", "secretsmanager:deploybot/{feature}/stripe", FEATURE, PREFIX)
    assert (ref.store, ref.names) == ("secretsmanager", ("deploybot/feature-x/stripe", "deploybot/stripe"))


def test_without_the_prefix_setting_no_secret_is_read_and_the_setting_is_named(aws):
    refused = _refused(aws, {"API_KEY": "/deploybot/API_KEY", "STRIPE": "secretsmanager:deploybot/s"}, prefix=None)
    assert "DEPLOYBOT_SECRETS_PREFIX" in refused.message and "API_KEY, STRIPE" in refused.message
    assert isinstance(refused, ConfigError) and refused.exit_code == 2 and refused.title == "Secret not readable"
    assert aws.requests == []


@pytest.mark.parametrize("prefix", ["/deploybot/*", "/deploy bot/", "/deploybot/{feature}"])
def test_the_prefix_setting_is_a_plain_start_of_names(prefix):
    with pytest.raises(ValidationError, match="no wildcard"):
        Settings(_env_file=None, git_url="file:///srv/app", secrets_prefix=prefix)


# -- what AWS answers ---------------------------------------------------------------------------------

def test_a_missing_parameter_names_the_variable_both_names_tried_and_how_to_create_it(aws):
    refused = _refused(aws, {"API_KEY": "/deploybot/{feature}/API_KEY"})
    assert refused.message == (
        "Secret API_KEY: there is no SSM parameter /deploybot/feature-x/API_KEY, nor the shared /deploybot/API_KEY. "
        "Create it (`aws ssm put-parameter --type SecureString --name /deploybot/API_KEY …`), or remove API_KEY "
        "from deploybot.yml's secrets")


def test_a_missing_secret_says_so_too(aws):
    refused = _refused(aws, {"STRIPE": "secretsmanager:deploybot/stripe"})
    assert "Secret STRIPE: there is no Secrets Manager secret deploybot/stripe" in refused.message
    assert "aws secretsmanager create-secret --name deploybot/stripe" in refused.message


def test_a_denied_read_in_a_batch_is_narrowed_to_the_one_variable_and_says_what_to_grant(aws):
    for i in range(3):
        aws.parameter(f"/deploybot/KEY_{i}")
    aws.fail("GetParameters", "AccessDeniedException", when=lambda body: "/deploybot/KEY_1" in body["Names"])
    refused = _refused(aws, {f"KEY_{i}": f"/deploybot/KEY_{i}" for i in range(3)})
    assert refused.message.startswith("Secret KEY_1: the SSM parameter /deploybot/KEY_1 may not be read by deploybot")
    assert "grant it ssm:GetParameters on it" in refused.message


@pytest.mark.parametrize("operation,reference,code,message,says", [
    ("GetParameters", "/deploybot/API_KEY", "AccessDeniedException",
     "User: arn:aws:sts::123456789012:assumed-role/deploybot is not authorized to perform: kms:Decrypt",
     "is encrypted with a KMS key deploybot may not use: grant it kms:Decrypt on that key"),
    ("GetParameters", "/deploybot/API_KEY", "InvalidKeyId", "", "grant it kms:Decrypt"),
    ("GetSecretValue", "secretsmanager:deploybot/stripe", "DecryptionFailure", "", "grant it kms:Decrypt"),
    ("GetSecretValue", "secretsmanager:deploybot/stripe", "AccessDeniedException", "",
     "may not be read by deploybot: grant it secretsmanager:GetSecretValue on it"),
    ("GetParameters", "/deploybot/API_KEY", "ThrottlingException", "Rate exceeded",
     "AWS kept throttling the reads (ThrottlingException); deploy again in a minute"),
    ("GetSecretValue", "secretsmanager:deploybot/stripe", "InvalidRequestException", "marked deleted",
     "it may be scheduled for deletion"),
])
def test_each_fault_is_a_sentence_naming_the_variable_and_what_to_do(aws, operation, reference, code, message, says):
    aws.parameter("/deploybot/API_KEY")
    aws.secret("deploybot/stripe")
    aws.fail(operation, code, message)
    refused = _refused(aws, {"THE_VARIABLE": reference})
    assert says in refused.message and "THE_VARIABLE" in refused.message
    assert reference.removeprefix("secretsmanager:") in refused.message
    assert "not authorized" not in refused.message  # AWS's own text is never quoted


@pytest.mark.parametrize("plant", [
    lambda aws: aws.secret("deploybot/stripe", "   "),
    lambda aws: aws.admin_secretsmanager.create_secret(Name="deploybot/stripe", SecretBinary=b"\x00binary"),
])
def test_an_empty_secret_is_refused_by_name(aws, plant):
    plant(aws)
    refused = _refused(aws, {"STRIPE": "secretsmanager:deploybot/stripe"})
    assert refused.message.startswith("Secret STRIPE: the Secrets Manager secret deploybot/stripe is empty")


def test_a_throttled_batch_is_not_read_again_name_by_name(aws):
    aws.fail("GetParameters", "ThrottlingException")
    refused = _refused(aws, {"A": "/deploybot/A", "B": "/deploybot/B"})
    assert refused.message.startswith("Secret A, B: the SSM parameter /deploybot/A, /deploybot/B could not be read")
    assert len(aws.names_read()) == 1


# -- values never shown ---------------------------------------------------------------------------------

def test_the_values_show_only_their_names(aws):
    aws.parameter("/deploybot/API_KEY")
    values = aws.reader().resolve({"API_KEY": "/deploybot/API_KEY"}, FEATURE)
    assert repr(values) == str(values) == f"{values}" == "SecretValues(API_KEY)"
    assert PLANTED not in repr({"secrets": values}) and values["API_KEY"] == PLANTED
    assert isinstance(values, SecretValues) and list(values) == ["API_KEY"] and len(values) == 1


@pytest.mark.parametrize("fault", [
    None,
    ("GetParameters", "AccessDeniedException"), ("GetParameters", "ThrottlingException"),
    ("GetSecretValue", "DecryptionFailure"), ("GetSecretValue", "InternalServiceError"),
])
def test_a_planted_value_appears_in_no_error_and_no_log_line(aws, caplog, fault):
    caplog.set_level(logging.DEBUG, logger="deployer")
    aws.parameter("/deploybot/feature-x/API_KEY")
    aws.parameter("/deploybot/SHARED")
    aws.secret("deploybot/stripe")
    aws.secret("deploybot/blank", " ")
    if fault:
        aws.fail(*fault)
    secrets = {"API_KEY": "/deploybot/{feature}/API_KEY", "SHARED": "/deploybot/{feature}/SHARED",
               "STRIPE": "secretsmanager:deploybot/stripe", "BLANK": "secretsmanager:deploybot/blank",
               "MISSING": "/deploybot/MISSING"}
    with pytest.raises(Exception) as caught:
        aws.reader().resolve(secrets, FEATURE)
    assert PLANTED not in _said(caught.value) + caplog.text
    assert "Secret" in caught.value.message


# -- the wiring's entry --------------------------------------------------------------------------------

def test_the_reader_the_wiring_gets_has_the_settings_prefix_and_retries_throttling(aws):
    settings = Settings(_env_file=None, git_url="file:///srv/app", secrets_prefix="/deploybot/")
    reader = secret_reader(settings, boto3.session.Session(region_name="us-east-1"))
    assert reader.prefix == "/deploybot/"
    for client in (reader._ssm, reader._secretsmanager):  # botocore retries throttling before we see it
        assert client.meta.config.retries["mode"] == "standard" and client.meta.config.retries["total_max_attempts"] > 1
    aws.parameter("/deploybot/API_KEY")
    assert dict(reader.resolve({"API_KEY": "/deploybot/API_KEY"}, FEATURE)) == {"API_KEY": PLANTED}


# -- whatever a file says ------------------------------------------------------------------------------

PIECES = st.sampled_from(["/", "deploybot", "{feature}", "..", ".", "*", "?", "arn:", "secretsmanager:", "-", "_",
                          ":", "{", "}", " ", "é", "\x00", "API_KEY", "/deploybot/", "{url}", "aws"])
SEGMENTS = st.lists(st.one_of(st.sampled_from(["{feature}", "API_KEY", "{feature}-db", "..", "*", "", "{url}"]),
                              st.from_regex(r"[A-Za-z0-9_.+=@-]{1,8}", fullmatch=True)), min_size=1, max_size=4)
PLAUSIBLE = st.tuples(st.sampled_from(["", "secretsmanager:"]),
                      st.sampled_from(["/deploybot/", "deploybot/", "/deploybot", "/other/", ""]),
                      SEGMENTS.map("/".join)).map("".join)
REFERENCES = st.one_of(PLAUSIBLE, st.text(max_size=60),
                       st.lists(st.one_of(PIECES, st.text(max_size=4)), max_size=12).map("".join))
FEATURES = st.one_of(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", fullmatch=True), st.text(max_size=20))


@settings(max_examples=300, deadline=None)
@given(references=st.dictionaries(st.from_regex(r"[A-Z_][A-Z0-9_]{0,20}", fullmatch=True), REFERENCES, max_size=4),
       feature=FEATURES)
def test_any_reference_is_planned_or_refused_with_our_error_and_every_name_stays_under_the_prefix(references,
                                                                                                  feature):
    try:
        refs = plan_secrets(references, feature, PREFIX)
    except SecretsUnavailable as refused:
        assert refused.message.startswith("Secret ")
        return
    for ref in refs:
        assert all(under_prefix(name, PREFIX) and ".." not in name and "*" not in name for name in ref.names)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(references=st.dictionaries(st.from_regex(r"[A-Z_][A-Z0-9_]{0,20}", fullmatch=True), REFERENCES,
                                  min_size=1, max_size=3), feature=FEATURES)
def test_any_reference_read_from_aws_gives_values_or_our_error(aws, references, feature):
    aws.requests.clear()
    try:
        aws.reader().resolve(references, feature)
    except SecretsUnavailable:
        pass
    assert all(op in READS for op, _ in aws.requests)
