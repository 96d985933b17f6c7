"""`deploybot.yml`: what a branch asks of its environment, read from the commit being deployed. Pure.

Optional (without it everything works as before), validated with pydantic against the schema published
in docs/deploybot.schema.json, and answered, when wrong, with the file's line and what to write instead:
nothing is created or changed for a branch whose file is invalid. EXAMPLE below is the whole file (the
README and docs/deploybot-yml.md show it too).
"""
from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WithJsonSchema, field_validator,
)

from deployer.durations import format_duration, parse_duration
from deployer.errors import AppConfigInvalid

FILE = "deploybot.yml"
FACTS = ("feature", "url", "commit", "environment")  # what `{…}` in an `env` value may name
VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Set by deploybot itself; a file may not take them over.
RESERVED = frozenset({"DEPLOYBOT_FEATURE", "DEPLOYBOT_COMMIT", "DEPLOYBOT_ENVIRONMENT"})
MAX_FILE_BYTES = 64 * 1024
EXAMPLE = """\
port: 8080
health_check_path: /healthz
env:
  PUBLIC_URL: "{url}"
  GREETING: "hello {feature}"
secrets:
  API_KEY: /deploybot/{feature}/API_KEY
database:
  template: shop_seed
release: ./manage.py migrate
"""


def _text(value: Any) -> Any:
    """YAML reads `8080`, `true` and `1.5` as numbers and booleans; a variable's value is their text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _duration(value: Any) -> Any:
    return parse_duration(str(value)) if isinstance(value, str | int) else value


def _facts_only(value: str) -> str:
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(value) if field is not None]
    except ValueError:  # a lone brace
        raise ValueError("a lone `{` or `}`: write `{{` or `}}` for a brace") from None
    unknown = [field for field in fields if field not in FACTS]
    if unknown:
        raise ValueError(f"`{{{unknown[0]}}}` is not one of " + ", ".join(f"`{{{f}}}`" for f in FACTS)
                         + " (write `{{` for a brace)")
    return value


EnvValue = Annotated[str, BeforeValidator(_text), AfterValidator(_facts_only)]
Variable = Annotated[str, Field(pattern=VARIABLE.pattern, max_length=128)]
Timeout = Annotated[timedelta, BeforeValidator(_duration),
                    WithJsonSchema({"type": "string", "pattern": r"^\d+[smhd]$", "examples": ["10m"]})]


class DatabaseSpec(BaseModel):
    """A PostgreSQL database of the environment's own: empty, or a copy of `template`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    template: str | None = Field(None, max_length=63, description="A database to copy (CREATE DATABASE … TEMPLATE).")
    env: Variable = Field("DATABASE_URL", description="The variable the app gets the database's URL in.")


class AppConfig(BaseModel):
    """The whole file; every key optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    port: int | None = Field(None, ge=1, le=65535, description="The port the app listens on in its container.")
    health_check_path: str | None = Field(
        None, pattern=r"^/[!-~]*$", max_length=1024, description="The path that answers when the app is up.")
    env: dict[Variable, EnvValue] = Field(
        default_factory=dict, description="Variables; `{feature}`, `{url}`, `{commit}`, `{environment}` are "
        "replaced by the environment's own.")
    secrets: dict[Variable, str] = Field(
        default_factory=dict, description="Variables read at deploy time from SSM Parameter Store (a path) or "
        "Secrets Manager (`secretsmanager:NAME`); `{feature}` allowed.")
    database: DatabaseSpec | None = Field(None, description="A PostgreSQL database of the environment's own.")
    release: str | None = Field(
        None, min_length=1, max_length=4096, description="A command run once in the new image before it takes "
        "traffic (migrations).")
    release_timeout: Timeout = Field(timedelta(minutes=10), description="How long `release` may run, e.g. `10m`.")

    @field_validator("env", "secrets")
    @classmethod
    def _not_reserved(cls, variables: dict[str, str]) -> dict[str, str]:
        taken = sorted(RESERVED & set(variables))
        if taken:
            raise ValueError(f"{taken[0]} is set by deploybot itself; choose another name")
        return variables

    @field_validator("release_timeout")
    @classmethod
    def _bounded(cls, timeout: timedelta) -> timedelta:
        if not timedelta(seconds=10) <= timeout <= timedelta(hours=1):
            raise ValueError(f"{format_duration(timeout)} is outside 10s to 1h")
        return timeout

    def variables_named(self) -> set[str]:
        """Every variable the file gives the app (its database's URL included)."""
        return {*self.env, *self.secrets, *([self.database.env] if self.database else [])}


NO_CONFIG = AppConfig()


def render_env(env: Mapping[str, str], facts: Mapping[str, str]) -> dict[str, str]:
    """`env` with `{feature}`, `{url}`, … replaced by the environment's own facts (validated already)."""
    return {name: value.format_map(facts) for name, value in env.items()}


def facts_of(feature: str, url: str | None, commit: str, environment: str) -> dict[str, str]:
    return {"feature": feature, "url": url or "", "commit": commit, "environment": environment}


def parse(text: str | None, *, source: str = FILE) -> AppConfig:
    """The file's content (None: no file) as an AppConfig; AppConfigInvalid naming the line and the fix."""
    if text is None:
        return NO_CONFIG
    if len(text.encode()) > MAX_FILE_BYTES:
        raise AppConfigInvalid(f"{source} is larger than {MAX_FILE_BYTES // 1024} KB; keep it to what deploybot "
                               "reads (port, health_check_path, env, secrets, database, release).")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise AppConfigInvalid(f"{source}{where} is not valid YAML: {problem}.", details=_example()) from None
    if data is None:
        return NO_CONFIG
    if not isinstance(data, dict):
        raise AppConfigInvalid(f"{source} must be a mapping of keys (port, env, …), not a "
                               f"{type(data).__name__}.", details=_example())
    try:
        return AppConfig.model_validate(data)
    except ValidationError as error:
        problems = [_problem(node, issue, source) for issue in error.errors()]
        raise AppConfigInvalid(problems[0], details=[*problems[1:5], *_example()]) from None


def _problem(root: yaml.Node | None, issue: Mapping[str, Any], source: str) -> str:
    path = [part for part in issue["loc"]
            if not (isinstance(part, str) and (part.startswith("function-") or part == "[key]"))]
    line = _line_of(root, path)
    where = f"{source}, line {line}" if line else source
    key = ".".join(str(part) for part in path) or "the file"
    message = str(issue["msg"]).removeprefix("Value error, ")
    if issue["type"] == "extra_forbidden":
        message = "deploybot does not know this key; the keys are " + ", ".join(AppConfig.model_fields)
    elif issue["type"] == "string_pattern_mismatch" and path and path[0] in ("env", "secrets"):
        message = "a variable name is letters, digits and underscores, not starting with a digit"
    elif issue["type"] == "string_pattern_mismatch" and path == ["health_check_path"]:
        message = "write a path that starts with `/`, e.g. `/healthz`"
    return f"{where}: `{key}`: {message}."


def _line_of(node: yaml.Node | None, path: Sequence[str | int]) -> int | None:
    """The 1-based line of the value at `path` (or of the deepest part of it that exists)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if found is None:
                return line
            node, line = found[1], found[0].start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _example() -> list[str]:
    return ["A valid deploybot.yml, every key optional:", *EXAMPLE.splitlines()]


def json_schema() -> str:
    """The JSON Schema published in docs/ (editors can check a deploybot.yml against it)."""
    schema = AppConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "deploybot.yml"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
