"""Per-environment overrides from Slack (`/deploy feature-x --set KEY=VALUE --unset KEY`). Pure.

A deploy carries the changes it was asked for; the store remembers each feature's overrides once a deploy
that carries them has succeeded, and every later deploy of the feature (a push's too) gets them. They win
over deploybot.yml's `env`; a secret's or the database's variable can't be overridden (its value comes
from SSM, Secrets Manager or deploybot's database server, never from Slack).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from deployer.app_config import RESERVED, VARIABLE, AppConfig
from deployer.errors import InvalidRequest

# What a deploy asks: (name, value) sets, (name, None) unsets, in the order given (the last one of a name wins).
Changes = tuple[tuple[str, str | None], ...]
MAX_VALUE_BYTES = 4096  # Beanstalk's whole environment is 4,096 bytes of NAME=value: no single one is larger
MAX_NAME = 128


def name_problem(name: str) -> str | None:
    """Why `name` can't be a variable set from Slack, or None."""
    if not VARIABLE.match(name) or len(name) > MAX_NAME:
        return f"`{name[:MAX_NAME]}` is not a variable name: letters, digits and underscores, not starting with a digit"
    if name in RESERVED:
        return f"`{name}` is set by deploybot itself"
    return None


def value_problem(name: str, value: str) -> str | None:
    if len(value.encode()) > MAX_VALUE_BYTES:
        return f"the value of `{name}` is longer than {MAX_VALUE_BYTES:,} bytes"
    if "\x00" in value:
        return f"the value of `{name}` holds a NUL character"
    return None


def check(changes: Changes) -> None:
    """InvalidRequest naming the first change that can't be made, whatever the branch's file says."""
    for name, value in changes:
        problem = name_problem(name) or (value_problem(name, value) if value is not None else None)
        if problem:
            raise InvalidRequest(f"--set/--unset: {problem}; nothing was changed.")


def refuse_hidden(config: AppConfig, changes: Changes) -> None:
    """InvalidRequest when a change names a variable whose value deploybot.yml has come from elsewhere."""
    for name, _ in changes:
        if name in config.secrets:
            raise InvalidRequest(f"`{name}` is a secret of deploybot.yml: its value comes from "
                                 f"{_source(config.secrets[name])}, not from Slack; nothing was changed.")
        if config.database is not None and name == config.database.env:
            raise InvalidRequest(f"`{name}` is the URL of the environment's own database (deploybot.yml's "
                                 "`database`): deploybot gives it, not Slack; nothing was changed.")


def _source(reference: str) -> str:
    return "Secrets Manager" if reference.startswith("secretsmanager:") else "SSM"


def applied(remembered: Mapping[str, str], changes: Changes) -> dict[str, str]:
    """The feature's overrides once `changes` are made to those remembered."""
    result = dict(remembered)
    for name, value in changes:
        if value is None:
            result.pop(name, None)
        else:
            result[name] = value
    return result


def hidden_names(config: AppConfig) -> tuple[str, ...]:
    """The variables the app gets whose values are never shown: the file's secrets and its database's URL."""
    return tuple(sorted({*config.secrets, *([config.database.env] if config.database else [])}))


def encode(changes: Changes) -> str | None:
    """For the deploys table: a restart loses nothing of what was asked."""
    return json.dumps([[name, value] for name, value in changes]) if changes else None


def decode(text: str | None) -> Changes:
    return tuple((str(name), None if value is None else str(value)) for name, value in json.loads(text or "[]"))


@dataclass(frozen=True)
class EnvSettings:
    """What an environment's card says about its settings: the overrides from Slack (names and values:
    they are not secrets) and the names of its secrets (never their values)."""

    overrides: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.overrides or self.secrets)


NO_SETTINGS = EnvSettings()


def names_text(names: Iterable[str]) -> str | None:
    """Names as the store keeps them (comma-separated; a variable name holds no comma)."""
    names = sorted(names)
    return ",".join(names) if names else None


def names_of(text: str | None) -> tuple[str, ...]:
    return tuple(name for name in (text or "").split(",") if name)
