"""A PostgreSQL database of its own for each environment, on the operator's server (issue 20).

`deploybot.yml`'s `database:` asks for one: empty, or a copy of a template database. deploybot
connects with the operator's admin role (DEPLOYBOT_DATABASE_URL: CREATEDB and CREATEROLE) and
makes, per environment, a role that may log in and nothing else, and a database that role owns.

Ownership is recorded twice, in deploybot's store (table `databases`) and in a comment on the
database and on the role (`deploybot: environment <name>`): `drop` removes only what both say
deploybot made for that environment. The role's password is generated once and kept in the
store, so a redeploy hands the app the same URL and a running app keeps working meanwhile.

The top of the module is pure (names, passwords, URLs, SQL); `Databases` is the gateway, which
turns psycopg's errors into `DatabaseError`s that say what failed and what to do.
"""
from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import quote, urlsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from deployer.errors import DatabaseError
from deployer.store.records import DatabaseRecord
from deployer.store.state import Store

log = logging.getLogger(__name__)

PREFIX = "deploybot_"
MAX_IDENTIFIER = 63  # PostgreSQL's NAMEDATALEN - 1, in bytes
HASH_LEN = 8
PASSWORD_BYTES = 32
CONNECT_TIMEOUT = 10  # seconds
_HASHED_TAIL = re.compile(rf"-[0-9a-f]{{{HASH_LEN}}}$")
_PLAIN = re.compile(r"^[a-z0-9-]+$")
_SYSTEM_SCHEMAS = "n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# names, passwords, URLs ----------------------------------------------------------


def database_name(env_name: str) -> str:
    """`deploybot_<env_name>`: lowercase, at most 63 bytes, distinct per environment name.

    The name is used as it is when it is already lowercase letters, digits and hyphens and fits;
    otherwise (changed, or too long) its slug is cut and a hash of the whole name appended, as
    deployer/naming.py does for environment names. The role has the same name (another namespace).
    """
    slug = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", env_name.lower())).strip("-")
    exact = slug == env_name and bool(_PLAIN.match(slug)) and not _HASHED_TAIL.search(slug)
    if exact and len(PREFIX) + len(slug) <= MAX_IDENTIFIER:
        return PREFIX + slug
    digest = hashlib.sha256(env_name.encode()).hexdigest()[:HASH_LEN]
    head = slug[:MAX_IDENTIFIER - len(PREFIX) - HASH_LEN - 1].rstrip("-")
    return f"{PREFIX}{head}-{digest}" if head else f"{PREFIX}{digest}"


def ownership_mark(env_name: str) -> str:
    """The comment deploybot puts on the database and the role it made for `env_name`."""
    return f"deploybot: environment {env_name}"


def new_password() -> str:
    """URL-safe, so it needs no quoting in the app's URL."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


def normalised_url(admin_url: str) -> str:
    """A libpq URL: SQLAlchemy's `postgresql+psycopg://` spelling is accepted too."""
    scheme, sep, rest = admin_url.partition("://")
    if not sep or scheme.split("+")[0] not in ("postgresql", "postgres"):
        raise DatabaseError("DEPLOYBOT_DATABASE_URL is not a PostgreSQL URL: write "
                            "postgresql://user:password@host:port/database.")
    return f"postgresql://{rest}"


def app_address(admin_url: str, host_override: str | None = None) -> tuple[str, int]:
    """Where apps reach the server: DEPLOYBOT_DATABASE_HOST (`host` or `host:port`) when set, else the
    admin URL's host and port (5432 when it names none)."""
    params = conninfo_to_dict(normalised_url(admin_url))
    port = int(str(params.get("port") or 5432).split(",")[0])
    if host_override:
        parts = urlsplit(f"//{host_override}")
        return parts.hostname or host_override, parts.port or port
    host = str(params.get("host") or "").split(",")[0]
    if not host or host.startswith("/"):
        raise DatabaseError("DEPLOYBOT_DATABASE_URL reaches the server through a Unix socket, which apps can't "
                            "use: set DEPLOYBOT_DATABASE_HOST to the host (and port) apps reach it at.")
    return host, port


def app_url(host: str, port: int, role: str, password: str, name: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"postgresql://{quote(role, safe='')}:{quote(password, safe='')}@{shown}:{port}/{quote(name, safe='')}"


# SQL ----------------------------------------------------------------------------


def create_role_sql(role: str, verifier: str, mark: str) -> list[sql.Composed]:
    """A role that may log in and do nothing else; `verifier` is the hashed password (SCRAM), so the
    password itself never reaches the server's log."""
    return [
        sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
                "PASSWORD {}").format(sql.Identifier(role), sql.Literal(verifier)),
        sql.SQL("COMMENT ON ROLE {} IS {}").format(sql.Identifier(role), sql.Literal(mark)),
    ]


def create_database_sql(name: str, role: str, template: str | None) -> sql.Composed:
    query = sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(role))
    if template:
        query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    return query


def mark_database_sql(name: str, mark: str) -> list[sql.Composed]:
    """The ownership comment, and no one but its owner may connect (PUBLIC may, by default)."""
    return [
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(mark)),
        sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)),
    ]


def grant_to_admin_sql(role: str, server_version: int) -> sql.Composed:
    """The admin role must be able to act as the new role to make it a database's owner (and to end its
    sessions); PostgreSQL 16 gives the role's creator only the ADMIN option unless asked."""
    query = sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(role))
    return query + sql.SQL(" WITH INHERIT TRUE, SET TRUE") if server_version >= 160000 else query


def drop_database_sql(name: str, server_version: int) -> sql.Composed:
    query = sql.SQL("DROP DATABASE {}").format(sql.Identifier(name))
    return query + sql.SQL(" WITH (FORCE)") if server_version >= 130000 else query


TERMINATE_SQL = sql.SQL("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()")
DATABASE_SQL = sql.SQL("SELECT shobj_description(oid, 'pg_database'), datistemplate FROM pg_database "
                       "WHERE datname = %s")
ROLE_SQL = sql.SQL("SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s")
_NOT_EXTENSION_MEMBER = ("NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = {oid} AND d.deptype = 'e')")
# A template's objects the admin role may hand over (it can act for their owner), the role's excepted.
SCHEMAS_SQL = sql.SQL(
    "SELECT n.nspname FROM pg_namespace n WHERE " + _SYSTEM_SCHEMAS + " AND n.nspowner <> "
    "(SELECT oid FROM pg_roles WHERE rolname = %(role)s) AND pg_has_role(n.nspowner, 'USAGE') AND "
    + _NOT_EXTENSION_MEMBER.format(oid="n.oid"))
_RELATIONS = (
    "SELECT n.nspname, c.relname, c.relkind, pg_get_userbyid(c.relowner) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE " + _SYSTEM_SCHEMAS + " AND c.relkind IN "
    "('r', 'p', 'v', 'm', 'S', 'f') AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = %(role)s) AND "
    + _NOT_EXTENSION_MEMBER.format(oid="c.oid") +
    # A serial or identity column's sequence follows its table.
    " AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid "
    "AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))")
RELATIONS_SQL = sql.SQL(_RELATIONS + " AND pg_has_role(c.relowner, 'USAGE') ORDER BY 1, 2")
FOREIGN_RELATIONS_SQL = sql.SQL(_RELATIONS + " AND NOT pg_has_role(c.relowner, 'USAGE') ORDER BY 1, 2 LIMIT 3")
_RELATION_KINDS = {"r": "TABLE", "p": "TABLE", "f": "FOREIGN TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW",
                   "S": "SEQUENCE"}


def hand_over_sql(kind: str, schema: str, relation: str, role: str) -> sql.Composed:
    return sql.SQL("ALTER {} {}.{} OWNER TO {}").format(
        sql.SQL(_RELATION_KINDS[kind]), sql.Identifier(schema), sql.Identifier(relation), sql.Identifier(role))


# the gateway ---------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseGrant:
    """What the app is given: `url` (with the role's password: a secret) in its `env` variable."""

    url: str = field(repr=False)
    name: str
    role: str
    created: bool  # made by this call: a deploy that fails before anything used it drops it again
    password: str = field(repr=False, default="")  # for redaction: the app may print it


@dataclass(frozen=True)
class _Found:
    exists: bool
    comment: str | None = None
    is_template: bool = False


class Databases:
    """Per-environment databases on the server of `admin_url` (DEPLOYBOT_DATABASE_URL).

    `host`: DEPLOYBOT_DATABASE_HOST, where apps reach the server when that differs from the admin URL's
    host (`host.docker.internal` for the local provider, the RDS endpoint...). Callers hold the
    environment's claim: one writer per environment, so these calls never race each other for it.
    """

    def __init__(self, admin_url: str, store: Store, *, host: str | None = None,
                 clock: Callable[[], datetime] = utcnow, connect_timeout: int = CONNECT_TIMEOUT) -> None:
        self._url = normalised_url(admin_url)
        self._store = store
        self._host = host
        self._clock = clock
        self._timeout = connect_timeout
        params = conninfo_to_dict(self._url)
        self._where = f"{params.get('host') or 'the local socket'}, port {params.get('port') or 5432}"

    # public -----------------------------------------------------------------------
    def ensure(self, env_name: str, template: str | None = None) -> DatabaseGrant:
        """The environment's database and role, made when missing (from `template` when given), reused
        with their password when there. `template` matters only when the database is made."""
        record = self._store.database(env_name)
        fresh = record is None
        if record is None:
            name = database_name(env_name)
            record = DatabaseRecord(env_name, name, name, new_password(), template, self._clock())
        host, port = app_address(self._url, self._host)
        with self._admin() as conn:
            self._check_names(conn, record, fresh)
            missing = not self._database(conn, record.name).exists
            if missing and template:
                self._check_template(conn, template)
            if fresh:  # first the record: a crash from here on leaves something `drop` can find
                self._store.record_database(record)
            self._make(conn, record, template if missing else None, fresh=fresh, missing=missing)
        url = app_url(host, port, record.role, record.password, record.name)
        return DatabaseGrant(url, record.name, record.role, missing, record.password)

    def drop(self, env_name: str) -> bool:
        """Drop the environment's database (ending its sessions) and role; False when deploybot made none for
        it. Refuses (DatabaseError), touching nothing, when either is there but not marked as its."""
        record = self._store.database(env_name)
        if record is None:
            return False
        mark = ownership_mark(env_name)
        with self._admin() as conn:
            database, role = self._database(conn, record.name), self._role(conn, record.role)
            if database.exists and database.comment != mark:
                raise _not_ours("Database", record.name, env_name)
            if role.exists and role.comment != mark:
                raise _not_ours("Role", record.role, env_name)
            if database.exists:
                self._drop_database(conn, record.name)
            if role.exists:
                self._run(conn, sql.SQL("DROP ROLE {}").format(sql.Identifier(record.role)), record.role)
        self._store.forget_database(env_name)
        log.info("dropped database %s and role %s of environment %s", record.name, record.role, env_name)
        return True

    def orphans(self, live_env_names: Iterable[str]) -> list[DatabaseRecord]:
        """deploybot's databases whose environment is not among `live_env_names`: for the reaper to
        report, never to drop on its own."""
        live = set(live_env_names)
        return [record for record in self._store.databases() if record.env_name not in live]

    # making ----------------------------------------------------------------------
    def _check_names(self, conn: psycopg.Connection, record: DatabaseRecord, fresh: bool) -> None:
        """Before anything is made: the names are free, or hold what deploybot made for this environment."""
        mark = ownership_mark(record.env_name)
        for kind, found, name in (("Database", self._database(conn, record.name), record.name),
                                  ("Role", self._role(conn, record.role), record.role)):
            if found.exists and found.comment != mark:
                raise _not_ours(kind, name, record.env_name)
            if found.exists and fresh:
                raise DatabaseError(
                    f"{kind} `{name}` is marked as deploybot's for environment `{record.env_name}`, but this "
                    "deploybot has no record of it (another deploybot uses the same server, or its store was "
                    "replaced): drop it yourself if nothing uses it, then deploy again.")

    def _make(self, conn: psycopg.Connection, record: DatabaseRecord, template: str | None, *, fresh: bool,
              missing: bool) -> None:
        """Make what is missing; on failure undo what this call made, so nothing is left half-made."""
        made_role, made_database = not self._role(conn, record.role).exists, False
        try:
            self._ensure_role(conn, record, made_role)
            if missing:
                self._run(conn, create_database_sql(record.name, record.role, template), record.name,
                          template=template)
                made_database = True
                self._finish_database(record, template, conn)
        except BaseException:
            self._undo(conn, record, made_role=made_role, made_database=made_database, fresh=fresh)
            raise

    def _ensure_role(self, conn: psycopg.Connection, record: DatabaseRecord, missing: bool) -> None:
        verifier = conn.pgconn.encrypt_password(record.password.encode(), record.role.encode()).decode()
        if missing:
            for query in create_role_sql(record.role, verifier, ownership_mark(record.env_name)):
                self._run(conn, query, record.role)
        else:  # the stored password, again: a running app's URL keeps working
            self._run(conn, sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(record.role), sql.Literal(verifier)), record.role)
        self._run(conn, grant_to_admin_sql(record.role, conn.info.server_version), record.role)

    def _check_template(self, conn: psycopg.Connection, template: str) -> None:
        found = self._database(conn, template)
        if not found.exists:
            raise DatabaseError(f"The template database `{template}` (deploybot.yml, `database.template`) does not "
                                f"exist on {self._where}: create it, or correct the name in deploybot.yml.")
        if not found.is_template:
            # Else a branch could copy any database the admin role reaches: another environment's, the store.
            raise DatabaseError(
                f"Database `{template}` is not marked as a template, and deploybot copies only databases an "
                f"operator marked: run `ALTER DATABASE \"{template}\" IS_TEMPLATE true` as its owner, or name "
                "another template in deploybot.yml.")

    def _finish_database(self, record: DatabaseRecord, template: str | None, conn: psycopg.Connection) -> None:
        for query in mark_database_sql(record.name, ownership_mark(record.env_name)):
            self._run(conn, query, record.name)
        if template:
            self._hand_over(record, template)
        log.info("created database %s for environment %s%s", record.name, record.env_name,
                 f" from template {template}" if template else "")

    def _hand_over(self, record: DatabaseRecord, template: str) -> None:
        """A copy's schemas, tables, views and sequences keep the template's owners: give the environment's
        role those the admin role may give, and refuse a copy whose tables the app could not use."""
        with self._connect(dbname=record.name) as conn, conn.transaction():
            args = {"role": record.role}
            for (schema,) in conn.execute(SCHEMAS_SQL, args).fetchall():
                conn.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(
                    sql.Identifier(schema), sql.Identifier(record.role)))
            for schema, relation, kind, _ in conn.execute(RELATIONS_SQL, args).fetchall():
                conn.execute(hand_over_sql(kind, schema, relation, record.role))
            others = conn.execute(FOREIGN_RELATIONS_SQL, args).fetchall()
        if others:
            shown = ", ".join(f"`{schema}.{relation}` (role `{owner}`)" for schema, relation, _, owner in others)
            raise DatabaseError(
                f"The template database `{template}` holds tables the environment's role could not use and "
                f"deploybot's admin role can't hand over: {shown}. Make the admin role their owner in the template "
                "(ALTER TABLE … OWNER TO it), then deploy again.")

    def _undo(self, conn: psycopg.Connection, record: DatabaseRecord, *, made_role: bool, made_database: bool,
              fresh: bool) -> None:
        try:
            if made_database and self._database(conn, record.name).exists:
                self._drop_database(conn, record.name)
            if made_role and self._role(conn, record.role).exists:
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(record.role)))
        except (psycopg.Error, DatabaseError):
            log.exception("could not undo the half-made database %s of environment %s; drop cleans it up",
                          record.name, record.env_name)
            return
        if fresh:
            self._store.forget_database(record.env_name)

    # reading and dropping -------------------------------------------------------------
    def _database(self, conn: psycopg.Connection, name: str) -> _Found:
        row = conn.execute(DATABASE_SQL, [name]).fetchone()
        return _Found(True, row[0], bool(row[1])) if row else _Found(False)

    def _role(self, conn: psycopg.Connection, name: str) -> _Found:
        row = conn.execute(ROLE_SQL, [name]).fetchone()
        return _Found(True, row[0]) if row else _Found(False)

    def _drop_database(self, conn: psycopg.Connection, name: str) -> None:
        conn.execute(TERMINATE_SQL, [name])
        self._run(conn, drop_database_sql(name, conn.info.server_version), name)

    # the connection and its errors --------------------------------------------------------
    @contextmanager
    def _admin(self) -> Iterator[psycopg.Connection]:
        """The admin connection, in autocommit: CREATE DATABASE can't run in a transaction."""
        with self._connect() as conn:
            yield conn

    @contextmanager
    def _connect(self, **params: object) -> Iterator[psycopg.Connection]:
        try:
            conn = psycopg.connect(self._url, autocommit=True, connect_timeout=self._timeout, **params)
        except psycopg.OperationalError as error:
            raise self._connect_error(error) from None
        with conn:
            yield conn

    def _connect_error(self, error: psycopg.OperationalError) -> DatabaseError:
        # The driver's text is read, never repeated: it names the server, and may one day name more.
        text = str(error).lower()
        user = conninfo_to_dict(self._url).get("user") or "(the default user)"
        if error.sqlstate in ("28P01", "28000") or "authentication failed" in text or "no password" in text:
            return DatabaseError(f"The database server at {self._where} refused the login of `{user}` "
                                 "(DEPLOYBOT_DATABASE_URL): check the user name and password.")
        if error.sqlstate == "3D000" or ("database" in text and "does not exist" in text):
            return DatabaseError(f"The database named in DEPLOYBOT_DATABASE_URL does not exist on {self._where}: "
                                 "name one that does (`postgres` will do).")
        return DatabaseError(f"The database server at {self._where} can't be reached: check that it runs and that "
                             "deploybot's machine may connect to it (DEPLOYBOT_DATABASE_URL).")

    def _run(self, conn: psycopg.Connection, query: sql.Composable, name: str, *,
             template: str | None = None) -> None:
        try:
            conn.execute(query)
        except psycopg.Error as error:
            raise _statement_error(error, name, template) from None


def _not_ours(kind: str, name: str, env_name: str) -> DatabaseError:
    return DatabaseError(
        f"{kind} `{name}` exists and is not deploybot's (not made for environment `{env_name}`): "
        "rename or drop it yourself; deploybot never touches it.")


def _statement_error(error: psycopg.Error, name: str, template: str | None) -> DatabaseError:
    state = error.sqlstate
    if state == "55006" and template:  # object_in_use
        return DatabaseError(
            f"The template database `{template}` is in use: PostgreSQL copies a database only while nobody is "
            "connected to it. Close the sessions on it (psql, an app, a pgAdmin tab), then deploy again.")
    if state == "3D000" and template:  # undefined_database
        return DatabaseError(f"The template database `{template}` does not exist: create it, or correct the name "
                             "in deploybot.yml.")
    if state == "42501":  # insufficient_privilege
        return DatabaseError(
            f"deploybot's admin role may not do this for `{name}` ({_first_line(error)}): give it CREATEDB and "
            "CREATEROLE (`ALTER ROLE … CREATEDB CREATEROLE`), and mark templates with IS_TEMPLATE.")
    if state in ("42P04", "42710"):  # duplicate_database, duplicate_object: made meanwhile by someone else
        return DatabaseError(f"`{name}` was made by someone else meanwhile: rename or drop it yourself.")
    if state == "2BP01":  # dependent_objects_still_exist
        return DatabaseError(f"Role `{name}` still owns objects or holds rights elsewhere on the server, so it was "
                             f"not dropped: {_first_line(error)}. Remove them, then tear down again.")
    if state == "55006":
        return DatabaseError(f"Database `{name}` is still in use and was not dropped: try again in a moment.")
    return DatabaseError(f"The database server refused a step for `{name}`: {_first_line(error)}.")


def _first_line(error: psycopg.Error) -> str:
    """The server's own words (diag.message_primary: no URL, no password), first line only."""
    primary = error.diag.message_primary if error.diag else None
    return (primary or type(error).__name__).splitlines()[0]
