"""Where built images are pushed: any registry v2, or Amazon ECR.

Images are tagged `deploybot-<commit sha>`. On ECR deploybot deletes the images no live
environment runs, no deploy is using and no restore needs (each reaper pass: `EcrRegistry.sweep`,
which also applies DEPLOYBOT_RESTORE_WINDOW); its lifecycle rule is only a safety net that keeps the
newest images of that prefix — far more than deploybot runs and may restore at once — so it never
expires an image under a live or restorable environment, however long it lived.
"""

from __future__ import annotations

import logging
import base64
import json
import math
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from deployer.errors import CloudError, ConfigError

TAG_PREFIX = "deploybot-"

# Refresh ECR tokens (valid 12h) this long before they expire, so that a token
# handed to a push never lapses halfway through it.
TOKEN_REFRESH_MARGIN = timedelta(minutes=15)

log = logging.getLogger(__name__)
MAX_RULE_PRIORITY = 999  # ECR's highest rulePriority
# The safety net keeps at least this many deploybot- images (more when DEPLOYBOT_MAX_ENVS is large).
SAFETY_NET_IMAGES = 1000
BATCH_DELETE_MAX = 100  # image ids per BatchDeleteImage


def safety_net_size(max_envs: int, restore_window: timedelta) -> int:
    """How many deploybot- images the lifecycle rule keeps: what may run (DEPLOYBOT_MAX_ENVS) twice over, for
    the images deploys are pushing, and what may be restored, as if every environment were torn down and
    made anew each day of DEPLOYBOT_RESTORE_WINDOW; at least SAFETY_NET_IMAGES."""
    days = math.ceil(restore_window / timedelta(days=1))
    return max(SAFETY_NET_IMAGES, max_envs * (2 + days))


def lifecycle_rule(keep_newest: int = SAFETY_NET_IMAGES) -> dict:
    """The rule deploybot owns in an ECR repository's lifecycle policy (without its priority).

    By count, not by age. ECR's ages count from an image's push (`sinceImagePushed`) or last pull
    (`sinceImagePulled`), never from a tear down: an environment may live for weeks on an image pushed
    on its first day and pulled only then, and a restore within DEPLOYBOT_RESTORE_WINDOW needs that image
    after it. No age is safe for both; deploybot's own sweep applies the window, and the count
    (`safety_net_size`) only has to exceed what live and restorable environments and deploys hold.
    """
    return {
        "description": f"deploybot: safety net, keep the newest {keep_newest} deploybot- images "
                       "(deploybot deletes those no environment runs or may restore)",
        "selection": {
            "tagStatus": "tagged",
            "tagPrefixList": [TAG_PREFIX],
            "countType": "imageCountMoreThan",
            "countNumber": keep_newest,
        },
        "action": {"type": "expire"},
    }

# Docker's rule for repository paths: lowercase components separated by '/'.
_REPOSITORY_NAME = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)


def image_tag(sha: str) -> str:
    """The tag of the image built from commit `sha` (the lifecycle rule matches its prefix)."""
    return f"{TAG_PREFIX}{sha}"


class Registry(Protocol):
    pushes: bool  # False: images stay on the engine that builds and runs them

    @property
    def repository(self) -> str:
        """Image repository without tag, e.g. 127.0.0.1:5000/myapp."""

    def prepare(self) -> None:
        """Make sure the repository can receive pushes."""

    def auth_config(self) -> dict | None:
        """Credentials for the docker SDK, or None to use the engine's own config."""

    def sweep(self, keep: set[str], pushed_before: datetime) -> int:
        """Delete deploybot's images of commits not in `keep` (12-character prefixes) pushed before
        `pushed_before`; returns how many tags were deleted. Registries deploybot can't sweep return 0."""


class PlainRegistry:
    """Any registry v2 (DEPLOYBOT_REGISTRY); nothing to set up, no credentials of ours.

    If it needs a login, `docker login` on the engine's host provides it.
    """

    pushes = True

    def __init__(self, host: str, name: str) -> None:
        # Accept "http://host:port/" too: people paste URLs, Docker wants a host.
        host = re.sub(r"^[a-z]+://", "", host.strip()).rstrip("/")
        if not host:
            raise ConfigError(
                "DEPLOYBOT_REGISTRY is empty; set it to a registry host such as 127.0.0.1:5000."
            )
        self.repository = f"{host}/{_checked_name(name)}"

    def prepare(self) -> None:
        return None

    def auth_config(self) -> dict | None:
        return None

    def sweep(self, keep: set[str], pushed_before: datetime) -> int:
        # Registry v2 deletes by digest only, and only when the operator enabled deletion: their
        # registry's own garbage collection is the tool there (docs/operating.md says so).
        return 0


def local_repository(name: str) -> str:
    """Where the local provider keeps a deploybot's images; it also tells its containers apart."""
    return f"deploybot-local/{_checked_name(name)}"


class LocalImages:
    """No registry: the local provider runs images on the engine that built them."""

    pushes = False

    def __init__(self, name: str) -> None:
        self.repository = local_repository(name)

    def prepare(self) -> None:
        return None

    def auth_config(self) -> dict | None:
        return None

    def sweep(self, keep: set[str], pushed_before: datetime) -> int:
        return 0  # the local provider removes its images with its containers


class EcrRegistry:
    """An ECR repository in the account and region of `ecr_client`, created on demand."""

    pushes = True

    def __init__(
        self,
        ecr_client: Any,
        name: str,
        *,
        keep_newest: int = SAFETY_NET_IMAGES,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._ecr = ecr_client
        self.name = _checked_name(name)
        self._rule = lifecycle_rule(keep_newest)
        self._now = now
        self._lock = threading.Lock()
        self._auth: dict | None = None
        self._auth_expires = datetime.min.replace(tzinfo=UTC)

    @property
    def repository(self) -> str:
        endpoint = self.auth_config()["serveraddress"]
        return f"{re.sub(r'^https?://', '', endpoint).rstrip('/')}/{self.name}"

    def prepare(self) -> None:
        """Create the repository if missing and install deploybot's lifecycle rule."""
        self._ensure_repository()
        self._ensure_lifecycle_policy()

    def auth_config(self) -> dict:
        """Docker credentials from an ECR token, reused until shortly before it expires."""
        with self._lock:
            if self._auth is None or self._now() >= self._auth_expires - TOKEN_REFRESH_MARGIN:
                self._auth, self._auth_expires = self._fetch_auth()
            return dict(self._auth)

    # -- repository -----------------------------------------------------------

    def _ensure_repository(self) -> None:
        try:
            self._call("DescribeRepositories", repositoryNames=[self.name])
            return
        except ClientError as err:
            if _code(err) != "RepositoryNotFoundException":
                raise self._translate(err) from err
        try:
            self._call("CreateRepository", repositoryName=self.name)
        except ClientError as err:
            # Another deploy created it between our describe and create: fine.
            if _code(err) != "RepositoryAlreadyExistsException":
                raise self._translate(err) from err

    def _ensure_lifecycle_policy(self) -> None:
        current = self._current_policy()
        wanted = merged_lifecycle_policy(current, self._rule)
        if wanted is None:
            log.warning("ECR repository %s: no rule priority is free below its `tagStatus: any` rule, so deploybot "
                        "did not add its safety-net rule for deploybot- images; add it by hand "
                        "(docs/operating.md, *The AWS side*)",
                        self.name)
        elif wanted != current:
            self._call_or_raise(
                "PutLifecyclePolicy",
                repositoryName=self.name,
                lifecyclePolicyText=json.dumps(wanted),
            )

    def _current_policy(self) -> dict | None:
        try:
            response = self._call("GetLifecyclePolicy", repositoryName=self.name)
        except ClientError as err:
            if _code(err) == "LifecyclePolicyNotFoundException":
                return None
            raise self._translate(err) from err
        return json.loads(response["lifecyclePolicyText"])

    # -- sweeping -------------------------------------------------------------

    def sweep(self, keep: set[str], pushed_before: datetime) -> int:
        """Delete the deploybot- tags of images no live environment runs and no deploy is using.

        Only deploybot's own tags go: an image someone else also tagged stays under their tag.
        Images pushed after `pushed_before` stay (a deploy may be about to use what it just pushed).
        """
        doomed = [{"imageTag": tag} for image in self._images()
                  if _as_utc(image["imagePushedAt"]) < pushed_before
                  for tag in image.get("imageTags", [])
                  if tag.startswith(TAG_PREFIX) and tag.removeprefix(TAG_PREFIX)[:12] not in keep]
        deleted = 0
        for start in range(0, len(doomed), BATCH_DELETE_MAX):
            response = self._call_or_raise("BatchDeleteImage", repositoryName=self.name,
                                           imageIds=doomed[start:start + BATCH_DELETE_MAX])
            deleted += len(response.get("imageIds", []))
            for failure in response.get("failures", []):  # e.g. deleted by someone else meanwhile
                log.info("ECR kept %s: %s", failure.get("imageId"), failure.get("failureReason"))
        return deleted

    def _images(self) -> list[dict]:
        try:
            pages = self._ecr.get_paginator("describe_images").paginate(
                repositoryName=self.name, filter={"tagStatus": "TAGGED"})
            return [image for page in pages for image in page["imageDetails"]]
        except ClientError as err:
            if _code(err) == "RepositoryNotFoundException":
                return []  # nothing pushed yet
            raise self._translate(err) from err
        except BotoCoreError as err:
            raise CloudError("The ECR call DescribeImages failed before AWS answered; the next pass retries.",
                             details=[str(err)]) from err

    # -- credentials ----------------------------------------------------------

    def _fetch_auth(self) -> tuple[dict, datetime]:
        data = self._call_or_raise("GetAuthorizationToken")["authorizationData"][0]
        username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        auth = {"username": username, "password": password, "serveraddress": data["proxyEndpoint"]}
        return auth, _as_utc(data["expiresAt"])

    # -- calling AWS ----------------------------------------------------------

    def _call(self, operation: str, **params: Any) -> dict:
        """Call an ECR operation; ClientError passes through for callers that expect some."""
        method = getattr(self._ecr, _snake(operation))
        try:
            return method(**params)
        except NoCredentialsError as err:
            raise ConfigError(
                "No AWS credentials were found for ECR. Give the bot an IAM role or set "
                "AWS_PROFILE / AWS_ACCESS_KEY_ID."
            ) from err
        except BotoCoreError as err:
            raise CloudError(
                f"The ECR call {operation} failed before AWS answered; check the network "
                "and AWS_REGION, then retry.",
                details=[str(err)],
            ) from err

    def _call_or_raise(self, operation: str, **params: Any) -> dict:
        try:
            return self._call(operation, **params)
        except ClientError as err:
            raise self._translate(err) from err

    def _translate(self, err: ClientError) -> Exception:
        code = _code(err)
        operation = err.operation_name
        aws_message = err.response.get("Error", {}).get("Message", "")
        if code in _ACCESS_DENIED:
            return ConfigError(
                f"AWS refused ecr:{operation} on the repository `{self.name}`. Allow the "
                f"bot's IAM identity ecr:{operation}.",
                details=[aws_message],
            )
        if code in _BAD_CREDENTIALS:
            return ConfigError(
                "AWS rejected the bot's credentials for ECR; renew them or check the "
                "bot's IAM role.",
                details=[aws_message],
            )
        return CloudError(
            f"The ECR call {operation} on `{self.name}` failed ({code}); retry, and "
            "check the AWS console if it keeps failing.",
            details=[aws_message],
        )


def merged_lifecycle_policy(current: dict | None, rule: dict | None = None) -> dict | None:
    """`current` with deploybot's rule in it, everyone else's rules untouched; None when it can't be added.

    A stale rule of ours is replaced where it stands. A new one takes the lowest priority
    number nobody uses — below any `tagStatus: any` rule, which ECR requires to rank last;
    when no such number is free, the policy is left as it is (and the operator told).
    """
    rules = (current or {}).get("rules", [])
    others = [rule for rule in rules if not _is_deploybot_rule(rule)]
    ours = [rule for rule in rules if _is_deploybot_rule(rule)]
    used = {rule.get("rulePriority") for rule in others}
    ceiling = min((r.get("rulePriority", 0) for r in others if r.get("selection", {}).get("tagStatus") == "any"),
                  default=MAX_RULE_PRIORITY + 1)
    keep = ours[0].get("rulePriority") if ours else None
    free = [p for p in range(1, ceiling) if p not in used]
    priority = keep if keep is not None and keep < ceiling else (free[0] if free else None)
    if priority is None:
        return None
    return {"rules": sorted([*others, {"rulePriority": priority, **(rule or lifecycle_rule())}],
                            key=lambda rule: rule.get("rulePriority", 0))}


def _is_deploybot_rule(rule: dict) -> bool:
    return TAG_PREFIX in rule.get("selection", {}).get("tagPrefixList", [])


_ACCESS_DENIED = {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"}
_BAD_CREDENTIALS = {
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "InvalidClientTokenId",
}


def _code(err: ClientError) -> str:
    return err.response.get("Error", {}).get("Code", "")


def _snake(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def _as_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _checked_name(name: str) -> str:
    if not _REPOSITORY_NAME.match(name or ""):
        raise ConfigError(
            f"`{name}` cannot name an image repository: use lowercase letters, digits, "
            "and '.', '_', '-' or '/' between them."
        )
    return name
