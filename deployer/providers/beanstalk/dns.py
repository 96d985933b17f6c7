"""Route 53 records for DEPLOYBOT_DOMAIN: one per environment, owned as external-dns owns its records.

`<label>.<domain>` is an alias (A, and AAAA for a dualstack one) to the environment's load balancer where it has
one, else a CNAME to the environment's CNAME. Beside it stands a TXT record `_deploybot.<label>.<domain>` (a
CNAME can share its name with no other record) saying
`heritage=deploybot,deploybot/owner=<owner>,deploybot/environment=<env>`.
deploybot changes or deletes a record only when that TXT says it is this deploybot's; anything else in the
zone is never touched. Built with a Route 53 client passed in (RETRY_CONFIG retries its throttling).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from botocore.exceptions import ClientError, WaiterError

from deployer.errors import CloudError, ConfigError
from deployer.providers.beanstalk.gateway import translated
from deployer.providers.beanstalk.load_balancers import AliasTarget

HERITAGE = "deploybot"
OWNER_PREFIX = "_deploybot"  # the TXT record's first label
TTL = 60
POINTING = ("CNAME", "A", "AAAA")  # the types of the record deploybot writes at a host name
# The resource_record_sets_changed waiter's bound: Route 53 says INSYNC within about a minute.
SYNC_DELAY, SYNC_ATTEMPTS = 5, 36


@dataclass(frozen=True)
class Ownership:
    owner: str
    environment: str


@dataclass(frozen=True)
class OwnedRecord:
    label: str
    environment: str


def txt_value(owner: str, environment: str) -> str:
    """The TXT record's text, external-dns's registry format with deploybot's keys. Pure."""
    return f"heritage={HERITAGE},deploybot/owner={_quoted(owner)},deploybot/environment={_quoted(environment)}"


def parse_txt(value: str) -> Ownership | None:
    """Who a TXT text (as Route 53 lists it, quoted or not) says owns the record; None when it is not
    deploybot's mark. Pure."""
    text = value.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    fields = dict(part.split("=", 1) for part in text.split(",") if "=" in part)
    if fields.get("heritage") != HERITAGE or "deploybot/owner" not in fields or "deploybot/environment" not in fields:
        return None
    return Ownership(unquote(fields["deploybot/owner"]), unquote(fields["deploybot/environment"]))


def _quoted(text: str) -> str:
    return quote(text, safe="/:@._-")  # no comma, equals sign or quote can end a field early


def owner_id(application: str, env_prefix: str) -> str:
    """This deploybot among others on the same zone: its Beanstalk application and environment prefix."""
    return f"{application}/{env_prefix}" if env_prefix else application


def zone_holds(zone_name: str, domain: str) -> bool:
    """A zone named `zone_name` can hold records under `domain`: it is the domain or a parent of it. Pure."""
    zone, domain = zone_name.rstrip(".").lower(), domain.rstrip(".").lower()
    return domain == zone or domain.endswith("." + zone)


class HostRecords:
    """The Route 53 calls deploybot makes for DEPLOYBOT_DOMAIN, in DEPLOYBOT_HOSTED_ZONE_ID."""

    def __init__(self, route53: Any, zone_id: str, domain: str, owner: str,
                 sync_delay: int = SYNC_DELAY, sync_attempts: int = SYNC_ATTEMPTS) -> None:
        self._route53 = route53
        self.zone_id = zone_id.removeprefix("/hostedzone/")
        self.domain = domain.rstrip(".").lower()
        self.owner = owner
        self._wait = {"Delay": sync_delay, "MaxAttempts": sync_attempts}

    def host(self, label: str) -> str:
        return f"{label}.{self.domain}"

    @translated("read the hosted zone (DEPLOYBOT_HOSTED_ZONE_ID)")
    def check(self) -> None:
        """ConfigError unless the zone exists and holds the domain."""
        try:
            name = self._route53.get_hosted_zone(Id=self.zone_id)["HostedZone"]["Name"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchHostedZone", "InvalidInput"):
                raise ConfigError(f"The hosted zone {self.zone_id} (DEPLOYBOT_HOSTED_ZONE_ID) does not exist, so it "
                                  f"can't hold {self.domain} (DEPLOYBOT_DOMAIN).") from None
            raise
        if not zone_holds(name, self.domain):
            raise ConfigError(f"The hosted zone {self.zone_id} (DEPLOYBOT_HOSTED_ZONE_ID) is {name.rstrip('.')}, "
                              f"which does not hold {self.domain} (DEPLOYBOT_DOMAIN): name the zone of "
                              f"{self.domain} or of a parent of it.")

    @translated("check the environment's DNS record")
    def check_free(self, label: str) -> None:
        """ConfigError when `<label>.<domain>` holds a record that is not this deploybot's."""
        self._refuse_taken(label)

    @translated("write the environment's DNS record")
    def ensure(self, label: str, target: str | AliasTarget, env_name: str) -> None:
        """`<label>.<domain>` pointing at `target` (a load balancer's alias, or a CNAME's host name), and its
        TXT mark, once in sync (INSYNC). What deploybot wrote there before and no longer points with (a CNAME
        become an alias) goes in the same change. Refused (ConfigError), changing nothing, when a record of
        that name exists that is not this deploybot's."""
        self._refuse_taken(label)
        host = self.host(label)
        wanted = pointing(host, target)
        kinds = {r["Type"] for r in wanted}
        stale = [{"Action": "DELETE", "ResourceRecordSet": r} for r in self._records(host)
                 if r["Type"] in POINTING and r["Type"] not in kinds]
        self._change([
            *stale,
            *({"Action": "UPSERT", "ResourceRecordSet": r} for r in wanted),
            {"Action": "UPSERT", "ResourceRecordSet": _record(self._mark_name(label), "TXT",
                                                               f'"{txt_value(self.owner, env_name)}"')},
        ])

    def _refuse_taken(self, label: str) -> None:
        name, mark = self.host(label), self._ownership(self._mark_name(label))
        taken = [r for r in self._records(name) if r["Type"] not in POINTING or mark is None]
        if taken or (mark is not None and mark[0].owner != self.owner):
            what = ", ".join(sorted({r["Type"] for r in taken})) or f"marked as {mark[0].owner}'s"  # type: ignore[index]
            raise ConfigError(f"The DNS record {name} exists and is not deploybot's ({what}, in hosted zone "
                              f"{self.zone_id}): deploybot leaves it alone. Remove it, or set another "
                              "DEPLOYBOT_DOMAIN, to give the branch that host name.")

    @translated("delete the environment's DNS record")
    def remove(self, label: str, env_name: str) -> bool:
        """Delete the record and its mark when the mark says it is this deploybot's, for `env_name`."""
        mark_name = self._mark_name(label)
        mark = self._ownership(mark_name)
        if mark is None or mark[0] != Ownership(self.owner, env_name):
            return False
        changes = [{"Action": "DELETE", "ResourceRecordSet": r} for r in self._records(self.host(label))
                   if r["Type"] in POINTING]
        self._change([*changes, {"Action": "DELETE", "ResourceRecordSet": mark[1]}])
        return True

    @translated("list deploybot's DNS records")
    def owned(self) -> list[OwnedRecord]:
        """Every record this deploybot marked as its own under the domain."""
        suffix = f".{self.domain}."
        found = []
        for record in self._all():
            name = _unescaped(record["Name"]).lower()
            if record["Type"] != "TXT" or not name.startswith(OWNER_PREFIX + ".") or not name.endswith(suffix):
                continue
            label = name[len(OWNER_PREFIX) + 1:-len(suffix)]
            for value in record.get("ResourceRecords", []):
                mark = parse_txt(value["Value"])
                if mark is not None and mark.owner == self.owner and "." not in label:
                    found.append(OwnedRecord(label, mark.environment))
        return found

    def orphans(self, live_env_names: Callable[[], set[str]]) -> list[OwnedRecord]:
        """This deploybot's records whose environment is not among the live ones. Those are listed after the
        records: a record is written only once its environment exists, so a deploy's new record is never
        taken for an orphan."""
        owned = self.owned()
        live = live_env_names()
        return [r for r in owned if r.environment not in live]

    def _mark_name(self, label: str) -> str:
        return f"{OWNER_PREFIX}.{self.host(label)}"

    def _ownership(self, mark_name: str) -> tuple[Ownership, dict] | None:
        for record in self._records(mark_name):
            if record["Type"] != "TXT":
                continue
            for value in record.get("ResourceRecords", []):
                mark = parse_txt(value["Value"])
                if mark is not None:
                    return mark, record
        return None

    def _records(self, name: str) -> list[dict]:
        """The record sets of exactly `name` (any type)."""
        wanted = name.rstrip(".").lower() + "."
        page = self._route53.list_resource_record_sets(HostedZoneId=self.zone_id, StartRecordName=wanted,
                                                       MaxItems="20")
        return [r for r in page["ResourceRecordSets"] if _unescaped(r["Name"]).lower() == wanted]

    def _all(self) -> Iterator[dict]:
        paginator = self._route53.get_paginator("list_resource_record_sets")
        for page in paginator.paginate(HostedZoneId=self.zone_id):
            yield from page["ResourceRecordSets"]

    def _change(self, changes: list[dict]) -> None:
        change = self._route53.change_resource_record_sets(
            HostedZoneId=self.zone_id,
            ChangeBatch={"Comment": "deploybot", "Changes": changes})["ChangeInfo"]
        try:
            self._route53.get_waiter("resource_record_sets_changed").wait(Id=change["Id"], WaiterConfig=self._wait)
        except WaiterError as exc:
            raise CloudError(f"Route 53 did not say the change {change['Id']} was in sync (INSYNC) in time; "
                             "the record may still be propagating.") from exc


def pointing(host: str, target: str | AliasTarget) -> list[dict]:
    """The record sets that point `host` at `target`. Pure."""
    if isinstance(target, str):
        return [_record(host, "CNAME", target)]
    alias = {"HostedZoneId": target.zone_id, "DNSName": target.dns_name, "EvaluateTargetHealth": False}
    return [{"Name": host + ".", "Type": kind, "AliasTarget": alias} for kind in ("A", "AAAA")[:1 + target.ipv6]]


def _record(name: str, kind: str, value: str) -> dict:
    return {"Name": name + ".", "Type": kind, "TTL": TTL, "ResourceRecords": [{"Value": value}]}


def _unescaped(name: str) -> str:
    """Route 53 lists some characters of names as octal escapes (`*` as `\\052`)."""
    return name.replace("\\052", "*")
