"""Slash-command text → a typed command, or a UsageError carrying the usage. Pure.

The text is as Slack sends it, with `&`, `<` and `>` escaped; each parser decodes it first.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import timedelta

from bot.mrkdwn import unescape
from deployer.durations import parse_duration

def deploy_usage(instance_types: bool = True) -> str:
    """`/deploy`'s usage; `--instance` only where environments have instances (Beanstalk): the local
    provider refuses it (deployer/request.py) and its usage does not offer it."""
    instance = " [--instance t3.small]" if instance_types else ""
    return (
        f"Usage: `/deploy BRANCH [--ttl 3d]{instance}`\n"
        "• `BRANCH`: the git branch to deploy to its own environment\n"
        "• `--ttl`: how long the environment lives before deploybot tears it down (45m, 2h, 3d)\n"
        + ("• `--instance`: the EC2 instance type its environment runs on\n" if instance_types else "")
        + "`/deploy help` shows this."
    )


DEPLOY_USAGE = deploy_usage()
LOCAL_DEPLOY_USAGE = deploy_usage(instance_types=False)
_OPTIONS = ("--ttl", "--instance")  # --instance also on the local provider, to be refused with its reason


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
    words = unescape(text).split()
    if not words:
        raise UsageError("Tell me which branch to deploy.")
    if words[0] in ("help", "--help", "-h"):
        return HelpCommand(usage)
    positional, options = _split(words)
    if len(positional) != 1:
        raise UsageError(f"Give exactly one branch (got {len(positional)}: {' '.join(positional) or 'none'}).")
    ttl = _duration(options["--ttl"]) if "--ttl" in options else None
    return DeployCommand(positional[0], ttl, options.get("--instance"))


def _split(words: list[str]) -> tuple[list[str], dict[str, str]]:
    positional: list[str] = []
    options: dict[str, str] = {}
    queue = list(words)
    while queue:
        word = queue.pop(0)
        if not word.startswith("--"):
            positional.append(word)
            continue
        name, _, value = word.partition("=")
        if name not in _OPTIONS:
            raise UsageError(f"Unknown option `{name}`.{_suggest(name)}")
        if not value:
            if not queue or queue[0].startswith("--"):
                raise UsageError(f"`{name}` needs a value.")
            value = queue.pop(0)
        if name in options:
            raise UsageError(f"`{name}` is given twice.")
        options[name] = value
    return positional, options


def _suggest(name: str) -> str:
    close = difflib.get_close_matches(name, _OPTIONS, n=1)
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
