"""Slash-command text → a typed command, or a UsageError carrying the usage. Pure.

The text is as Slack sends it, with `&`, `<` and `>` escaped; each parser decodes it first.
"""
from __future__ import annotations

import difflib
import shlex
from dataclasses import dataclass
from datetime import timedelta

from bot.mrkdwn import unescape
from deployer.durations import parse_duration
from deployer.overrides import Changes, name_problem, value_problem

def deploy_usage(instance_types: bool = True, passwords: bool = False) -> str:
    """`/deploy`'s usage; `--instance` only where environments have instances (Beanstalk): the local
    provider refuses it (deployer/request.py) and its usage does not offer it. `--new-password` only where
    environments have one (DEPLOYBOT_ACCESS=basic); elsewhere it is refused the same way."""
    instance = " [--instance t3.small]" if instance_types else ""
    password = " [--new-password]" if passwords else ""
    return (
        f"Usage: `/deploy BRANCH [--ttl 3d]{instance} [--set KEY=VALUE] [--unset KEY]{password}`\n"
        "• `BRANCH`: the git branch to deploy to its own environment\n"
        "• `--ttl`: how long the environment lives before deploybot tears it down (45m, 2h, 3d)\n"
        + ("• `--instance`: the EC2 instance type its environment runs on\n" if instance_types else "")
        + "• `--set KEY=VALUE`: a variable for this environment only, over deploybot.yml's `env` and kept for its "
        "later deploys (pushes too); repeat it for more, quote a value with spaces: `--set GREETING=\"hi there\"`\n"
        "• `--unset KEY`: drop a variable set with `--set`\n"
        + ("• `--new-password`: a new password for the environment, said in the deploy's thread once it is "
           "ready; the old one stops working\n" if passwords else "")
        + "`/deploy help` shows this."
    )


DEPLOY_USAGE = deploy_usage()
LOCAL_DEPLOY_USAGE = deploy_usage(instance_types=False)
_OPTIONS = ("--ttl", "--instance")  # --instance also on the local provider, to be refused with its reason
_REPEATABLE = ("--set", "--unset")
_FLAGS = ("--new-password",)  # also where environments have no password, to be refused with its reason
# Slack clients may turn typed quotes into typographic ones.
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})


class UsageError(Exception):
    def __init__(self, problem: str, usage: str = DEPLOY_USAGE) -> None:
        super().__init__(problem)
        self.problem = problem
        self.usage = usage


@dataclass(frozen=True)
class DeployCommand:
    feature: str
    ttl: timedelta | None = None
    instance_type: str | None = None
    overrides: Changes = ()  # --set KEY=VALUE, --unset KEY (None), in order
    new_password: bool = False  # --new-password


@dataclass(frozen=True)
class HelpCommand:
    usage: str = DEPLOY_USAGE


def parse_deploy(text: str, usage: str = DEPLOY_USAGE) -> DeployCommand | HelpCommand:
    """`usage` is the provider's (`deploy_usage`), for help and for every usage error."""
    try:
        return _parse_deploy(text, usage)
    except UsageError as error:
        raise UsageError(error.problem, usage) from None


def _parse_deploy(text: str, usage: str) -> DeployCommand | HelpCommand:
    words = _words(unescape(text))
    if not words:
        raise UsageError("Tell me which branch to deploy.")
    if words[0] in ("help", "--help", "-h"):
        return HelpCommand(usage)
    positional, options, changes = _split(words)
    if len(positional) != 1:
        raise UsageError(f"Give exactly one branch (got {len(positional)}: {' '.join(positional) or 'none'}).")
    ttl = _duration(options["--ttl"]) if "--ttl" in options else None
    return DeployCommand(positional[0], ttl, options.get("--instance"), tuple(changes),
                         new_password="--new-password" in options)


def _words(text: str) -> list[str]:
    """Words as a shell splits them, so that a quoted `--set` value keeps its spaces."""
    try:
        return shlex.split(text.translate(_QUOTES))
    except ValueError:
        raise UsageError("A quote is not closed: quote a whole value, e.g. `--set GREETING=\"hi there\"`.") from None


def _split(words: list[str]) -> tuple[list[str], dict[str, str], list[tuple[str, str | None]]]:
    positional: list[str] = []
    options: dict[str, str] = {}
    changes: list[tuple[str, str | None]] = []
    queue = list(words)
    while queue:
        word = queue.pop(0)
        if not word.startswith("--"):
            positional.append(word)
            continue
        name, equals, value = word.partition("=")
        if name not in (*_OPTIONS, *_REPEATABLE, *_FLAGS):
            raise UsageError(f"Unknown option `{name}`.{_suggest(name)}")
        if name in _FLAGS:
            if equals:
                raise UsageError(f"`{name}` takes no value (got `{word}`).")
        elif not value:
            if not queue or queue[0].startswith("--"):
                raise UsageError(f"`{name}` needs a value" + (" (`--set KEY=VALUE`)." if name == "--set" else "."))
            value = queue.pop(0)
        if name in _REPEATABLE:
            changes.append(_change(name, value))
            continue
        if name in options:
            raise UsageError(f"`{name}` is given twice.")
        options[name] = value
    return positional, options, changes


def _change(option: str, text: str) -> tuple[str, str | None]:
    """`--set KEY=VALUE` as (KEY, VALUE); `--unset KEY` as (KEY, None)."""
    if option == "--unset":
        name, value = text, None
        if "=" in text:
            raise UsageError(f"`--unset` takes a name only (got `{text}`); `--set {text}` sets it.")
    else:
        name, equals, value = text.partition("=")
        if not equals:
            raise UsageError(f"`--set` takes `KEY=VALUE` (got `{text}`); `--unset {text}` drops it.")
    problem = name_problem(name) or (value_problem(name, value) if value is not None else None)
    if problem:
        raise UsageError(f"`{option}`: {problem}.")
    return name, value


def _suggest(name: str) -> str:
    close = difflib.get_close_matches(name, (*_OPTIONS, *_REPEATABLE, *_FLAGS), n=1)
    return f" Did you mean `{close[0]}`?" if close else ""


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"--ttl: {exc}.") from None


ENVS_USAGE = (
    "Usage: `/envs [mine]`\n"
    "• `/envs`: deploybot's live environments, with buttons to extend, redeploy, read the logs of or tear "
    "them down\n"
    "• `/envs mine`: only the ones you own\n"
    "`/envs help` shows this."
)


@dataclass(frozen=True)
class EnvsCommand:
    mine: bool = False


def parse_envs(text: str) -> EnvsCommand | HelpCommand:
    text = unescape(text)
    words = text.lower().split()
    if not words:
        return EnvsCommand()
    if words == ["mine"]:
        return EnvsCommand(mine=True)
    if words[0] in ("help", "--help", "-h"):
        return HelpCommand(ENVS_USAGE)
    close = difflib.get_close_matches(words[0], ["mine", "help"], n=1)
    hint = f" Did you mean `{close[0]}`?" if close else ""
    raise UsageError(f"`/envs` takes `mine` or nothing (got `{' '.join(text.split())}`).{hint}", ENVS_USAGE)
