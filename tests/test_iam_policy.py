"""docs/iam-policy.json allows every AWS call deploybot's code makes (found in the source)."""
import json
import re
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = {"_eb": "elasticbeanstalk", "_s3": "s3", "_ecr": "ecr"}
# S3 authorizes some API operations under other action names.
S3_ACTIONS = {"HeadBucket": "ListBucket"}


def _calls() -> set[str]:
    found = set()
    for path in (ROOT / "deployer").rglob("*.py"):
        text = path.read_text()
        for attr, service in CLIENTS.items():
            client = boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
            for method in set(re.findall(rf"self\.{attr}\.([a-z_]+)\(", text)):
                if method in client.meta.method_to_api_mapping:
                    found.add(f"{service}:{client.meta.method_to_api_mapping[method]}")
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
    assert {"elasticbeanstalk:CreateEnvironment", "s3:PutObject", "ecr:GetAuthorizationToken"} <= calls
    assert calls - _allowed() == set()
