"""deploybot's own settings: `DEPLOYBOT_*` environment variables (or a `.env` file).

Loaded once at the entry point and passed down. A wrong or missing setting stops
start-up with a message that names it (see `load_settings`).
"""
from __future__ import annotations

import difflib
import ipaddress
import logging
import os
import re
from collections.abc import Iterable
from datetime import time, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, field_validator, model_validator
from dotenv import dotenv_values
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from deployer.lifecycle.office_hours import OfficeHours
from deployer.durations import format_duration, parse_duration
from deployer.errors import ConfigError
from deployer.repo_hosts.webhooks import github_repository

log = logging.getLogger(__name__)
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
PREFIX = "DEPLOYBOT_"
LOOPBACK = {"localhost", "127.0.0.1", "::1"}
NETWORK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # a Docker network's name; no `container:<id>`
CERT_FILES = ("ca.pem", "cert.pem", "key.pem")  # DOCKER_CERT_PATH's layout


# How `deploybot serve` takes its place in the queue for a CPU (bot/priority.py).
AckPriority = Literal["auto", "realtime", "normal"]


def _split_list(value: object) -> object:
    if value is None:  # `DEPLOYBOT_ADMINS=` (as .env.example has it) reads as unset: an empty list
        return []
    return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value


CommaList = Annotated[list[str], NoDecode, BeforeValidator(_split_list)]


def _zero_or_duration(value: object) -> object:
    """`0` needs no unit: it means at once."""
    return "0s" if isinstance(value, str) and value.strip() == "0" else value


ZeroOrDuration = Annotated[timedelta, BeforeValidator(parse_duration), BeforeValidator(_zero_or_duration)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_file=".env", extra="ignore", env_parse_none_str=""
    )

    provider: Literal["local", "beanstalk"] = Field(
        "local",
        description="Where environments run: `local` (containers on the Docker host) or `beanstalk`.",
    )
    git_url: str = Field(description="The application's repository: anything git can clone, file:// included.")
    dockerfile: str = Field("Dockerfile", description="Path of the Dockerfile inside the repository.")
    dockerrun_template: str = Field(
        "Dockerrun.template.json",
        description="Path of the Dockerrun template inside the repository; a built-in one is used when absent.",
    )
    dockerrun_allow: CommaList = Field(
        default_factory=list,
        description="Beanstalk provider: keys a branch's Dockerrun template may use beyond the safe ones "
        "(comma-separated, e.g. `Volumes,privileged`; `containers` allows more than one container); each can give "
        "whoever pushes a branch the instance it runs on. The image is always deploybot's own.",
    )
    app_port: int = Field(8080, ge=1, le=65535, description="Port the application listens on in its container.")

    eb_application: str | None = Field(None, description="Elastic Beanstalk application that holds the environments.")
    eb_template: str | None = Field(None, description="Saved configuration new environments are created from.")
    eb_instance_type: str = Field("t3.small", description="Default instance type of a feature environment.")
    instance_types: CommaList = Field(
        default_factory=lambda: ["t3.micro", "t3.small", "t3.medium"],
        description="Instance types a user may choose with --instance (comma-separated).",
    )
    env_prefix: str = Field("", description="Prefix for environment names, e.g. `myapp-`.")
    public_url: str = Field(
        "http://localhost", description="Local provider: the host part of environment URLs (scheme and host)."
    )
    local_ports: str = Field("20000-20999", description="Local provider: ports environments are published on.")
    domain: str | None = Field(
        None, description="A domain of the team's (e.g. `preview.example.com`): every environment is announced "
        "as `https://<branch's label>.<domain>`, the same on both providers; unset, environments keep the "
        "provider's own URLs.",
    )
    hosted_zone_id: str | None = Field(
        None, description="Beanstalk provider with DEPLOYBOT_DOMAIN: the Route 53 hosted zone (its id, e.g. "
        "`Z0123456789ABC`) of the domain or a parent of it, where each environment's record is written.",
    )
    access: str = Field(
        "public", description="Who may open an environment: `public` (anyone); with DEPLOYBOT_DOMAIN on the local "
        "provider `basic`, a user and a generated password per environment, shown only in its thread; or a "
        "comma-separated list of CIDRs (e.g. `10.0.0.0/8,203.0.113.7/32`) outside which the local provider's proxy "
        "answers 403 and Beanstalk's load balancers (a security group of deploybot's) don't answer.",
    )
    bind_address: str | None = Field(
        None,
        description="Local provider: the host address environments are published on, with no access control of "
        "their own; default 127.0.0.1 when DEPLOYBOT_PUBLIC_URL is localhost, else 0.0.0.0 (every interface).",
    )
    proxy_https_port: int = Field(
        443, ge=1, le=65535, description="Local provider with DEPLOYBOT_DOMAIN: the port the proxy (Caddy) serves "
        "every environment on over HTTPS; URLs carry it when it is not 443.",
    )
    proxy_http_port: int = Field(
        80, ge=1, le=65535, description="Local provider with DEPLOYBOT_DOMAIN: the proxy's plain HTTP port, which "
        "redirects to HTTPS.",
    )
    proxy_admin: str = Field(
        "http://127.0.0.1:2019", description="Local provider with DEPLOYBOT_DOMAIN: the admin API of the Caddy "
        "deploybot drives (its routes are replaced from the live containers at every change).",
    )
    proxy_network: str = Field(
        "deploybot", description="Local provider with DEPLOYBOT_DOMAIN: the Docker network the environments join "
        "(created if missing); they publish no port of the host.",
    )

    @property
    def published_on(self) -> str:
        """Where the local provider publishes environments (see `bind_address`)."""
        if self.bind_address:
            return self.bind_address
        return "127.0.0.1" if urlsplit(self.public_url).hostname in LOOPBACK else "0.0.0.0"
    s3_bucket: str | None = Field(None, description="S3 bucket for source bundles.")
    build_docker_host: str | None = Field(
        None,
        description="Beanstalk provider: the Docker engine that builds and pushes images instead of DOCKER_HOST's, "
        "e.g. a machine without the bot's AWS credentials: `ssh://user@builder` (with the ssh client's keys and "
        "config) or `tcp://builder:2376` with DEPLOYBOT_BUILD_DOCKER_CERT_PATH.",
    )
    build_docker_cert_path: Path | None = Field(
        None,
        description="Directory with ca.pem, cert.pem and key.pem for a tcp:// DEPLOYBOT_BUILD_DOCKER_HOST: "
        "TLS both ways, the engine's certificate checked against ca.pem.",
    )
    build_network: str = Field(
        "default",
        description="Network a branch's RUN steps get on the build engine: `default` (its bridge, which reaches "
        "whatever its host reaches, the instance metadata service included), `none` (no network: builds that "
        "download fail), or the name of a network made on that engine, checked at start-up (docs/security.md, "
        "*Builds and the bot's credentials*). `host` is refused.",
    )
    ecr_repository: str = Field(
        "deploybot",
        description="Image repository name: in ECR, or in DEPLOYBOT_REGISTRY when that is set; the local provider "
        "keeps images in deploybot-local/<name>, which also marks this deploybot's containers.",
    )
    registry: str | None = Field(
        None, description="Push to this registry v2 host (e.g. `registry.example.com:5000`) instead of ECR."
    )

    channel: str | None = Field(None, description="Slack channel for notices that belong to no command.")
    ttl: Duration = Field(
        timedelta(days=1), description="Default lifetime of an environment: 10m to DEPLOYBOT_MAX_TTL."
    )
    max_ttl: Duration = Field(timedelta(days=7), description="Longest lifetime a user may ask for (at least 10m).")
    poll_interval: Duration = Field(timedelta(seconds=10), description="How often Beanstalk is polled while waiting.")
    launch_timeout: Duration = Field(timedelta(minutes=30), description="How long to wait for a new environment.")
    deploy_timeout: Duration = Field(timedelta(minutes=20), description="How long to wait for a deployment.")
    max_parallel: int = Field(
        8, ge=1, description="Image builds that run at once; deploys waiting for AWS hold none, so many more "
        "deploys of different branches run at once, each told how many builds are ahead of it.")
    max_envs: int = Field(20, ge=1, description="Most live feature environments at once; a deploy past it is refused.")
    office_hours: str | None = Field(
        None, description="When environments are needed, e.g. `Mon-Fri 08:00-20:00 Europe/Berlin` (days, hours, an "
        "IANA time zone): at the end they are put to sleep (a notice with **Keep awake tonight** comes "
        "DEPLOYBOT_OFFICE_HOURS_NOTICE before), at the start those it put to sleep wake. Unset: nothing sleeps by "
        "itself.",
    )
    office_hours_notice: Duration = Field(
        timedelta(minutes=30), description="How long before office hours end the channel hears which environments "
        "go to sleep, each with a **Keep awake tonight** button.",
    )
    digest_at: str | None = Field(
        None, description="When DEPLOYBOT_CHANNEL gets the daily digest (`HH:MM`, in DEPLOYBOT_OFFICE_HOURS' time "
        "zone, else UTC): live and sleeping environments, their estimated cost yesterday and this month, what "
        "sleeping saved, what expires today (with Extend), the oldest. Unset: no digest.",
    )
    restore_window: ZeroOrDuration = Field(
        timedelta(days=7), description="How long after its tear down (or reaping) an environment can be restored "
        "(its card's **Restore**, `deploybot restore`): its last commit deployed again with its settings, owner and "
        "thread. What that needs is kept meanwhile (its Beanstalk application version and S3 bundle, its image, its "
        "database); each reaper pass deletes it once the window is over. 0 = no restore: all of it goes at the tear "
        "down. Beanstalk rebuilds a terminated environment under its name and URL for 42 days; a longer window "
        "restores into a new environment from the kept version. At most DEPLOYBOT_HISTORY_DAYS.",
    )
    warn_before: Duration = Field(
        timedelta(hours=2),
        description="How long before expiry the owner is warned: shorter than DEPLOYBOT_TTL, longer than "
        "DEPLOYBOT_REAP_INTERVAL.",
    )
    extend_step: Duration = Field(timedelta(days=1), description="How much one Extend adds.")
    reap_interval: Duration = Field(
        timedelta(minutes=5), description="How often expiries are checked and warned about."
    )
    extend_by: Literal["anyone", "owner"] = Field(
        "anyone", description="Who may extend: `anyone` in the channel, or only the `owner` and the admins."
    )
    admins: CommaList = Field(
        default_factory=list, description="Slack user or user-group IDs that may tear down any environment."
    )
    state: str = Field(
        "sqlite:///~/.cache/deploybot/state.db",
        description="Where deploybot remembers threads, warnings and history: a SQLAlchemy URL.",
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as `text`, or `json` (one object a line, with the deploy's feature, "
        "environment, deploy id and Slack thread on every line of a deploy).",
    )
    ack_priority: AckPriority = Field(
        "auto", description="How `deploybot serve` answers Slack on a busy machine: `auto` runs its serving process "
        "at real-time priority 1, ahead of builds, when allowed (LimitRTPRIO=1, `docker run --ulimit rtprio=1`, "
        "CAP_SYS_NICE) and at normal priority otherwise; `realtime` refuses to start without it; `normal` never asks.",
    )
    claim_timeout: Duration = Field(
        timedelta(seconds=30),
        description="How long a bot process that stopped answering (crashed, lost its machine) keeps its claims on "
        "environments; then another process resumes its deploys and takes over its work.",
    )
    metrics_token: SecretStr | None = Field(
        None, description="A bearer token that lets Prometheus scrape GET /metrics from another machine "
        "(Authorization: Bearer …); unset, /metrics answers on this machine only.",
    )
    history_days: int = Field(
        90, ge=1, description="How many days deploybot keeps finished deploys, the audit trail (`deploybot history`), "
        "environments torn down and webhook deliveries; each reaper pass removes what is older.",
    )
    stop_timeout: Duration = Field(
        timedelta(seconds=5),
        description="How long `deploybot serve`, told to stop (SIGTERM, Ctrl-C), gives running deploys to reach a "
        "safe point; then it hands them back and exits, and the next start resumes them. Keep it inside "
        "`docker stop --time` (10s by default) and systemd's `TimeoutStopSec` (30s in docs/deploybot.service), "
        "with a few seconds to spare.",
    )
    database_url: SecretStr | None = Field(
        None, description="The admin connection to the PostgreSQL server where environments whose deploybot.yml "
        "asks for a `database` get one each: `postgresql://user:password@host:port/db`, a role with CREATEDB and "
        "CREATEROLE (not a superuser). Unset, deploys that ask for a database are refused. A secret: redacted "
        "wherever deploybot shows text.",
    )
    database_host: str | None = Field(
        None, description="Where apps reach DEPLOYBOT_DATABASE_URL's server when that differs from its host, as "
        "`host` or `host:port`: `host.docker.internal` for local containers, the RDS endpoint for Beanstalk. "
        "It goes into each app's URL; deploybot itself always uses DEPLOYBOT_DATABASE_URL's.",
    )
    work_dir: Path = Field(Path("~/.cache/deploybot"), description="Where the git cache lives.")
    github_webhook_secret: SecretStr | None = Field(
        None, description="The secret of the GitHub webhook (POST /hooks/github verifies each delivery with it); "
        "unset, that endpoint answers 404.",
    )
    gitlab_webhook_token: SecretStr | None = Field(
        None, description="The secret token of the GitLab webhook (POST /hooks/gitlab); unset, that endpoint "
        "answers 404.",
    )
    github_repository: str | None = Field(
        None, description="The GitHub repository (`owner/name`) whose webhooks are followed and where deployments "
        "are reported; derived from DEPLOYBOT_GIT_URL when that is on github.com. Deliveries about other "
        "repositories are ignored.",
    )
    github_token: SecretStr | None = Field(
        None, description="A GitHub token that may write deployments to DEPLOYBOT_GITHUB_REPOSITORY (fine-grained: "
        "Deployments: Read and write): each deploy then shows on its pull request, with its URL; unset, GitHub "
        "is told nothing.",
    )
    github_api_url: str = Field(
        "https://api.github.com", description="The GitHub REST API: https://HOST/api/v3 for GitHub Enterprise Server.",
    )
    teardown_after: ZeroOrDuration = Field(
        timedelta(0), description="How long after its branch is deleted or its pull request merged or closed an "
        "environment is torn down: 0 = at once; longer, its thread offers a Keep button meanwhile.",
    )
    deploy_pull_requests: bool = Field(
        False, description="Deploy a pull (merge) request's branch, matching DEPLOYBOT_DEPLOY_BRANCHES, when the "
        "request is opened, reopened or gets new commits and the branch has no environment; its thread goes to "
        "DEPLOYBOT_CHANNEL, mentioning the Slack user whose e-mail is the commit author's (scope users:read.email).",
    )
    deploy_branches: CommaList = Field(
        default_factory=lambda: ["*"],
        description="With DEPLOYBOT_DEPLOY_PULL_REQUESTS, the branches deployed, as globs (comma-separated) matched "
        "against the whole name, case-sensitively; `*` matches `/` too: `feature/*` takes `feature/a/b`.",
    )

    secrets_prefix: str | None = Field(
        None, description="The only SSM parameters and Secrets Manager secrets a deploybot.yml's `secrets` may name: "
        "those whose names start with this (e.g. `/deploybot/`; a leading `/` is not counted, and the final `/` keeps "
        "`/deploybot-other/` out), checked before any AWS call. Unset, deploys that ask for "
        "secrets are refused. Keep docs/iam-policy.json's secrets statement scoped to the same path.",
    )

    @property
    def followed_github_repository(self) -> str | None:
        """`owner/name` of the repository whose GitHub webhooks are followed."""
        return self.github_repository or github_repository(self.git_url)

    @field_validator("env_prefix", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return "" if value is None else value  # `DEPLOYBOT_ENV_PREFIX=` reads as unset: no prefix

    @field_validator("github_repository")
    @classmethod
    def _owner_and_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[\w.-]+/[\w.-]+", value):
            raise ValueError(f"`{value}` is not owner/name, like octo-org/shop")
        return value

    @field_validator("github_api_url", "proxy_admin")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).hostname:
            raise ValueError(f"must be an http(s) URL, like https://api.github.com (got {value!r})")
        return value

    @field_validator("work_dir", "build_docker_cert_path")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value and value.expanduser()

    @field_validator("proxy_network")
    @classmethod
    def _network_name(cls, value: str) -> str:
        if not NETWORK_NAME.fullmatch(value):
            raise ValueError(f"must be a Docker network's name (got {value!r})")
        return value

    @field_validator("build_network")
    @classmethod
    def _build_network(cls, value: str) -> str:
        if value == "host":
            raise ValueError("`host` would give a branch's build steps the host's own network, where the bot's "
                             "credentials are within reach; use `default`, `none` or a network of its own")
        if not NETWORK_NAME.fullmatch(value):
            raise ValueError(f"must be `default`, `none` or the name of a Docker network (got {value!r})")
        return value

    @field_validator("secrets_prefix")
    @classmethod
    def _plain_prefix(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9/_.+=@-]+", value):
            raise ValueError(f"must be the start of parameter names, like /deploybot/, with no wildcard "
                             f"(got {value!r})")
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        scheme = value.get_secret_value().partition("://")[0] if value else "postgresql"
        if scheme.split("+")[0] not in ("postgresql", "postgres"):  # the value is never repeated: it holds a password
            raise ValueError("must be a PostgreSQL URL, like postgresql://user:password@host:5432/postgres")
        return value

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip(".").lower()
        labels = value.split(".")
        if len(labels) < 2 or len(value) > 253 - 64 or not all(
                re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", label) for label in labels):
            raise ValueError(f"must be a domain name like preview.example.com (got {value!r})")
        return value

    @field_validator("access")
    @classmethod
    def _access(cls, value: str) -> str:
        value = value.strip()
        if value.lower() in ("", "public"):
            return "public"
        if value.lower() == "basic":
            return "basic"
        ranges = []
        for part in filter(None, (p.strip() for p in value.split(","))):
            try:
                ranges.append(str(ipaddress.ip_network(part, strict=False)))
            except ValueError:
                raise ValueError(f"must be `public` or a comma-separated list of CIDRs like 10.0.0.0/8 "
                                 f"(`{part}` is not one)") from None
        return ",".join(ranges)

    @property
    def allowed_networks(self) -> tuple[str, ...]:
        """DEPLOYBOT_ACCESS's CIDRs; empty when environments are public."""
        return () if self.access in ("public", "basic") else tuple(self.access.split(","))

    @field_validator("database_host")
    @classmethod
    def _host_and_port(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(:\d{1,5})?", value):
            raise ValueError(f"must be `host` or `host:port`, like host.docker.internal:5432 (got {value!r})")
        return value

    @field_validator("build_docker_host")
    @classmethod
    def _build_host(cls, value: str | None) -> str | None:
        if value and not value.startswith(("ssh://", "tcp://", "unix://")):
            raise ValueError(f"must start with ssh://, tcp:// or unix:// (got {value!r})")
        return value

    @field_validator("office_hours")
    @classmethod
    def _office_hours(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        OfficeHours.parse(value)  # OfficeHoursError is a ValueError: said with the setting's name
        return value.strip()

    @field_validator("digest_at")
    @classmethod
    def _digest_at(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", value.strip()):
            raise ValueError(f"must be a time of day as HH:MM, like 09:00 (got {value!r})")
        return value.strip()

    @property
    def digest_time(self) -> time | None:
        if not self.digest_at:
            return None
        hours, minutes = self.digest_at.split(":")
        return time(int(hours), int(minutes))

    @property
    def hours(self) -> OfficeHours | None:
        return OfficeHours.parse(self.office_hours) if self.office_hours else None

    @field_validator("poll_interval", "launch_timeout", "deploy_timeout", "extend_step", "reap_interval")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        # A zero timeout fails every deploy, a zero interval spins, a zero step extends nothing.
        if value <= timedelta(0):
            raise ValueError(f"must be longer than 0s (got {format_duration(value)})")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "Settings":
        problems = []
        if self.provider == "beanstalk":
            missing = [n for n in ("eb_application", "eb_template", "s3_bucket") if not getattr(self, n)]
            if missing:
                problems.append(f"the beanstalk provider needs {', '.join(PREFIX + n.upper() for n in missing)}")
            if self.domain and not self.hosted_zone_id:
                problems.append(f"{PREFIX}DOMAIN on the beanstalk provider needs {PREFIX}HOSTED_ZONE_ID: the Route 53 "
                                "hosted zone that holds it, where each environment's record is written")
        if self.access == "basic" and self.provider == "beanstalk":
            problems.append(f"{PREFIX}ACCESS=basic is not available on the beanstalk provider: its load balancers "
                            "can't ask for a password (docs/operating.md, *Who may open an environment*); list the "
                            f"networks that may open environments instead ({PREFIX}ACCESS=10.0.0.0/8,…), or use public")
        elif self.access != "public" and self.provider == "local" and not self.domain:
            problems.append(f"{PREFIX}ACCESS needs {PREFIX}DOMAIN on the local provider: only the proxy in front of "
                            "the host names can gate them; unset it, or set the domain")
        if self.digest_at and not self.channel:
            problems.append(f"{PREFIX}DIGEST_AT needs {PREFIX}CHANNEL: the channel the digest is posted in")
        if self.eb_instance_type not in self.instance_types:
            problems.append(f"{PREFIX}EB_INSTANCE_TYPE={self.eb_instance_type} is not in {PREFIX}INSTANCE_TYPES")
        if self.restore_window > timedelta(days=self.history_days):
            problems.append(f"{PREFIX}RESTORE_WINDOW ({format_duration(self.restore_window)}) must not be longer than "
                            f"{PREFIX}HISTORY_DAYS ({self.history_days} days): the store forgets environments torn "
                            "down before that, and with them what a restore would deploy")
        if self.claim_timeout < timedelta(seconds=3):
            problems.append(f"{PREFIX}CLAIM_TIMEOUT must be at least 3s (the heartbeat renews claims every third)")
        problems += self._lifetime_problems() + self._build_engine_problems() + self._pull_request_problems()
        if self.github_webhook_secret and not self.followed_github_repository:
            problems.append(f"{PREFIX}GITHUB_REPOSITORY must name the repository (owner/name) whose webhooks to "
                            f"follow: {PREFIX}GIT_URL is not on github.com, so it can't be derived")
        if self.github_token and not self.followed_github_repository:
            problems.append(f"{PREFIX}GITHUB_REPOSITORY must name the repository (owner/name) to report deployments "
                            f"to: {PREFIX}GIT_URL is not on github.com, so it can't be derived")
        if problems:
            raise ValueError("\n".join(problems))  # one line each (see describe_errors)
        return self

    def _lifetime_problems(self) -> list[str]:
        """A default lifetime every deploy would be refused for (it is the `--ttl` nobody gave), and
        warnings that would come at once or never: refused here, with the setting's name."""
        from deployer.request import MIN_TTL  # the bound each deploy is held to (request imports this module)

        low, high, ttl = format_duration(MIN_TTL), format_duration(self.max_ttl), format_duration(self.ttl)
        if self.max_ttl < MIN_TTL:
            return [f"{PREFIX}MAX_TTL ({high}) must be at least {low}, the shortest lifetime a deploy may have"]
        problems = []
        if not MIN_TTL <= self.ttl <= self.max_ttl:
            problems.append(f"{PREFIX}TTL ({ttl}) must be between {low} and {high} ({PREFIX}MAX_TTL): it is the "
                            "lifetime of every deploy that gives no --ttl")
        warn, interval = format_duration(self.warn_before), format_duration(self.reap_interval)
        if self.warn_before >= self.ttl:
            problems.append(f"{PREFIX}WARN_BEFORE ({warn}) must be shorter than {PREFIX}TTL ({ttl}), or every "
                            "environment is warned about as soon as it is created")
        elif self.warn_before <= self.reap_interval:
            problems.append(f"{PREFIX}WARN_BEFORE ({warn}) must be longer than {PREFIX}REAP_INTERVAL ({interval}), "
                            "how often expiries are checked: a shorter warning can fall between two checks")
        return problems


    def _pull_request_problems(self) -> list[str]:
        """A deploy nobody asked for in Slack has its thread in the channel: there is nowhere else to put it."""
        if not self.deploy_pull_requests:
            return []
        name = f"{PREFIX}DEPLOY_PULL_REQUESTS"
        problems = [] if self.channel else [f"{name} needs {PREFIX}CHANNEL: pull requests' deploy threads go there"]
        if not (self.github_webhook_secret or self.gitlab_webhook_token):
            problems.append(f"{name} needs a webhook: {PREFIX}GITHUB_WEBHOOK_SECRET or {PREFIX}GITLAB_WEBHOOK_TOKEN")
        if not self.deploy_branches:
            problems.append(f"{PREFIX}DEPLOY_BRANCHES is empty, so {name} would deploy nothing (`*` is every branch)")
        return problems

    def _build_engine_problems(self) -> list[str]:
        host, certs = self.build_docker_host, self.build_docker_cert_path
        if host and self.provider == "local":
            return [f"{PREFIX}BUILD_DOCKER_HOST is for the beanstalk provider: the local provider runs each image on "
                    "the engine that built it, so point DOCKER_HOST at a machine without the bot's credentials instead"]
        if host and host.startswith("tcp://") and not certs:
            # dockerd on plain TCP takes orders, root on its machine, from anyone who reaches the port.
            return [f"{PREFIX}BUILD_DOCKER_HOST={host} needs {PREFIX}BUILD_DOCKER_CERT_PATH: an engine is reached "
                    "over TCP only with TLS (or use ssh://)"]
        if certs and not (host or "").startswith("tcp://"):
            return [f"{PREFIX}BUILD_DOCKER_CERT_PATH is only for a tcp:// {PREFIX}BUILD_DOCKER_HOST"]
        missing = [name for name in CERT_FILES if certs and not (certs / name).is_file()]
        if missing:
            return [f"{PREFIX}BUILD_DOCKER_CERT_PATH ({certs}) lacks {', '.join(missing)}"]
        return []


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, or a ConfigError that names each bad setting (misspelt ones too)."""
    typos, ignored = unknown_settings(given_names())
    for name in ignored:
        log.warning("%s is not a deploybot setting; it is ignored (.env.example lists them all)", name)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(f"Settings are missing or wrong {WHERE_SETTINGS_GO}",
                          details=typos + describe_errors(exc)) from None
    except SettingsError as exc:
        raise ConfigError("Settings could not be read", details=[str(exc)]) from None
    if typos:
        raise ConfigError(f"Settings are missing or wrong {WHERE_SETTINGS_GO}", details=typos)
    return settings


# Variables with the prefix that belong to deploybot's own tooling, not to the bot.
TOOLING = frozenset({"DEPLOYBOT_REQUIRE_DOCKER"})


def given_names(env_file: str | Path = ".env") -> set[str]:
    """The DEPLOYBOT_ variables set in the environment or in the .env file."""
    names = set(os.environ) | (set(dotenv_values(env_file)) if Path(env_file).is_file() else set())
    return {n.upper() for n in names if n.upper().startswith(PREFIX)}  # read case-insensitively


def unknown_settings(names: Iterable[str]) -> tuple[list[str], list[str]]:
    """Names that are no setting: (likely misspellings, each with the setting meant; the rest).

    A misspelt setting silently falls back to its default (DEPLOYBOT_PROVIDR=beanstalk would
    run the local provider), so a near miss stops start-up; anything else is only ignored.
    """
    known = sorted(PREFIX + name.upper() for name in Settings.model_fields)
    typos, ignored = [], []
    for name in sorted(set(names) - set(known) - TOOLING):
        meant = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        if meant:
            typos.append(f"{name}: not a setting; did you mean {meant[0]}?")
        else:
            ignored.append(name)
    return typos, ignored


# Said with every settings error: the person reading it is usually setting deploybot up.
WHERE_SETTINGS_GO = "(set them in the environment or in .env; .env.example lists them all)"


def describe_errors(exc: ValidationError) -> list[str]:
    lines = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"])
        name = f"{PREFIX}{field.upper()}" if field else "settings"
        message = error["msg"].removeprefix("Value error, ")
        lines += [f"{name}: {message}"] if field else message.splitlines()
    return lines
