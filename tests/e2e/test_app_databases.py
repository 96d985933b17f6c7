"""deploybot.yml's `database:` and `release:` end to end on the local provider and a real PostgreSQL server.

The app (tests/world/dbapp.py) answers on `/` with the variables it was given and what its own database
holds; its release command creates a table. Each branch gets a database and role of its own (a copy of a
template), sees only its own data, gets its release run before it takes traffic, keeps serving when a
later release fails, loses its database when its environment is torn down; a database someone else made
is never touched.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import psycopg
import pytest
from psycopg import sql

from deployer.store.state import Store, engine_for
from tests.e2e.helpers import page
from tests.e2e.test_cli import _deploybot
from tests.world import dbapp
from tests.world.apprepo import BROKEN_DOCKERFILE, add_commit, make_app_repo
from tests.world.dockerenv import docker_client
from tests.world.postgres import Postgres, PostgresUnavailable, as_operators_server

pytestmark = pytest.mark.e2e

PREFIX = "tdb-"
CONFIG = 'env:\n  GREETING: "hello {feature}"\ndatabase:\n  template: shop_seed\nrelease: python3 migrate.py\n'
BRANCHES = ("db-a", "db-b", "db-theirs", "db-broken")


@pytest.fixture(scope="module")
def world(tmp_path_factory, docker_world):
    client = docker_client()
    bridge = client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    try:  # the apps' containers reach the server at the host's end of Docker's bridge
        postgres = Postgres(listen=("127.0.0.1", bridge["Gateway"]))
    except PostgresUnavailable as err:
        pytest.skip(str(err))
    with postgres:  # a server of its own: its authentication is changed
        admin = as_operators_server(postgres, containers=bridge["Subnet"])
        with postgres.connect(autocommit=True) as conn:
            # Someone else's database, with the name deploybot would give branch db-theirs.
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(f"deploybot_{PREFIX}db-theirs")))
        root = tmp_path_factory.mktemp("db-repo")
        files = {b: dbapp.files(CONFIG) for b in BRANCHES}
        files["db-broken"]["Dockerfile"] = BROKEN_DOCKERFILE  # its build fails after its database was made
        url = make_app_repo(root, files)
        work = tmp_path_factory.mktemp("db-work")
        env = {
            "DEPLOYBOT_GIT_URL": url, "DEPLOYBOT_PUBLIC_URL": "http://127.0.0.1",
            "DEPLOYBOT_LOCAL_PORTS": "26000-26499", "DEPLOYBOT_ENV_PREFIX": PREFIX,
            "DEPLOYBOT_ECR_REPOSITORY": "db-tests", "DEPLOYBOT_DEPLOY_TIMEOUT": "60s",
            "DEPLOYBOT_WORK_DIR": str(work), "DEPLOYBOT_STATE": f"sqlite:///{work}/state.db",
            "DOCKER_HOST": "unix:///var/run/docker.sock",
            "DEPLOYBOT_DATABASE_URL": admin, "DEPLOYBOT_DATABASE_HOST": bridge["Gateway"],
        }
        yield postgres, env, work, root
        for container in client.containers.list(all=True, filters={"name": f"deploybot-{PREFIX}"}, ignore_removed=True):
            container.remove(force=True)


def _deployed(env: dict, branch: str) -> tuple[str, dict]:
    deployed = _deploybot(env, "deploy", branch, "--verbose")
    assert deployed.returncode == 0, deployed.stderr
    url = deployed.stdout.strip()
    return url, json.loads(page(url))


def _from_here(url: str, **changes: str) -> str:
    """An app's database URL as this test reaches it: the server on the host's loopback."""
    return psycopg.conninfo.make_conninfo(url, host="127.0.0.1", **changes)


def _exists(postgres: Postgres, kind: str, name: str) -> bool:
    table, column = {"database": ("pg_database", "datname"), "role": ("pg_roles", "rolname")}[kind]
    with postgres.connect(autocommit=True) as conn:
        return conn.execute(sql.SQL("SELECT 1 FROM {} WHERE {} = %s").format(
            sql.Identifier(table), sql.Identifier(column)), (name,)).fetchone() is not None


def test_each_branch_queries_a_copy_of_the_template_of_its_own_migrated_before_it_took_traffic(world):
    _, env, _, _ = world
    url_a, shown_a = _deployed(env, "db-a")
    url_b, shown_b = _deployed(env, "db-b")
    for shown, branch in ((shown_a, "db-a"), (shown_b, "db-b")):
        assert shown["products"] == ["kettle", "teapot"] and shown["migrated"] is True
        assert shown["env"]["GREETING"] == f"hello {branch}"
    database_a, database_b = shown_a["env"]["DATABASE_URL"], shown_b["env"]["DATABASE_URL"]
    assert database_a != database_b

    with psycopg.connect(_from_here(database_a), autocommit=True) as conn:
        conn.execute("INSERT INTO products (name) VALUES ('only in a')")
    assert json.loads(page(url_a))["products"] == ["kettle", "teapot", "only in a"]
    assert json.loads(page(url_b))["products"] == ["kettle", "teapot"]
    b = psycopg.conninfo.conninfo_to_dict(database_b)
    into_a = _from_here(database_a, user=b["user"], password=b["password"])
    with pytest.raises(psycopg.OperationalError):  # b's role may not even connect to a's database
        psycopg.connect(into_a).close()

    # A redeploy keeps the database, its data and its URL; the release runs again.
    url_again, shown_again = _deployed(env, "db-a")
    assert shown_again["env"]["DATABASE_URL"] == database_a and "only in a" in shown_again["products"]
    with psycopg.connect(_from_here(database_a)) as conn:
        assert conn.execute("SELECT count(*) FROM release_marks").fetchone()[0] == 2


def test_a_failing_release_deploys_nothing_and_the_old_version_keeps_serving(world):
    _, env, _, root = world
    url, before = _deployed(env, "db-b")
    add_commit(root, "db-b", "deploybot.yml", CONFIG.replace(
        "python3 migrate.py", "python3 -c \"import sys; print('migration 7 failed'); sys.exit(4)\""))
    add_commit(root, "db-b", "app.py", "raise SystemExit('this version must never run')\n")
    failed = _deploybot(env, "deploy", "db-b")
    assert failed.returncode == 13, failed.stderr
    assert "exited with code 4" in failed.stderr and "migration 7 failed" in failed.stderr
    assert json.loads(page(url)) == before


def test_a_deploy_that_fails_before_the_app_ran_takes_the_database_it_made_away_again(world):
    postgres, env, _, _ = world
    failed = _deploybot(env, "deploy", "db-broken")
    assert failed.returncode == 4, failed.stderr  # the image build failed
    assert not _exists(postgres, "database", f"deploybot_{PREFIX}db-broken")
    assert not _exists(postgres, "role", f"deploybot_{PREFIX}db-broken")


def test_a_database_someone_else_made_is_never_touched(world):
    postgres, env, _, _ = world
    refused = _deploybot(env, "deploy", "db-theirs")
    assert refused.returncode == 12, refused.stderr
    assert f"`deploybot_{PREFIX}db-theirs` exists and is not deploybot's" in refused.stderr
    assert _exists(postgres, "database", f"deploybot_{PREFIX}db-theirs")


def test_a_torn_down_environment_takes_its_database_and_role_with_it(world):
    postgres, env, work, _ = world
    _deployed(env, "db-a")
    store = Store(engine_for(f"sqlite:///{work}/state.db"))
    (gone,) = [r for r in store.recall_all() if r.feature == "db-a" and r.terminated_at is None]
    store.request_teardown(gone.env_id, "U0ANA", "done testing", datetime.now(timezone.utc))
    reaped = _deploybot(env, "reap")  # torn down; its database is kept for a restore (DEPLOYBOT_RESTORE_WINDOW)
    assert reaped.returncode == 0, reaped.stderr + reaped.stdout
    assert "dropped the database" not in reaped.stdout and _exists(postgres, "database", f"deploybot_{PREFIX}db-a")
    reaped = _deploybot({**env, "DEPLOYBOT_RESTORE_WINDOW": "0"}, "reap")  # the window over: it goes
    assert reaped.returncode == 0, reaped.stderr + reaped.stdout
    assert f"dropped the database of {PREFIX}db-a" in reaped.stdout, reaped.stdout
    assert not _exists(postgres, "database", f"deploybot_{PREFIX}db-a")
    assert not _exists(postgres, "role", f"deploybot_{PREFIX}db-a")
    assert _exists(postgres, "database", f"deploybot_{PREFIX}db-b")
    assert _exists(postgres, "database", f"deploybot_{PREFIX}db-theirs")
