"""The errors deploybot explains to people.

Every failure a user can act on is one of these; the bot turns them into thread
messages and the CLI into exit codes. Anything else is a bug and is logged with
an id the user can quote.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deployer.access import Credentials


class DeployError(Exception):
    """Base class: `str(err)` is a sentence a developer can act on."""

    exit_code = 1
    title = "Deploy failed"

    def __init__(self, message: str, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details or [])
        # A --new-password deploy that failed after its new password took effect: the thread (and the CLI's
        # stderr) must still say it, or nobody could open the environment. Never part of the message or details,
        # which are logged and kept.
        self.new_credentials: Credentials | None = None


class ConfigError(DeployError):
    """A setting is missing or wrong, or an outside system is not set up."""

    exit_code = 2
    title = "Configuration problem"


class SecretsUnavailable(ConfigError):
    """A secret deploybot.yml names could not be read (deployer/secrets.py): missing, outside
    DEPLOYBOT_SECRETS_PREFIX, denied, throttled or empty. The message names the variable and the parameter
    or secret, never a value, and says what to do."""

    title = "Secret not readable"


class InvalidRequest(DeployError):
    """The request itself is wrong (bad branch name, option out of limits)."""

    exit_code = 2
    title = "Invalid request"


class AppConfigInvalid(InvalidRequest):
    """The branch's deploybot.yml can't be used: the message names its line and what to write instead."""

    title = "deploybot.yml is invalid"


class NotRestorable(InvalidRequest):
    """A restore that can't be made: the environment is live, past DEPLOYBOT_RESTORE_WINDOW, or what it ran is
    gone. The message says why and offers a deploy of the branch instead."""

    title = "Can't restore"


class NotAllowed(DeployError):
    """The person may not do this (e.g. tear down someone else's environment)."""

    exit_code = 2
    title = "Not allowed"


class EnvironmentGone(DeployError):
    """The environment no longer exists, or is not deploybot's."""

    exit_code = 3
    title = "Environment gone"


class CapReached(DeployError):
    """As many environments are live as the operator allows (`limit`); `details` lists the oldest."""

    exit_code = 2
    title = "Too many environments"

    def __init__(self, message: str, *, limit: int, details: list[str] | None = None) -> None:
        super().__init__(message, details=details)
        self.limit = limit


class BranchNotFound(DeployError):
    exit_code = 3
    title = "Unknown branch"

    def __init__(self, message: str, *, branch: str | None = None, details: list[str] | None = None) -> None:
        super().__init__(message, details=details)
        self.branch = branch


class BuildFailed(DeployError):
    """The image build failed; `details` holds the last lines of the build log."""

    exit_code = 4
    title = "Image build failed"


class ImageVanished(BuildFailed):
    """The engine lost an image the build was using: something removed images meanwhile."""


class BundleInvalid(DeployError):
    """The Dockerrun template can't be turned into a source bundle."""

    exit_code = 4
    title = "Dockerrun template problem"


class DockerrunRefused(BundleInvalid):
    """The branch's Dockerrun template asks for more than the operator allows (deployer/build/dockerrun.py);
    the message names every refused key and the setting that would allow it."""

    title = "Dockerrun template refused"


class RegistryError(DeployError):
    """Logging in to or pushing to the image registry failed."""

    exit_code = 5
    title = "Image push failed"


class EnvironmentFailed(DeployError):
    """The environment failed to launch or to take the new version; `details` holds its events."""

    exit_code = 6
    title = "Environment failed"


class LogsUnavailable(DeployError):
    """The app's log could not be read (the environment is gone or busy, or the provider did not answer in
    time); the message says why and what to try instead."""

    exit_code = 11
    title = "Logs unavailable"


class DatabaseError(DeployError):
    """An environment's PostgreSQL database (on DEPLOYBOT_DATABASE_URL's server) could not be made, reused or
    dropped; the message names what failed and what to do, never a password."""

    exit_code = 12
    title = "Database problem"


class ReleaseFailed(DeployError):
    """deploybot.yml's release command failed or timed out; `details` holds its last lines. Nothing was deployed."""

    exit_code = 13
    title = "Release command failed"


class DeployTimeout(DeployError):
    exit_code = 7
    title = "Timed out"


class CloudError(DeployError):
    """An AWS or Docker call failed in a way we did not expect (translated at the gateway)."""

    exit_code = 8
    title = "Cloud API error"

    def __init__(self, message: str, *, code: str | None = None, details: list[str] | None = None) -> None:
        super().__init__(message, details=details)
        self.code = code


class StoreUnavailable(DeployError):
    """The state store (DEPLOYBOT_STATE) could not be reached; nothing was changed."""

    exit_code = 9
    title = "State store unavailable"


class ClaimLost(DeployError):
    """This process no longer holds the claim it works under (the store was out of reach longer than
    DEPLOYBOT_CLAIM_TIMEOUT, or the process stood still that long): it stops before it changes
    anything more, as another process may have taken the environment over."""

    exit_code = 9
    title = "Claim lost"


class Busy(DeployError):
    """Another operation holds the environment's claim; `message` says which and what happens next."""

    exit_code = 10
    title = "Busy"


class GitHubError(DeployError):
    """A GitHub API call failed; `retry_in` is None when trying again can't help, else how long to
    wait first (0: the caller's backoff decides; more: what GitHub's rate limit asks)."""

    title = "GitHub API error"

    def __init__(self, message: str, *, status: int | None = None, retry_in: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_in = retry_in


class Interrupted(Exception):
    """This process is stopping (SIGTERM): the deploy stopped at a safe point, to be resumed by the next
    process. Not a DeployError: nothing failed, and nothing that reports failures may take it for one."""
