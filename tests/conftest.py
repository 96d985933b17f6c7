"""Fixtures shared by all tests: the databases deploybot's state can live in."""
from __future__ import annotations

import os

import pytest

from tests.world.postgres import Postgres, PostgresUnavailable


@pytest.fixture(scope="session")
def postgres() -> Postgres:
    """One real PostgreSQL server for the whole session (see tests/world/postgres.py).

    Skipped when PostgreSQL is not installed, or failed if DEPLOYBOT_REQUIRE_DOCKER=1 (set in CI
    so a broken setup cannot pass as "all skipped").
    """
    try:
        server, missing = Postgres(), ""
    except PostgresUnavailable as err:
        server, missing = None, str(err)
    if server is None:  # outside the except, so the report doesn't repeat the reason as a chained error
        if os.environ.get("DEPLOYBOT_REQUIRE_DOCKER") == "1":
            pytest.fail(missing, pytrace=False)
        pytest.skip(missing)
    with server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """A SQLAlchemy URL of an empty database, once in SQLite and once in PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state.db"
    # Looked up only here, so SQLite-only runs never start the server.
    return request.getfixturevalue("postgres").new_database()
