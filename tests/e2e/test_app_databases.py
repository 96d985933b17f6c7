"""deploybot.yml's `database:` end to end on the local provider and a real PostgreSQL server: each branch gets
a database and role of its own (a copy of a template), sees only its own data, loses it when its environment
is torn down, and a database someone else made is never touched."""
from __future__ import annotations

from datetime import datetime, timezone

import psycopg
import pytest
from psycopg import sql

from deployer.store.state import Store, engine_for
from tests.e2e.helpers import page
from tests.e2e.test_cli import _deploybot
from tests.world.apprepo import BASE_IMAGE, make_app_repo
from tests.world.dockerenv import docker_client
from tests.world.postgres import Postgres, PostgresUnavailable, as_operators_server

pytestmark = pytest.mark.e2e

PREFIX = "tdb-"
SHOWS_ITS_ENV = {
    "Dockerfile": (f'FROM {BASE_IMAGE}\nCOPY index.html /www/index.html\n'
                   'CMD ["sh", "-c", "env | sort > /www/env.txt; exec httpd -f -p 8080 -h /www"]\n'),
    "deploybot.yml": "database:\n  template: shop_seed\n",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory, docker_world):
    try:
        postgres = Postgres()
    except PostgresUnavailable as err:
        pytest.skip(str(err))
    with postgres:  # a server of its own: its authentication is changed
        admin = as_operators_server(postgres)
        with postgres.connect(autocommit=True) as conn:
            # Someone else's database, with the name deploybot would give branch db-theirs.
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(f"deploybot_{PREFIX}db-theirs")))
        root = tmp_path_factory.mktemp("db-repo")
        url = make_app_repo(root, {b: SHOWS_ITS_ENV for b in ("db-a", "db-b", "db-theirs")})
        work = tmp_path_factory.mktemp("db-work")
        env = {
            "DEPLOYBOT_GIT_URL": url, "DEPLOYBOT_PUBLIC_URL": "http://127.0.0.1",
            "DEPLOYBOT_LOCAL_PORTS": "24000-24499", "DEPLOYBOT_ENV_PREFIX": PREFIX,
            "DEPLOYBOT_ECR_REPOSITORY": "db-tests", "DEPLOYBOT_DEPLOY_TIMEOUT": "30s",
            "DEPLOYBOT_WORK_DIR": str(work), "DEPLOYBOT_STATE": f"sqlite:///{work}/state.db",
            "DOCKER_HOST": "unix:///var/run/docker.sock",
            "DEPLOYBOT_DATABASE_URL": admin,
        }
        client = docker_client()
        yield postgres, env, work
        for container in client.containers.list(all=True, filters={"name": f"deploybot-{PREFIX}"}, ignore_removed=True):
            container.remove(force=True)


def _database_url(env: dict, branch: str) -> str:
    deployed = _deploybot(env, "deploy", branch)
    assert deployed.returncode == 0, deployed.stderr
    variables = dict(line.split("=", 1) for line in page(f"{deployed.stdout.strip()}/env.txt").splitlines())
    return variables["DATABASE_URL"]


def test_each_branch_gets_a_copy_of_the_template_of_its_own_and_sees_only_its_data(world):
    postgres, env, _ = world
    url_a, url_b = _database_url(env, "db-a"), _database_url(env, "db-b")
    assert url_a != url_b
    with psycopg.connect(url_a, autocommit=True) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM products ORDER BY id")] == ["kettle", "teapot"]
        conn.execute("INSERT INTO products (name) VALUES ('only in a')")
    with psycopg.connect(url_b, autocommit=True) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM products ORDER BY id")] == ["kettle", "teapot"]
    b = psycopg.conninfo.conninfo_to_dict(url_b)
    into_a = psycopg.conninfo.make_conninfo(url_a, user=b["user"], password=b["password"])
    with pytest.raises(psycopg.OperationalError):  # b's role may not even connect to a's database
        psycopg.connect(into_a).close()
    # A redeploy keeps the database, its data and its URL.
    assert _database_url(env, "db-a") == url_a
    with psycopg.connect(url_a) as conn:
        assert conn.execute("SELECT count(*) FROM products").fetchone()[0] == 3


def test_a_database_someone_else_made_is_never_touched(world):
    postgres, env, _ = world
    refused = _deploybot(env, "deploy", "db-theirs")
    assert refused.returncode == 12, refused.stderr
    assert f"`deploybot_{PREFIX}db-theirs` exists and is not deploybot's" in refused.stderr
    with postgres.connect(autocommit=True) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (f"deploybot_{PREFIX}db-theirs",)).fetchone()


def test_a_torn_down_environment_takes_its_database_and_role_with_it(world):
    postgres, env, work = world
    _database_url(env, "db-b")
    store = Store(engine_for(f"sqlite:///{work}/state.db"))
    (gone,) = [r for r in store.recall_all() if r.feature == "db-b" and r.terminated_at is None]
    store.request_teardown(gone.env_id, "U0ANA", "done testing", datetime.now(timezone.utc))
    reaped = _deploybot(env, "reap")
    assert reaped.returncode == 0, reaped.stderr + reaped.stdout
    assert f"dropped the database of {PREFIX}db-b" in reaped.stdout, reaped.stdout
    with postgres.connect(autocommit=True) as conn:
        assert not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                (f"deploybot_{PREFIX}db-b",)).fetchone()
        assert not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (f"deploybot_{PREFIX}db-b",)).fetchone()
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (f"deploybot_{PREFIX}db-a",)).fetchone()
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (f"deploybot_{PREFIX}db-theirs",)).fetchone()
