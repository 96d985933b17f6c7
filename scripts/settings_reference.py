"""Write docs/settings.md, the settings reference, from the settings models (deployer/settings.py and
bot/settings.py): every setting's name, default and description, in groups.

    .venv/bin/python scripts/settings_reference.py          # rewrite docs/settings.md
    .venv/bin/python scripts/settings_reference.py --check  # exit 1 when it differs from the models

tests/test_settings_reference.py fails when the file is not what this script makes now. The models'
descriptions are the source; NOTES add what an operator needs beyond them, and CORRECTIONS stand in
for a description the code contradicts until the model's own is fixed.
"""
from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

from pydantic.fields import FieldInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.settings import SlackSettings  # noqa: E402  (after the path: run as a script from anywhere)
from deployer.durations import format_duration  # noqa: E402
from deployer.settings import PREFIX, Settings  # noqa: E402

TARGET = ROOT / "docs" / "settings.md"
COMMAND = ".venv/bin/python scripts/settings_reference.py"

GROUPS: list[tuple[str, str, list[str]]] = [
    ("Slack", "Slack's standard names, read by `deploybot serve` (and by `deploybot reap`, which tells the "
     "threads what it tore down when `SLACK_BOT_TOKEN` is set).",
     ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL", "PORT"]),
    ("What gets deployed, and where", "",
     ["DEPLOYBOT_PROVIDER", "DEPLOYBOT_GIT_URL", "DEPLOYBOT_DOCKERFILE", "DEPLOYBOT_APP_PORT",
      "DEPLOYBOT_ENV_PREFIX", "DEPLOYBOT_CHANNEL"]),
    ("Lifetimes, limits and permissions", "Durations are written `45s`, `90m`, `2h`, `3d`.",
     ["DEPLOYBOT_TTL", "DEPLOYBOT_MAX_TTL", "DEPLOYBOT_WARN_BEFORE", "DEPLOYBOT_EXTEND_STEP",
      "DEPLOYBOT_REAP_INTERVAL", "DEPLOYBOT_EXTEND_BY", "DEPLOYBOT_ADMINS", "DEPLOYBOT_MAX_ENVS"]),
    ("Sleep, office hours and restore", "What an environment costs while nobody needs it, and getting one back "
     "after its tear down: docs/operating.md, *Sleep and wake* and *Restore*.",
     ["DEPLOYBOT_OFFICE_HOURS", "DEPLOYBOT_OFFICE_HOURS_NOTICE", "DEPLOYBOT_DIGEST_AT",
      "DEPLOYBOT_RESTORE_WINDOW"]),
    ("The local provider", "Each environment is a container on the Docker engine of `DOCKER_HOST`.",
     ["DEPLOYBOT_PUBLIC_URL", "DEPLOYBOT_LOCAL_PORTS", "DEPLOYBOT_BIND_ADDRESS"]),
    ("URLs", "A name of its own for every environment (issue 21: being built).", [
     "DEPLOYBOT_DOMAIN", "DEPLOYBOT_HOSTED_ZONE_ID",
     "DEPLOYBOT_PROXY_HTTPS_PORT", "DEPLOYBOT_PROXY_HTTP_PORT", "DEPLOYBOT_PROXY_ADMIN", "DEPLOYBOT_PROXY_NETWORK",
     "DEPLOYBOT_ACCESS"]),
    ("The Beanstalk provider", "What the operator prepares once: docs/operating.md, *The AWS side*.",
     ["DEPLOYBOT_EB_APPLICATION", "DEPLOYBOT_EB_TEMPLATE", "DEPLOYBOT_S3_BUCKET", "DEPLOYBOT_EB_INSTANCE_TYPE",
      "DEPLOYBOT_INSTANCE_TYPES", "DEPLOYBOT_DOCKERRUN_TEMPLATE", "DEPLOYBOT_DOCKERRUN_ALLOW",
      "DEPLOYBOT_POLL_INTERVAL", "DEPLOYBOT_LAUNCH_TIMEOUT", "DEPLOYBOT_DEPLOY_TIMEOUT"]),
    ("Builds and images", "",
     ["DEPLOYBOT_ECR_REPOSITORY", "DEPLOYBOT_REGISTRY", "DEPLOYBOT_MAX_PARALLEL", "DEPLOYBOT_BUILD_DOCKER_HOST",
      "DEPLOYBOT_BUILD_DOCKER_CERT_PATH", "DEPLOYBOT_BUILD_NETWORK"]),
    ("The bot process and its store", "",
     ["DEPLOYBOT_STATE", "DEPLOYBOT_WORK_DIR", "DEPLOYBOT_HISTORY_DAYS", "DEPLOYBOT_CLAIM_TIMEOUT",
      "DEPLOYBOT_STOP_TIMEOUT", "DEPLOYBOT_ACK_PRIORITY", "DEPLOYBOT_LOG_FORMAT", "DEPLOYBOT_METRICS_TOKEN"]),
    ("A branch's deploybot.yml", "Secrets and databases a branch's deploybot.yml may ask for: docs/operating.md, "
     "*Secrets* and *Databases*.",
     ["DEPLOYBOT_SECRETS_PREFIX", "DEPLOYBOT_DATABASE_URL", "DEPLOYBOT_DATABASE_HOST"]),
    ("Webhooks and GitHub", "docs/operating.md, *Following the repository*.",
     ["DEPLOYBOT_GITHUB_WEBHOOK_SECRET", "DEPLOYBOT_GITLAB_WEBHOOK_TOKEN", "DEPLOYBOT_GITHUB_REPOSITORY",
      "DEPLOYBOT_GITHUB_TOKEN", "DEPLOYBOT_GITHUB_API_URL", "DEPLOYBOT_TEARDOWN_AFTER",
      "DEPLOYBOT_DEPLOY_PULL_REQUESTS", "DEPLOYBOT_DEPLOY_BRANCHES"]),
]
OTHER = "Other settings"  # where a setting new to the models lands until it is given a group above

# A default the model can't say by itself (it depends on other settings, or on the command).
DEFAULTS = {
    "SLACK_BOT_TOKEN": "required by `deploybot serve`",
    "SLACK_SIGNING_SECRET": "required over HTTP",
    "DEPLOYBOT_EB_APPLICATION": "required for `beanstalk`",
    "DEPLOYBOT_EB_TEMPLATE": "required for `beanstalk`",
    "DEPLOYBOT_S3_BUCKET": "required for `beanstalk`",
    "DEPLOYBOT_BIND_ADDRESS": "127.0.0.1 when `DEPLOYBOT_PUBLIC_URL` is localhost, else 0.0.0.0",
    "DEPLOYBOT_GITHUB_REPOSITORY": "derived from a github.com `DEPLOYBOT_GIT_URL`",
    "DEPLOYBOT_BUILD_DOCKER_HOST": "unset: `DOCKER_HOST`'s engine",
    "DEPLOYBOT_REGISTRY": "unset: ECR",
    "DEPLOYBOT_TEARDOWN_AFTER": "0 (at once)",
}

# Said in place of the model's description, which the code contradicts (fix the model, then drop the entry).
CORRECTIONS: dict[str, str] = {}  # none today: the models' own descriptions are true

# What an operator needs beyond the model's description.
NOTES = {
    "SLACK_BOT_TOKEN": "The *Bot User OAuth Token* under *OAuth & Permissions*.",
    "SLACK_SIGNING_SECRET": "*Basic Information → App Credentials*. A request with a wrong signature, or signed "
            "more than 5 minutes ago, gets 401.",
    "SLACK_APP_TOKEN": "Set, `deploybot serve` uses Socket Mode and needs no public URL; made under *Basic "
            "Information → App-Level Tokens* with the scope `connections:write`.",
    "DEPLOYBOT_GIT_URL": "The bot must be able to read it: credentials in an https URL, or the bot's SSH key.",
    "DEPLOYBOT_APP_PORT": "The local provider counts an environment as up once it answers HTTP there; the built-in "
            "Dockerrun publishes it on the instance's port 80.",
    "DEPLOYBOT_ENV_PREFIX": "Give each deploybot that shares an AWS account or a Docker host its own.",
    "DEPLOYBOT_CHANNEL": "Expiry warnings go to the environment's thread and, when this is set, here too. Unset, a "
            "warning goes to the thread only (to the owner's direct messages only when deploybot knows no thread "
            "for it); unreadable expiries and refused tear downs go to the owner's direct messages. Start-up checks "
            "that the bot is a member. Required by `DEPLOYBOT_DEPLOY_PULL_REQUESTS`.",
    "DEPLOYBOT_REAP_INTERVAL": "Each pass also tears down what has expired and cleans up after deploys.",
    "DEPLOYBOT_EXTEND_STEP": "An environment never has more than `DEPLOYBOT_MAX_TTL` left.",
    "DEPLOYBOT_EXTEND_BY": "The same rule decides who may **Keep**.",
    "DEPLOYBOT_ADMINS": "They may also tear down environments that belong to deploybot itself.",
    "DEPLOYBOT_MAX_ENVS": "The refusal lists the oldest environments.",
    "DEPLOYBOT_RESTORE_WINDOW": "A restore from a branch deleted or force-pushed more than about two weeks earlier "
            "may be refused: git may have dropped the commit by then.",
    "DEPLOYBOT_PUBLIC_URL": "An environment's URL is this and its port.",
    "DEPLOYBOT_LOCAL_PORTS": "A branch keeps its port across redeploys.",
    "DEPLOYBOT_EB_TEMPLATE": "deploybot overrides only the instance type (`aws:ec2:instances` `InstanceTypes`).",
    "DEPLOYBOT_EB_INSTANCE_TYPE": "Must be one of `DEPLOYBOT_INSTANCE_TYPES`.",
    "DEPLOYBOT_DOCKERRUN_TEMPLATE": "The built-in one is Dockerrun version 2, which only Beanstalk's ECS-based "
            "platform runs; on the Docker platform (Amazon Linux 2023) put a version 1 template in the repository "
            "(docs/operating.md, *The AWS side*).",
    "DEPLOYBOT_DOCKERRUN_ALLOW": "docs/security.md, *What a branch's Dockerrun template may ask for*.",
    "DEPLOYBOT_POLL_INTERVAL": "One `DescribeEnvironments` call for all environments in flight.",
    "DEPLOYBOT_DEPLOY_TIMEOUT": "Also how old an image no environment runs must be before a pass deletes it.",
    "DEPLOYBOT_REGISTRY": "deploybot deletes nothing there: use the registry's own garbage collection.",
    "DEPLOYBOT_BUILD_DOCKER_HOST": "Over ssh the builder needs the `docker` CLI. The local provider refuses it "
            "(docs/security.md, *Builds and the bot's credentials*).",
    "DEPLOYBOT_MAX_PARALLEL": "Per bot process; a deploy holds a slot only while its image builds and pushes.",
    "DEPLOYBOT_STATE": "`sqlite:///path` or `postgresql+psycopg://user:password@host/db` (when several bot processes "
            "on several machines share it). Its schema is upgraded at start-up; a store written by a newer "
            "deploybot is refused. The container image keeps it in its state volume.",
    "DEPLOYBOT_WORK_DIR": "Beside it, `git.lock` keeps apart the fetches of every process that uses it. The "
            "container image sets its own.",
    "DEPLOYBOT_CLAIM_TIMEOUT": "At least 3s. Every machine on a PostgreSQL store must keep its clock within a sixth "
            "of it of the server's.",
    "DEPLOYBOT_ACK_PRIORITY": "docs/internals.md, *Acks ahead of builds*.",
    "DEPLOYBOT_METRICS_TOKEN": "Other machines get 403 without it.",
    "DEPLOYBOT_DEPLOY_PULL_REQUESTS": "Needs a webhook secret or token too. Pushes alone never create an "
            "environment.",
}


def names() -> dict[str, FieldInfo]:
    """Every setting by the name it is read under."""
    fields = {field.validation_alias.choices[0]: field for field in SlackSettings.model_fields.values()}
    fields |= {PREFIX + name.upper(): field for name, field in Settings.model_fields.items()}
    return fields


def default_of(name: str, field: FieldInfo) -> str:
    if name in DEFAULTS:
        return DEFAULTS[name]
    if field.is_required():
        return "required"
    value = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
    if value is None or value == "" or value == []:
        return "unset"
    if isinstance(value, timedelta):
        value = format_duration(value) if value else "0"
    elif isinstance(value, list):
        value = ",".join(value)
    elif isinstance(value, bool):
        value = str(value).lower()
    return f"`{value}`"


def description_of(name: str, field: FieldInfo) -> str:
    text = CORRECTIONS.get(name) or field.description or ""
    note = NOTES.get(name)
    return f"{text} {note}" if note else text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    fields = names()
    unknown = (set(DEFAULTS) | set(CORRECTIONS) | set(NOTES) | {n for _, _, g in GROUPS for n in g}) - set(fields)
    if unknown:
        raise SystemExit(f"settings_reference: no such setting: {', '.join(sorted(unknown))}")
    grouped = [n for _, _, group in GROUPS for n in group]
    groups = GROUPS + [(OTHER, "", [n for n in fields if n not in grouped])]
    lines = [
        "# Settings",
        "",
        f"<!-- Generated by `{COMMAND}` from deployer/settings.py and bot/settings.py:",
        "edit those (or the script's notes), then run it. tests/test_settings_reference.py fails when this",
        "file is stale. -->",
        "",
        "deploybot is configured by environment variables: its own are `DEPLOYBOT_*`, Slack's keep their standard",
        "names. They are checked at start-up: a wrong or missing one stops it with a message naming it (every problem",
        "at once), and so does a misspelt name (`DEPLOYBOT_PROVIDR`), naming the setting meant; other unknown",
        "`DEPLOYBOT_` variables are named in the log and ignored. `.env.example` lists them all with their defaults.",
        "",
        "**A `.env` file** in the directory deploybot starts in is read for these settings only: AWS and Docker",
        "variables written there (`AWS_REGION`, `AWS_PROFILE`, `DOCKER_HOST`, …) are ignored by deploybot itself.",
        "Export those in its environment instead. (`docker run --env-file .env` and systemd's `EnvironmentFile=`",
        "put every line of the file into the environment, so there they do count.)",
        "",
        "AWS is configured as boto3 reads it (`AWS_REGION`, `AWS_PROFILE` and other profiles, `AWS_ENDPOINT_URL`, an",
        "instance role); Docker as its SDK reads it (`DOCKER_HOST`).",
        "",
    ]
    for title, intro, members in groups:
        if not members:
            continue
        lines += [f"## {title}", ""] + ([intro, ""] if intro else [])
        lines += ["| Setting | Default | What it does |", "|---|---|---|"]
        for name in members:
            field = fields[name]
            lines.append(f"| `{name}` | {_cell(default_of(name, field))} | {_cell(description_of(name, field))} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write docs/settings.md from the settings models.")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not TARGET.is_file() or TARGET.read_text() != text:
            print(f"{TARGET.relative_to(ROOT)} is stale: run {COMMAND}", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
