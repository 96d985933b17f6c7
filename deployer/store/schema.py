"""The store's schema, versioned with Alembic: a newer deploybot opens an older store.

A store made by the first release (before migrations were recorded) is recognised by
its tables and stamped as revision 0001 before upgrading. A store written by a newer
deploybot, or something that is not a deploybot store, stops start-up with a message.
"""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from deployer.errors import ConfigError

FIRST = "0001"
FIRST_TABLES = {"environments", "cards", "deploys", "audit", "leases"}
# Any constant will do: processes starting together on PostgreSQL migrate one at a time.
MIGRATION_LOCK = 0x6465706C6F79


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return config


def head() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head() or FIRST


def migrate(engine: Engine) -> str:
    """Bring the store to the newest schema; returns the revision it is at."""
    config = _config()
    known = {rev.revision for rev in ScriptDirectory.from_config(config).walk_revisions()}
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            current = MigrationContext.configure(conn).get_current_revision()
            tables = set(inspect(conn).get_table_names())
            if current is None and FIRST_TABLES <= tables:
                current = FIRST
                config.attributes["connection"] = conn
                command.stamp(config, FIRST)
            elif current is None and tables - {"alembic_version"}:
                raise ConfigError(f"DEPLOYBOT_STATE holds tables deploybot did not make ({', '.join(sorted(tables))}); "
                                  "point it at an empty database or deploybot's own store.")
            if current is not None and current not in known:
                raise ConfigError(
                    f"The store in DEPLOYBOT_STATE was written by a newer deploybot (schema {current}; this one "
                    f"knows up to {head()}); upgrade deploybot, or point DEPLOYBOT_STATE at another store."
                )
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except DBAPIError as error:
        raise ConfigError(f"The store in DEPLOYBOT_STATE can't be opened: {db_reason(error)}") from None
    return head()


def db_reason(error: DBAPIError) -> str:
    """The database's own words, first line only: never the URL (it may hold a password)."""
    original = str(error.orig).strip().splitlines()
    return original[0] if original else type(error.orig).__name__
