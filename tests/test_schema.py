"""The store's schema is versioned (deployer/store/schema.py): an older store opens in a newer deploybot,
a newer or foreign one is refused with a message, and the migrations describe exactly the tables
deploybot uses. On SQLite and on PostgreSQL."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from deployer.store import schema
from deployer.store.claims import DEPLOY, Claims
from deployer.errors import ConfigError
from deployer.store.records import RUNNING
from deployer.store.state import Store, engine_for
from deployer.store.tables import metadata

FIRST_RELEASE = Path(__file__).parent / "data" / "store-0.1.sql"  # made by the code of 0.1 (commit 1e4cc90)
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def first_release_store(url: str, tmp_path: Path) -> None:
    """The store as 0.1 left it: in SQLite its own dump; in PostgreSQL its tables, with no version recorded."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.executescript(FIRST_RELEASE.read_text())
        return
    engine = engine_for(url)
    from alembic import command
    config = schema._config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, schema.FIRST)
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text("INSERT INTO environments (env_id, name, feature, owner, channel, thread_ts, "
                          "pending_expiry) VALUES ('e-abc123', 'feature-x', 'feature-x', 'U0ANA', 'C0DEPLOY', "
                          "'1700000000.000100', '2026-11-22 09:00:00')"))
        conn.execute(text("INSERT INTO deploys (feature, owner, channel, thread_ts, started_at) VALUES "
                          "('feature-y', 'U0BEA', 'C0DEPLOY', '1700000000.000200', '2026-11-20 10:00:00')"))


def test_a_store_made_by_the_first_release_opens_and_keeps_what_it_knew(store_url, tmp_path):
    first_release_store(store_url, tmp_path)
    store = Store(engine_for(store_url))

    remembered = store.recall("e-abc123")
    assert (remembered.channel, remembered.thread_ts) == ("C0DEPLOY", "1700000000.000100")
    assert remembered.pending_expiry == T0 + timedelta(days=2)
    # 0.1's unfinished deploy has no holder and no recorded request: the bot reports it, never resumes it.
    (unfinished,) = store.unfinished_deploys()
    assert (unfinished.feature, unfinished.state, unfinished.holder, unfinished.ttl) == \
        ("feature-y", RUNNING, None, None)
    assert Claims(store, "bot-1", lambda: T0, timedelta(seconds=30)).take("feature-x", DEPLOY)
    assert MigrationContext.configure(engine_for(store_url).connect()).get_current_revision() == schema.head()


def test_the_migrations_make_exactly_the_tables_the_code_uses(store_url):
    engine = engine_for(store_url)
    Store(engine)
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), metadata)
    assert differences == []


def test_opening_twice_changes_nothing(store_url):
    first = Store(engine_for(store_url))
    first.log(T0, "extend", "U0ANA", "kept across opens")
    second = Store(engine_for(store_url))
    assert [e["reason"] for e in second.audit_trail()] == ["kept across opens"]
    with engine_for(store_url).connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == schema.head()


def test_a_store_of_a_newer_deploybot_is_refused_with_its_name(store_url):
    engine = engine_for(store_url)
    Store(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(ConfigError, match=r"written by a newer deploybot \(schema 0099; this one knows up to 0018\)"):
        Store(engine_for(store_url))


def test_someone_elses_tables_are_not_taken_over(store_url):
    engine = engine_for(store_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"))
    with pytest.raises(ConfigError, match="tables deploybot did not make \\(invoices\\)"):
        Store(engine)


def test_a_file_that_is_not_a_database_is_named_not_a_traceback(tmp_path):
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database at all, just some text long enough to fill a header" * 20)
    with pytest.raises(ConfigError, match="can't be opened: file is not a database"):
        Store(engine_for(f"sqlite:///{path}"))


def test_an_unreachable_server_is_named_without_its_password():
    url = "postgresql+psycopg://deploybot:s3cret-pw@127.0.0.1:9/state"
    with pytest.raises(ConfigError) as caught:
        Store(engine_for(url))
    assert "DEPLOYBOT_STATE" in caught.value.message and "s3cret-pw" not in caught.value.message


def test_a_url_that_is_not_one_says_what_to_write():
    with pytest.raises(ConfigError, match="postgresql\\+psycopg://"):
        engine_for("mysql-ish://nowhere")


def test_the_instance_types_live_environments_ran_are_carried_over_from_their_branches_deploys(store_url):
    # Before 0018 an estimate priced the type the branch's latest deploy asked for: live ones keep that.
    from alembic import command
    config = schema._config()
    with engine_for(store_url).begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0017")
        conn.execute(text("INSERT INTO environments (env_id, name, feature, owner) VALUES "
                          "('e-live', 'feature-x', 'feature-x', 'U0ANA'), "
                          "('e-plain', 'feature-p', 'feature-p', 'U0ANA')"))
        conn.execute(text("INSERT INTO environments (env_id, name, feature, owner, terminated_at) VALUES "
                          "('e-gone', 'feature-z', 'feature-z', 'U0ANA', '2026-11-21 09:00:00')"))
        for feature, instance_type in (("feature-x", "t3.large"), ("feature-x", None), ("feature-z", "t3.medium"),
                                       ("feature-p", None)):
            conn.execute(text("INSERT INTO deploys (feature, owner, started_at, instance_type) VALUES "
                              "(:feature, 'U0ANA', '2026-11-20 10:00:00', :instance_type)"),
                         {"feature": feature, "instance_type": instance_type})
    store = Store(engine_for(store_url))
    assert store.instance_types(["e-live", "e-plain", "e-gone"]) == {"e-live": "t3.large"}
