"""docs/iam-policy.json allows every AWS call deploybot's code makes (found in the source)."""
import functools
import json
import re
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = {"_eb": "elasticbeanstalk", "_s3": "s3", "_ecr": "ecr", "_tagging": "resourcegroupstaggingapi",
           "_logs": "logs", "_ssm": "ssm", "_secretsmanager": "secretsmanager", "_route53": "route53", "_acm": "acm",
           "_elb": "elb", "_elbv2": "elbv2", "_ec2": "ec2", "_pricing": "pricing"}
# IAM's name for a service where it differs from boto3's.
IAM_PREFIX = {"resourcegroupstaggingapi": "tag", "elb": "elasticloadbalancing", "elbv2": "elasticloadbalancing"}
# S3 authorizes some API operations under other action names.
S3_ACTIONS = {"HeadBucket": "ListBucket"}


@functools.cache
def _calls() -> set[str]:
    found = set()
    clients = {service: boto3.client(service, region_name="us-east-1", aws_access_key_id="x",
                                     aws_secret_access_key="x") for service in set(CLIENTS.values())}
    for path in (ROOT / "deployer").rglob("*.py"):
        text = path.read_text()
        for attr, service in CLIENTS.items():
            client = clients[service]  # one each: making a client parses its service model
            used = re.findall(rf"self\.{attr}\.([a-z_]+)\(", text)
            used += re.findall(rf"self\.{attr}\.get_paginator\(\s*\"([a-z_]+)\"", text)
            for method in set(used):
                if method in client.meta.method_to_api_mapping:
                    found.add(f"{IAM_PREFIX.get(service, service)}:{client.meta.method_to_api_mapping[method]}")
        if "self._ecr" in text:  # the registry's own _call("Operation", ...) wrapper
            for operation in re.findall(r'_call(?:_or_raise)?\(\s*"([A-Za-z]+)"', text):
                found.add(f"ecr:{operation}")
    return {f"s3:{S3_ACTIONS.get(a[3:], a[3:])}" if a.startswith("s3:") else a for a in found}


def _allowed() -> set[str]:
    policy = json.loads((ROOT / "docs" / "iam-policy.json").read_text())
    actions = set()
    for statement in policy["Statement"]:
        listed = statement["Action"]
        actions |= {listed} if isinstance(listed, str) else set(listed)
    return actions


def test_the_policy_allows_every_call_the_code_makes():
    calls = _calls()
    assert {"elasticbeanstalk:CreateEnvironment", "s3:PutObject", "ecr:GetAuthorizationToken",
            "tag:GetResources", "elasticbeanstalk:RequestEnvironmentInfo", "logs:GetLogEvents",
            "ssm:GetParameters", "secretsmanager:GetSecretValue"} <= calls
    assert calls - _allowed() == set()


def _statements() -> dict[str, dict]:
    return {s["Sid"]: s for s in json.loads((ROOT / "docs" / "iam-policy.json").read_text())["Statement"]}


def _actions(statement: dict) -> set[str]:
    listed = statement["Action"]
    return {listed} if isinstance(listed, str) else set(listed)


# Allowed though the code never names them, each for a reason AWS documents.
NOT_CALLED_BUT_NEEDED = {
    "elasticbeanstalk:AddTags",  # authorizes tags given to CreateEnvironment and UpdateTagsForResource
    "s3:GetObject", "s3:DeleteObject",  # Beanstalk reads bundles, and deletes them with their version, as the caller
    # (s3:GetObject also lets the bot fetch the log tails behind RetrieveEnvironmentInfo's presigned URLs)
    *(f"ecr:{a}" for a in ("BatchCheckLayerAvailability", "BatchGetImage", "GetDownloadUrlForLayer",
                           "InitiateLayerUpload", "UploadLayerPart", "CompleteLayerUpload", "PutImage")),  # docker push
    "kms:Decrypt",  # SSM and Secrets Manager decrypt a secret under a customer key with the caller's permission
    "route53:GetChange",  # what boto3's resource_record_sets_changed waiter calls until a change is INSYNC
    "ec2:CreateTags",  # authorizes the tag given to CreateSecurityGroup (TagSpecifications)
}
ON_BEHALF = {"WhatBeanstalkDoesOnTheCallersBehalf", "BeanstalkCreatesItsStackWithTheCallersCredentials",
             "PassTheRolesOfTheSavedConfiguration"}


def test_the_policy_allows_nothing_the_code_does_not_need():
    ours = set().union(*(_actions(s) for sid, s in _statements().items() if sid not in ON_BEHALF))
    assert ours - _calls() - NOT_CALLED_BUT_NEEDED == set()


def test_every_resource_is_scoped_with_the_documented_placeholders():
    placeholders = set()
    for statement in _statements().values():
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for resource in resources:
            placeholders |= set(re.findall(r"\b[A-Z][A-Z0-9_]{2,}\b", resource))
    readme = (ROOT / "README.md").read_text()
    assert placeholders == {"REGION", "ACCOUNT", "APPLICATION", "BUCKET", "REPOSITORY", "EC2_ROLE", "SERVICE_ROLE",
                            "HOSTED_ZONE_ID"}
    assert all(f"{name}" in readme for name in placeholders)


def test_wildcard_resources_only_where_aws_has_none_or_under_a_condition():
    for sid, statement in _statements().items():
        if statement["Resource"] != "*":
            continue
        if sid == "WhatBeanstalkDoesOnTheCallersBehalf":
            called_via = statement["Condition"]["ForAnyValue:StringEquals"]["aws:CalledVia"]
            assert set(called_via) == {"cloudformation.amazonaws.com", "elasticbeanstalk.amazonaws.com"}
        else:  # actions AWS authorizes on no resource
            assert _actions(statement) <= {"ecr:GetAuthorizationToken", "elasticbeanstalk:CheckDNSAvailability",
                                           "elasticbeanstalk:DescribeEvents", "tag:GetResources",
                                           "acm:ListCertificates", "elasticloadbalancing:DescribeLoadBalancers",
                                           "ec2:DescribeSecurityGroups", "ec2:DescribeVpcs", "pricing:GetProducts"}, sid


def test_secrets_are_readable_only_under_the_documented_prefix_and_decrypted_only_through_those_services():
    reading = _statements()["SecretsUnderTheOperatorsPrefix"]
    assert reading["Resource"] == ["arn:aws:ssm:REGION:ACCOUNT:parameter/deploybot/*",
                                   "arn:aws:secretsmanager:REGION:ACCOUNT:secret:deploybot/*"]
    decrypting = _statements()["SecretsEncryptedWithACustomerKey"]
    assert _actions(decrypting) == {"kms:Decrypt"}
    assert decrypting["Condition"]["StringEquals"]["kms:ViaService"] == [
        "ssm.REGION.amazonaws.com", "secretsmanager.REGION.amazonaws.com"]


def test_roles_are_passed_only_to_beanstalk_and_ec2():
    passing = _statements()["PassTheRolesOfTheSavedConfiguration"]
    assert passing["Condition"]["StringEquals"]["iam:PassedToService"] == [
        "elasticbeanstalk.amazonaws.com", "ec2.amazonaws.com"]
    assert all(r.startswith("arn:aws:iam::ACCOUNT:role/") for r in passing["Resource"])


def test_the_gates_rules_change_only_in_a_group_that_carries_deploybots_tag():
    rules = _statements()["TheGatesRulesOnlyInDeploybotsGroup"]
    assert _actions(rules) == {"ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"}
    assert rules["Condition"] == {"Null": {"aws:ResourceTag/deploybot:access": "false"}}
    tagging = _statements()["TheGatesSecurityGroupTaggedAsItIsMade"]
    assert tagging["Condition"]["StringEquals"]["ec2:CreateAction"] == "CreateSecurityGroup"
