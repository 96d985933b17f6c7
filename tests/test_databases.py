"""Each environment's own database (deployer/databases.py, issue 20), on a real PostgreSQL server.

The server here checks passwords (scram-sha-256) for every role but its superuser, and deploybot's admin
role is an ordinary one with CREATEDB and CREATEROLE, as an operator would give it: what works here works
without superuser rights.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

import psycopg
import pytest
from psycopg import sql

from deployer.databases import (
    MAX_IDENTIFIER, Databases, DatabaseGrant, app_address, app_url, create_database_sql, database_name,
)
from deployer.errors import DatabaseError
from deployer.store.records import DatabaseRecord
from deployer.store.state import Store, engine_for
from tests.world.postgres import (
    ADMIN, ADMIN_PASSWORD, Postgres, PostgresUnavailable, admin_url, as_operators_server, seed_template,
)
from tests.world.processes import free_port

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


# names and URLs: pure ------------------------------------------------------------------------


def test_a_plain_environment_name_is_kept_behind_the_prefix():
    assert database_name("feature-x") == "deploybot_feature-x"


def test_names_that_would_clash_once_lowercased_or_cleaned_get_a_hash():
    names = {database_name(n) for n in ("feature-x", "Feature-X", "feature_x", "feature--x", "feature-x-")}
    assert len(names) == 5
    assert all(re.fullmatch(r"deploybot_[a-z0-9-]+", n) for n in names)


def test_a_name_that_ends_like_a_hash_can_not_take_another_ones_name():
    hashed = database_name("Feature-X")
    assert database_name(hashed.removeprefix("deploybot_")) != hashed


def test_names_of_250_character_environments_are_valid_and_distinct():
    long = ["a" * 250, "a" * 249 + "b", "b" + "a" * 249, "A" * 250, "a" * 60 + "-" + "z" * 189, "é" * 250]
    names = [database_name(n) for n in long]
    assert len(set(names)) == len(long)
    for name in names:
        assert len(name.encode()) <= MAX_IDENTIFIER
        assert re.fullmatch(r"deploybot_[a-z0-9-]*[0-9a-f]{8}", name), name


def test_the_apps_url_uses_the_override_host_and_keeps_the_admin_port_unless_given():
    admin = "postgresql://admin:pw@db.internal:6543/postgres"
    assert app_address(admin) == ("db.internal", 6543)
    assert app_address(admin, "host.docker.internal") == ("host.docker.internal", 6543)
    assert app_address(admin, "shop.abc.eu-west-1.rds.amazonaws.com:5432") == \
        ("shop.abc.eu-west-1.rds.amazonaws.com", 5432)
    assert app_address("postgresql+psycopg://admin@10.0.0.5/postgres") == ("10.0.0.5", 5432)
    assert app_url("db", 5432, "deploybot_x", "p_w-1", "deploybot_x") == "postgresql://deploybot_x:p_w-1@db:5432/deploybot_x"


def test_a_socket_admin_url_needs_the_host_apps_use():
    with pytest.raises(DatabaseError, match="Unix socket.*DEPLOYBOT_DATABASE_HOST"):
        app_address("postgresql://admin@/postgres?host=/var/run/postgresql")


def test_names_reach_the_server_as_quoted_identifiers_never_spliced():
    query = create_database_sql("deploybot_x", "deploybot_x", 'shop"; DROP DATABASE prod; --')
    assert query.as_string(None).endswith('TEMPLATE "shop""; DROP DATABASE prod; --"')


def test_a_grant_does_not_show_its_password():
    grant = DatabaseGrant("postgresql://r:s3cret-pw@h:1/d", "d", "r", True, "s3cret-pw")
    assert "s3cret-pw" not in repr(grant)


# on the server ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server():
    """A server of its own: its authentication is changed, which the session's shared one must not be."""
    try:
        postgres = Postgres()
    except PostgresUnavailable as err:
        pytest.skip(str(err))
    with postgres:
        as_operators_server(postgres)
        yield postgres


@pytest.fixture
def store(tmp_path):
    return Store(engine_for(f"sqlite:///{tmp_path}/state.db"))


@pytest.fixture
def databases(server, store):
    made = Databases(admin_url(server), store, clock=lambda: T0)
    yield made
    for record in store.databases():  # each test leaves the shared server as it found it
        made.drop(record.env_name)


def database_names(server: Postgres) -> set[str]:
    with server.connect() as conn:
        return {name for (name,) in conn.execute("SELECT datname FROM pg_database")}


def role_names(server: Postgres) -> set[str]:
    with server.connect() as conn:
        return {name for (name,) in conn.execute("SELECT rolname FROM pg_roles")}


def as_app(url: str, query: str) -> list[tuple]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        cursor = conn.execute(query)
        return cursor.fetchall() if cursor.description else []


def test_two_environments_get_two_databases_each_only_for_its_own_role(server, databases):
    first, second = databases.ensure("feature-a"), databases.ensure("feature-b")

    assert (first.name, first.role, first.created) == ("deploybot_feature-a", "deploybot_feature-a", True)
    assert first.url.startswith(f"postgresql://deploybot_feature-a:{first.password}@127.0.0.1:{server.port}/")
    assert {first.name, second.name} <= database_names(server)
    assert as_app(first.url, "SELECT current_user, current_database()") == [(first.role, first.name)]
    assert as_app(second.url, "SELECT current_user, current_database()") == [(second.role, second.name)]
    trespass = first.url.rsplit("/", 1)[0] + f"/{second.name}"  # the first role, the second database
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        as_app(trespass, "SELECT 1")


def test_the_role_may_log_in_and_nothing_more(server, databases):
    grant = databases.ensure("feature-a")
    assert as_app(grant.url, "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles "
                             "WHERE rolname = current_user") == [(False, False, False)]
    with server.connect() as conn:
        comment = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                               [grant.name]).fetchone()[0]
    assert comment == "deploybot: environment feature-a"


def test_a_copy_of_the_template_carries_its_data_and_is_the_apps_to_change(databases):
    grant = databases.ensure("feature-t", "shop_seed")
    assert as_app(grant.url, "SELECT name FROM product_names ORDER BY name") == [("kettle",), ("teapot",)]
    as_app(grant.url, "INSERT INTO products (name) VALUES ('cup')")  # its sequence was handed over too
    as_app(grant.url, "ALTER TABLE products ADD COLUMN price int")  # a branch's migration
    assert databases.ensure("feature-u", "shop_seed").name != grant.name
    assert as_app(databases.ensure("feature-u").url, "SELECT count(*) FROM products") == [(2,)]


def test_ensure_again_reuses_the_database_the_role_and_the_url(server, databases, store):
    first = databases.ensure("feature-a")
    as_app(first.url, "CREATE TABLE kept (id int)")
    again = databases.ensure("feature-a", "shop_seed")  # a template named later changes nothing made

    assert (again.url, again.created) == (first.url, False)
    assert as_app(first.url, "SELECT count(*) FROM kept") == [(0,)]  # the running app's URL still works
    assert [(r.env_name, r.template, r.created_at) for r in store.databases()] == [("feature-a", None, T0)]


def test_drop_ends_the_sessions_and_removes_database_role_and_record(server, databases, store):
    grant = databases.ensure("feature-a")
    with psycopg.connect(grant.url) as app:  # the app is still connected
        assert databases.drop("feature-a") is True
        with pytest.raises(psycopg.OperationalError):
            app.execute("SELECT 1")
    assert grant.name not in database_names(server)
    assert grant.role not in role_names(server)
    assert store.database("feature-a") is None
    assert databases.drop("feature-a") is False


def test_an_environment_without_a_database_drops_nothing_and_needs_no_server(tmp_path, store):
    nowhere = Databases(f"postgresql://{ADMIN}:x@127.0.0.1:{free_port()}/postgres", store)
    assert nowhere.drop("feature-a") is False


@pytest.mark.parametrize("comment", [None, "deploybot: environment feature-other", "the shop's staging data"])
def test_a_database_deploybot_did_not_make_is_never_reused_nor_dropped(server, databases, store, comment):
    name = database_name("feature-z")
    with server.connect(autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        if comment:
            conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(comment)))
    try:
        with pytest.raises(DatabaseError, match=rf"Database `{name}` exists and is not deploybot's.*rename or drop "
                                                "it yourself"):
            databases.ensure("feature-z")
        assert store.database("feature-z") is None and name not in role_names(server)

        # Even with a record that says so (a store restored from elsewhere), the comment must agree.
        store.record_database(DatabaseRecord("feature-z", name, name, "pw-from-elsewhere", None, T0))
        with pytest.raises(DatabaseError, match="exists and is not deploybot's"):
            databases.drop("feature-z")
        assert name in database_names(server)
    finally:
        store.forget_database("feature-z")
        with server.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))


def test_a_role_of_the_same_name_that_is_not_deploybots_is_left_alone(server, databases, store):
    name = database_name("feature-r")
    with server.connect(autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
    try:
        with pytest.raises(DatabaseError, match=rf"Role `{name}` exists and is not deploybot's"):
            databases.ensure("feature-r")
        assert name not in database_names(server) and store.database("feature-r") is None
    finally:
        with server.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_orphans_are_deploybots_databases_whose_environment_is_gone(databases):
    databases.ensure("feature-a")
    databases.ensure("feature-b", "shop_seed")
    assert [(o.env_name, o.name, o.template) for o in databases.orphans(["feature-a", "feature-c"])] == \
        [("feature-b", "deploybot_feature-b", "shop_seed")]
    assert databases.orphans(["feature-a", "feature-b"]) == []


# what goes wrong, said ---------------------------------------------------------------------------


def test_an_unreachable_server_is_named_with_host_and_port(store):
    port = free_port()
    with pytest.raises(DatabaseError, match=rf"server at 127.0.0.1, port {port} can't be reached") as caught:
        Databases(admin_url(None, port=port), store, connect_timeout=2).ensure("feature-a")
    assert store.databases() == []
    assert caught.value.exit_code == 12 and caught.value.title == "Database problem"


def test_a_wrong_password_is_named_without_the_password(server, store):
    with pytest.raises(DatabaseError, match=f"refused the login of `{ADMIN}`.*check the user name and password"
                       ) as caught:
        Databases(admin_url(server, password="wrong-horse-battery"), store).ensure("feature-a")
    assert "wrong-horse-battery" not in str(caught.value) and ADMIN_PASSWORD not in str(caught.value)


def test_a_missing_template_is_named_and_nothing_is_left_made(server, databases, store):
    with pytest.raises(DatabaseError, match="template database `shop_sed` .*does not exist"):
        databases.ensure("feature-a", "shop_sed")
    assert store.databases() == [] and "deploybot_feature-a" not in role_names(server)


def test_a_database_not_marked_as_a_template_is_not_copied(server, databases):
    with server.connect(autocommit=True) as conn:
        conn.execute("CREATE DATABASE private_data")
    try:
        with pytest.raises(DatabaseError, match="`private_data` is not marked as a template.*IS_TEMPLATE true"):
            databases.ensure("feature-a", "private_data")
    finally:
        with server.connect(autocommit=True) as conn:
            conn.execute("DROP DATABASE private_data")


def test_a_template_in_use_is_named_with_what_to_do_and_nothing_is_left_made(server, databases, store):
    with server.connect("shop_seed"):  # someone looking at the seed data
        with pytest.raises(DatabaseError, match="template database `shop_seed` is in use.*Close the sessions"):
            databases.ensure("feature-a", "shop_seed")
    assert store.databases() == []
    assert "deploybot_feature-a" not in database_names(server) | role_names(server)
    assert databases.ensure("feature-a", "shop_seed").created  # once it is free


def test_a_template_whose_tables_the_admin_can_not_hand_over_is_refused(server, databases, store):
    seed_template(server, "root_seed", owner="postgres")
    try:
        with pytest.raises(DatabaseError, match=r"`public.products` \(role `postgres`\).*admin role their owner"):
            databases.ensure("feature-a", "root_seed")
        assert store.databases() == []
        assert "deploybot_feature-a" not in database_names(server) | role_names(server)
    finally:
        with server.connect(autocommit=True) as conn:
            conn.execute("ALTER DATABASE root_seed IS_TEMPLATE false")
            conn.execute("DROP DATABASE root_seed")


def test_an_admin_role_without_createrole_is_told_what_it_lacks(server, store):
    with server.connect(autocommit=True) as conn:
        conn.execute("CREATE ROLE weak_admin LOGIN CREATEDB PASSWORD 'weak-pw-123'")
    try:
        with pytest.raises(DatabaseError, match="admin role may not do this.*CREATEDB and CREATEROLE"):
            Databases(admin_url(server, "weak_admin", "weak-pw-123"), store).ensure("feature-a")
        assert store.databases() == []
    finally:
        with server.connect(autocommit=True) as conn:
            conn.execute("DROP ROLE weak_admin")
