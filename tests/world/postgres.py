"""A throwaway PostgreSQL server for tests: a fresh cluster in a temporary directory.

Uses Debian's `postgresql` package (installed by scripts/setup.sh). The server refuses to run
as root, so when the tests run as root (here and in CI) its commands run as the `postgres` user.

    with Postgres() as server:
        url = server.new_database()  # postgresql+psycopg://postgres@127.0.0.1:PORT/db_...
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tests.world.processes import free_port

USER = "postgres"  # the cluster's superuser; trusted on 127.0.0.1, so no password


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are not installed."""


def bin_dir() -> Path:
    """/usr/lib/postgresql/<highest version>/bin."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        raise PostgresUnavailable(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); run scripts/setup.sh"
        )
    return Path(max(found, key=lambda path: int(Path(path).parts[-3]))).parent


class Postgres:
    def __init__(self, listen: tuple[str, ...] = ("127.0.0.1",)) -> None:
        """`listen`: the addresses it takes connections on (containers reach the host at its Docker bridge's)."""
        self.listen = listen
        self.bin = bin_dir()
        self.port = 0
        self.dir: Path | None = None

    def __enter__(self) -> Postgres:
        as_root = os.geteuid() == 0
        # Not pytest's tmp_path: that is private to root, and the server must reach its directory.
        self.dir = Path(tempfile.mkdtemp(prefix="deploybot-pg-", dir="/tmp" if as_root else None))
        try:
            if as_root:
                account = pwd.getpwnam(USER)
                os.chown(self.dir, account.pw_uid, account.pw_gid)
            self.port = free_port()
            self._run("initdb", "-D", self.data, "-U", USER, "--auth=trust", "-E", "UTF8", "--locale=C",
                      "--no-sync")
            self.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.dir is None:
            return
        try:
            if (Path(self.data) / "postmaster.pid").exists():
                self._run("pg_ctl", "stop", "-D", self.data, "-m", "fast", "-w")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def start(self) -> None:
        """Start the server (again, after `stop`), on the same port with the same data."""
        # -F: no fsync, the data is thrown away anyway. Unix sockets go in our directory, not
        # /var/run/postgresql, which may not exist or belong to another server.
        options = f"-h {','.join(self.listen)} -p {self.port} -k {self.dir} -F"
        self._run("pg_ctl", "start", "-D", self.data, "-l", self.log, "-w", "-t", "30", "-o", options)
        self._wait_ready()

    def stop(self) -> None:
        """Stop the server, keeping its data: the store becomes unreachable."""
        self._run("pg_ctl", "stop", "-D", self.data, "-m", "fast", "-w")

    @property
    def data(self) -> str:
        return str(self.dir / "data")

    @property
    def log(self) -> str:
        return str(self.dir / "server.log")

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of `database` on this server."""
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres", **kwargs):
        import psycopg  # imported here so test runs without PostgreSQL don't need the driver

        return psycopg.connect(host="127.0.0.1", port=self.port, user=USER, dbname=database, **kwargs)

    def new_database(self, name: str | None = None) -> str:
        """Create an empty database (a fresh name unless given) and return its SQLAlchemy URL."""
        from psycopg import sql

        name = name or f"db_{uuid.uuid4().hex[:12]}"
        with self.connect(autocommit=True) as conn:  # CREATE DATABASE can't run in a transaction
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", USER, "--", *command]
        # cwd: the postgres user can't enter root's working directory, and initdb complains.
        result = subprocess.run(command, cwd=self.dir, capture_output=True, text=True)
        if result.returncode != 0:
            log = Path(self.log).read_text()[-3000:] if Path(self.log).exists() else ""
            raise RuntimeError(f"{program} exited with {result.returncode}:\n{result.stdout}{result.stderr}{log}")

    def _wait_ready(self, timeout: float = 30) -> None:
        # pg_ctl -w already waited for the server; this also proves TCP on 127.0.0.1 works.
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.connect(connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


# An operator's database server for deploybot.yml's `database:` (deployer/databases.py): passwords checked on
# TCP, an admin role that may create databases and roles (DEPLOYBOT_DATABASE_URL's), a template to copy.
ADMIN, ADMIN_PASSWORD = "deploybot_admin", "admin-secret-7f3k"
PASSWORDS_CHECKED = """\
local all all trust
host all postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
"""


def as_operators_server(server: Postgres, template: str = "shop_seed", containers: str | None = None) -> str:
    """Make `server` an operator's (its authentication changes: a server of its own, not the shared one);
    returns the admin URL deploybot is given. `containers`: a CIDR whose apps may log in with a password."""
    from psycopg import sql

    rules = PASSWORDS_CHECKED + (f"host all all {containers} scram-sha-256\n" if containers else "")
    (Path(server.data) / "pg_hba.conf").write_text(rules)  # writing keeps the file's owner
    with server.connect(autocommit=True) as conn:
        conn.execute("SELECT pg_reload_conf()")
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB CREATEROLE PASSWORD {}").format(
            sql.Identifier(ADMIN), sql.Literal(ADMIN_PASSWORD)))
    seed_template(server, template, owner=ADMIN)
    return admin_url(server)


def seed_template(server: Postgres, name: str, *, owner: str) -> None:
    """A template as an operator makes one: its tables owned by `owner`, marked IS_TEMPLATE."""
    from psycopg import sql

    with server.connect(autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))
    with server.connect(name, autocommit=True) as conn:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(owner)))
        conn.execute("CREATE TABLE products (id serial PRIMARY KEY, name text NOT NULL)")
        conn.execute("INSERT INTO products (name) VALUES ('kettle'), ('teapot')")
        conn.execute("CREATE VIEW product_names AS SELECT name FROM products")
    with server.connect(autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} IS_TEMPLATE true").format(sql.Identifier(name)))


def admin_url(server: Postgres, user: str = ADMIN, password: str = ADMIN_PASSWORD, port: int | None = None) -> str:
    return f"postgresql://{user}:{password}@127.0.0.1:{port or server.port}/postgres"
