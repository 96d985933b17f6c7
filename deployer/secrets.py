"""An environment's secrets: values deploybot.yml's `secrets` names, read from AWS at deploy time.

    secrets:
      API_KEY: /deploybot/{feature}/API_KEY               # an SSM parameter (SecureString or String)
      STRIPE: secretsmanager:deploybot/{feature}/stripe   # a Secrets Manager secret (its SecretString)

**References.** `secretsmanager:NAME` is a Secrets Manager secret; anything else is an SSM parameter's name.
`{feature}` (at most once) is replaced by the branch's DNS-safe label; no other placeholder exists. ARNs,
wildcards (`*`, `?`), `..` and characters AWS does not allow in names are refused.

**Fallback.** A reference with `{feature}` names two candidates, read in this order: the branch's own,
`{feature}` replaced (`/deploybot/feature-x/API_KEY`), then the shared one, `{feature}` removed together
with the separator (`/ - _ .`) after it, or before it when it ends the name (`/deploybot/API_KEY`;
`deploybot/stripe-{feature}` → `deploybot/stripe`). The shared one is read only when the branch's own does
not exist; a denied or undecryptable branch's own is an error, not a reason to fall back.

**The operator's limit.** Every candidate must start with DEPLOYBOT_SECRETS_PREFIX (a leading `/` on
either side is not counted, so `deploybot/x` is under `/deploybot/`); everything is checked before the
first AWS call, and without the setting no secret is read at all.

Every failure is a SecretsUnavailable naming the variable, the parameter or secret and what to do. A
value never appears in an error, a log line or a repr: `resolve` returns SecretValues, whose repr shows
names only. Whoever writes the values elsewhere (a bundle, a log) redacts them (deployer.app_logs.redact).
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ParamValidationError

from deployer.errors import CloudError, SecretsUnavailable
from deployer.metrics import THROTTLING_CODES, count_aws_calls
from deployer.providers.beanstalk.gateway import RETRY_CONFIG
from deployer.settings import PREFIX, Settings

log = logging.getLogger(__name__)

SETTING = f"{PREFIX}SECRETS_PREFIX"
FEATURE = "{feature}"
SECRETS_MANAGER = "secretsmanager:"
SEPARATORS = "/-_."
SSM_BATCH = 10  # GetParameters takes at most 10 names
# What AWS allows in names (SSM: letters, digits, `_ . - /`; Secrets Manager adds `+ = @`).
SSM_NAME = re.compile(r"[A-Za-z0-9_./-]+")
SECRET_NAME = re.compile(r"[A-Za-z0-9_./+=@-]+")
SSM_MAX_LENGTH, SSM_MAX_LEVELS, SECRET_MAX_LENGTH = 1011, 15, 512
DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
KMS_CODES = {"InvalidKeyId", "DecryptionFailure", "KMSAccessDeniedException", "KMSDisabledException",
             "KMSInvalidStateException", "KMSNotFoundException"}
MISSING_SECRET_CODES = {"ResourceNotFoundException"}

Store = Literal["ssm", "secretsmanager"]
KIND = {"ssm": "SSM parameter", "secretsmanager": "Secrets Manager secret"}
PERMISSION = {"ssm": "ssm:GetParameters", "secretsmanager": "secretsmanager:GetSecretValue"}


@dataclass(frozen=True)
class SecretRef:
    """Where one variable's value lives: the names to read, in order (the branch's own, then the shared one)."""

    variable: str
    store: Store
    names: tuple[str, ...]

    @property
    def kind(self) -> str:
        return KIND[self.store]


class SecretValues(Mapping[str, str]):
    """Variable → value, read-only; its repr and str show the variables' names only."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values = dict(values or {})

    def __getitem__(self, variable: str) -> str:
        return self._values[variable]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"SecretValues({', '.join(sorted(self._values))})"

    __str__ = __repr__


# -- the pure part: references, the fallback, the prefix ------------------------------------------

def plan_secrets(secrets: Mapping[str, str], feature: str, prefix: str | None) -> list[SecretRef]:
    """Every variable's candidates, each checked against `prefix`; SecretsUnavailable for the first bad one."""
    if secrets and not prefix:
        raise SecretsUnavailable(
            f"deploybot.yml asks for secrets ({', '.join(sorted(secrets))}), but this deploybot reads none: the "
            f"operator allows the parameters and secrets under a path by setting {SETTING} (e.g. /deploybot/)")
    return [parse_reference(variable, reference, feature, prefix or "") for variable, reference in secrets.items()]


def parse_reference(variable: str, reference: str, feature: str, prefix: str) -> SecretRef:
    """One reference as SecretRef: its store, `{feature}` replaced, the fallback added, every name checked."""
    store: Store = "secretsmanager" if reference.startswith(SECRETS_MANAGER) else "ssm"
    written = reference.removeprefix(SECRETS_MANAGER)
    _check_written(variable, written, store)
    names = (written.replace(FEATURE, feature), shared_name(written)) if FEATURE in written else (written,)
    for name, role in zip(names, ("", "the shared fallback "), strict=False):
        _check_name(variable, name, store, role)
        if not under_prefix(name, prefix):
            raise SecretsUnavailable(
                f"Secret {variable}: {role}{name} is outside {SETTING} ({prefix}), the only "
                f"{KIND[store]}s this deploybot may read. Name one under {prefix}, or ask the operator to allow it")
    return SecretRef(variable, store, names)


def shared_name(written: str) -> str:
    """`written` with `{feature}` and one separator beside it removed: the name shared by every branch."""
    before, after = written.split(FEATURE, 1)
    if after[:1] and after[0] in SEPARATORS:
        return before + after[1:]
    if before[-1:] and before[-1] in SEPARATORS:
        return before[:-1] + after
    return before + after


def under_prefix(name: str, prefix: str) -> bool:
    """Whether `name` starts with `prefix`, a leading `/` on either side not counted."""
    return ("/" + name.lstrip("/")).startswith("/" + prefix.lstrip("/"))


def _check_written(variable: str, written: str, store: Store) -> None:
    """What is refused before `{feature}` is replaced: ARNs, wildcards, other placeholders, `{feature}` twice."""
    if written.lower().startswith("arn:"):
        raise SecretsUnavailable(
            f"Secret {variable}: {written} is an ARN; write the {KIND[store]}'s name instead: deploybot reads "
            "only its own account's, under the operator's prefix")
    if "*" in written or "?" in written:
        raise SecretsUnavailable(f"Secret {variable}: {written} has a wildcard; name one {KIND[store]}")
    if written.count(FEATURE) > 1:
        raise SecretsUnavailable(f"Secret {variable}: {written} has {FEATURE} more than once; use it at most once")


def _check_name(variable: str, name: str, store: Store, role: str) -> None:
    """A name AWS would accept, with no `..`."""
    pattern, longest = (SSM_NAME, SSM_MAX_LENGTH) if store == "ssm" else (SECRET_NAME, SECRET_MAX_LENGTH)
    allowed = "letters, digits and _ . - /" + ("" if store == "ssm" else " + = @")
    problem = None
    if ".." in name:
        problem = "contains `..`; write the full name"
    elif not pattern.fullmatch(name):
        problem = f"is not a valid {KIND[store]} name: use {allowed}, and {FEATURE} for the branch's name"
    elif len(name) > longest:
        problem = f"is longer than the {longest} characters AWS allows"
    elif store == "ssm" and "/" in name and (not name.startswith("/") or "//" in name or name.endswith("/")
                                             or name.count("/") > SSM_MAX_LEVELS):
        problem = (f"is not a parameter path: it starts with `/`, has no empty level and no final `/`, and at "
                   f"most {SSM_MAX_LEVELS} levels")
    if problem:
        raise SecretsUnavailable(f"Secret {variable}: {role}{name!r} {problem}")


# -- the adapter: SSM Parameter Store and Secrets Manager -------------------------------------------

class SecretReader:
    """Reads secrets with the boto3 clients it is given (standard retries handle throttling first)."""

    def __init__(self, ssm_client: Any, secretsmanager_client: Any, prefix: str | None) -> None:
        self._ssm = ssm_client
        self._secretsmanager = secretsmanager_client
        self.prefix = prefix

    def resolve(self, secrets: Mapping[str, str], feature: str) -> SecretValues:
        """Each variable's value: its branch's own name if that exists, else the shared one (module docstring).

        Nothing is read until every reference passed the checks; SecretsUnavailable names what failed.
        """
        refs = plan_secrets(secrets, feature, self.prefix)
        found: dict[tuple[Store, str], str] = {}
        for attempt in (0, 1):  # the branch's own names, then the shared ones of what was missing
            wanted = [ref for ref in refs if attempt < len(ref.names) and not _value_of(ref, found)]
            found |= self._read(wanted, attempt)
        values = {ref.variable: _checked(ref, _value_of(ref, found)) for ref in refs}
        if values:
            log.info("Read secrets %s for %s", ", ".join(sorted(values)), feature)
        return SecretValues(values)

    def _read(self, refs: list[SecretRef], attempt: int) -> dict[tuple[Store, str], str]:
        found: dict[tuple[Store, str], str] = {}
        parameters = [ref for ref in refs if ref.store == "ssm"]
        names = list(dict.fromkeys(ref.names[attempt] for ref in parameters))
        for start in range(0, len(names), SSM_BATCH):
            batch = names[start:start + SSM_BATCH]
            whose = [ref for ref in parameters if ref.names[attempt] in batch]
            found |= {("ssm", name): value for name, value in self._get_parameters(batch, whose).items()}
        for name in dict.fromkeys(ref.names[attempt] for ref in refs if ref.store == "secretsmanager"):
            whose = [ref for ref in refs if ref.store == "secretsmanager" and ref.names[attempt] == name]
            value = self._get_secret(name, whose)
            if value is not None:
                found[("secretsmanager", name)] = value
        return found

    def _get_parameters(self, names: list[str], whose: list[SecretRef]) -> dict[str, str]:
        """The values of those of `names` that exist; a denied batch is read again name by name, to say which."""
        try:
            answer = self._ssm.get_parameters(Names=names, WithDecryption=True)
        except ClientError as exc:
            if len(names) > 1 and _code(exc) not in THROTTLING_CODES:
                return {n: v for name in names for n, v in self._get_parameters([name], whose).items()}
            raise _unreadable(exc, "ssm", names, whose) from None
        except BotoCoreError as exc:
            raise _unreachable(exc, "ssm", names) from None
        return {parameter["Name"]: parameter["Value"] for parameter in answer.get("Parameters", [])}

    def _get_secret(self, name: str, whose: list[SecretRef]) -> str | None:
        """The secret's SecretString; None when there is no such secret; "" when it holds none."""
        try:
            answer = self._secretsmanager.get_secret_value(SecretId=name)
        except ClientError as exc:
            if _code(exc) in MISSING_SECRET_CODES:
                return None
            raise _unreadable(exc, "secretsmanager", [name], whose) from None
        except BotoCoreError as exc:
            raise _unreachable(exc, "secretsmanager", [name]) from None
        return answer.get("SecretString") or ""


def secret_reader(settings: Settings, session: Any) -> SecretReader:
    """The reader the entry point wires: clients from `session`, with deploybot's retries and call counts."""
    return SecretReader(count_aws_calls(session.client("ssm", config=RETRY_CONFIG)),
                        count_aws_calls(session.client("secretsmanager", config=RETRY_CONFIG)),
                        settings.secrets_prefix)


def _value_of(ref: SecretRef, found: Mapping[tuple[Store, str], str]) -> tuple[str, str] | None:
    """The first of `ref`'s names that was found, and its value."""
    return next(((name, found[(ref.store, name)]) for name in ref.names if (ref.store, name) in found), None)


def _checked(ref: SecretRef, read: tuple[str, str] | None) -> str:
    if read is None:
        tried = f"{ref.names[0]}, nor the shared {ref.names[1]}" if len(ref.names) > 1 else ref.names[0]
        create = ("aws ssm put-parameter --type SecureString --name " if ref.store == "ssm"
                  else "aws secretsmanager create-secret --name ") + ref.names[-1]
        raise SecretsUnavailable(
            f"Secret {ref.variable}: there is no {ref.kind} {tried}. Create it (`{create} …`), or remove "
            f"{ref.variable} from deploybot.yml's secrets")
    name, value = read
    if not value.strip():
        raise SecretsUnavailable(
            f"Secret {ref.variable}: the {ref.kind} {name} is empty (or holds no text: deploybot passes only a "
            "SecretString); give it a value")
    return value


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "Unknown")


def _unreadable(exc: ClientError, store: Store, names: Sequence[str], whose: list[SecretRef]) -> Exception:
    """SecretsUnavailable for a denied, undecryptable or throttled read (AWS's own text is never quoted)."""
    code = _code(exc)
    variables = ", ".join(sorted({ref.variable for ref in whose if set(ref.names) & set(names)}))
    what = f"Secret {variables}: the {KIND[store]} {', '.join(names)}"
    about_kms = code in KMS_CODES or "kms" in exc.response.get("Error", {}).get("Message", "").lower()
    if about_kms:
        return SecretsUnavailable(
            f"{what} is encrypted with a KMS key deploybot may not use: grant it kms:Decrypt on that key "
            f"(docs/iam-policy.json, under the condition kms:ViaService) ({code})")
    if code in DENIED_CODES:
        return SecretsUnavailable(
            f"{what} may not be read by deploybot: grant it {PERMISSION[store]} on it (docs/iam-policy.json), or "
            f"create it if it does not exist ({code})")
    if code in THROTTLING_CODES:
        return SecretsUnavailable(f"{what} could not be read: AWS kept throttling the reads ({code}); deploy again "
                                  "in a minute")
    if code in {"InvalidRequestException", "InvalidParameterException", "ValidationException"}:
        return SecretsUnavailable(f"{what} can't be read now ({code}: it may be scheduled for deletion, or its "
                                  "name is refused); restore it or name another")
    return CloudError(f"{what}: AWS answered {code}", code=code)


def _unreachable(exc: BotoCoreError, store: Store, names: Sequence[str]) -> Exception:
    if isinstance(exc, NoCredentialsError):
        return SecretsUnavailable(f"Can't read the {KIND[store]} {', '.join(names)}: no AWS credentials found")
    if isinstance(exc, ParamValidationError):  # its text is not quoted: it may hold what was sent
        return SecretsUnavailable(f"AWS refuses {', '.join(names)} as a {KIND[store]}'s name; name another")
    return CloudError(f"Can't read the {KIND[store]} {', '.join(names)}: AWS did not answer ({type(exc).__name__})")
