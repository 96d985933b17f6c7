"""What a branch's deploybot.yml asks deploybot to provide for a deploy: its secrets' values and a database
of its own. Resolved at each deploy, kept in memory only: never in the store, the audit, a log or a bundle.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from deployer.app_config import AppConfig
from deployer.errors import ConfigError, DeployError
from deployer.secrets import SecretReader

if TYPE_CHECKING:  # psycopg is loaded only by a deploybot whose branches ask for a database
    from deployer.databases import DatabaseGrant, Databases

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Provided:
    variables: dict[str, str] = field(default_factory=dict, repr=False)
    database: DatabaseGrant | None = None

    def secrets(self) -> Iterable[str]:
        """Every value to redact wherever this deploy's output is shown."""
        yield from self.variables.values()
        if self.database is not None:
            yield self.database.password


NOTHING = Provided()


class AppResources:
    def __init__(self, secrets: Callable[[], SecretReader], databases: Callable[[], Databases | None]) -> None:
        # Both made on first use: a deploybot whose branches ask for neither makes no AWS client, no connection.
        self._secrets = secrets
        self.databases = databases  # the reaper drops those of environments torn down

    def provide(self, config: AppConfig, feature: str, env_name: str) -> Provided:
        """The values of the file's secrets (checked and read before anything is made) and its database."""
        if not config.secrets and config.database is None:
            return NOTHING
        variables = dict(self._secrets().resolve(config.secrets, feature)) if config.secrets else {}
        grant = None
        if config.database is not None:
            databases = self.databases()
            if databases is None:
                raise ConfigError("deploybot.yml asks for a database, but this deploybot has no database server: "
                                  "the operator sets DEPLOYBOT_DATABASE_URL (docs/operating.md, Databases), or "
                                  "remove `database:` from deploybot.yml.")
            grant = databases.ensure(env_name, config.database.template)
            variables[config.database.env] = grant.url
        return Provided(variables, grant)

    def abandon(self, provided: Provided, env_name: str) -> None:
        """The deploy that made the database failed before the app could use it: the database goes again."""
        if provided.database is None or not provided.database.created:
            return
        databases = self.databases()
        try:
            if databases is not None:
                databases.drop(env_name)
        except DeployError as error:  # the tear down drops it later; the deploy's own failure stands
            log.warning("the database made for %s stays after its failed deploy: %s", env_name, error.message)


NO_RESOURCES = AppResources(lambda: SecretReader(None, None, None), lambda: None)
