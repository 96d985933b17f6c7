"""The database fixtures give real, separate databases that several connections share."""
from __future__ import annotations

from sqlalchemy import create_engine, text


def test_server_runs(postgres):
    with postgres.connect() as conn:
        assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)


def test_two_engines_share_the_database(store_url):
    writer, reader = create_engine(store_url), create_engine(store_url)
    try:
        with writer.begin() as conn:
            conn.execute(text("CREATE TABLE jobs (id INTEGER PRIMARY KEY, name TEXT)"))
            conn.execute(text("INSERT INTO jobs VALUES (1, 'deploy')"))
        with reader.connect() as conn:
            assert conn.execute(text("SELECT name FROM jobs")).scalars().all() == ["deploy"]
    finally:
        writer.dispose()
        reader.dispose()


def test_skip_locked_skips_the_row_another_connection_locked(postgres):
    # Row locks only exist in a real server; this is what a job queue on PostgreSQL relies on.
    engine = create_engine(postgres.new_database())
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE jobs (id INTEGER PRIMARY KEY)"))
            conn.execute(text("INSERT INTO jobs VALUES (1), (2)"))
        claim = text("SELECT id FROM jobs ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED")
        with engine.begin() as first, engine.begin() as second:
            assert first.execute(claim).scalar() == 1
            assert second.execute(claim).scalar() == 2
    finally:
        engine.dispose()
