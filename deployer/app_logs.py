"""What an environment's app wrote: its last lines, read by a provider, made safe to show.

Providers read (`Provider.logs`); this module keeps what may be posted: the bot's own secrets
redacted wherever they appear, and a size cap that says what it cut.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr

DEFAULT_LINES = 100
MAX_LINES = 1000
REDACTED = "[redacted]"
SHORTEST_SECRET = 6  # shorter values (a port, "true") would redact ordinary words


@dataclass(frozen=True)
class AppLogs:
    """The last lines an environment's app wrote, oldest first, and where they were read."""

    lines: tuple[str, ...]
    source: str  # for people: "the container's log", "CloudWatch Logs group /aws/…", "the instances' log tail"

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def redacted(self, secrets: Iterable[str]) -> AppLogs:
        secrets = list(secrets)
        return replace(self, lines=tuple(redact(line, secrets) for line in self.lines))


# Credentials boto3 and the Docker SDK take from the environment: the bot holds them, the app may print them.
# So are Slack's tokens to a command-line run that did not load the bot's settings.
CREDENTIAL_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "DOCKER_AUTH_CONFIG",
                        "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET")


def secret_values(*models: BaseModel, environ: dict[str, str] | None = None) -> set[str]:
    """The bot's own secrets: every SecretStr of its settings, the password of every URL among them, and
    the cloud credentials it was given in its environment."""
    found: set[str] = set()
    for model in models:
        for name in type(model).model_fields:
            value = getattr(model, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
                found.add(value)  # and, below, the password inside a secret URL (DEPLOYBOT_DATABASE_URL's)
            if isinstance(value, str) and "://" in value:
                try:
                    password = urlsplit(value).password
                except ValueError:
                    password = None
                if password:
                    found.add(password)
    environ = os.environ if environ is None else environ
    found.update(environ[name] for name in CREDENTIAL_VARIABLES if environ.get(name))
    return {value for value in found if value}


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each secret replaced, longest first (one secret may contain another)."""
    for secret in sorted({s for s in secrets if s and len(s) >= SHORTEST_SECRET}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def last_lines(text: str, count: int) -> tuple[str, ...]:
    """The last `count` non-empty lines of `text`, trailing whitespace and carriage returns removed."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return tuple(line for line in lines if line)[-count:] if count > 0 else ()


def capped(text: str, limit: int) -> tuple[str, int]:
    """At most `limit` characters of `text`, cut at a line start from the front (the newest lines are kept),
    and how many lines were cut."""
    if len(text) <= limit:
        return text, 0
    kept = text[-limit:]
    cut_at = kept.find("\n")
    kept = kept[cut_at + 1:] if cut_at >= 0 else kept
    return kept, text[: len(text) - len(kept)].count("\n")
