"""The git URL's credentials (https://user:token@host/...) reach git through GIT_ASKPASS, never its
command line, which any local user can read in /proc; git and ssh get none of the bot's own secrets.

Against a real git host over HTTP that asks for a password (git's "dumb" protocol, served by
Python's http.server behind Basic authentication), with the real git seen through a shim on PATH
that writes down each command line and environment before it hands over."""
from __future__ import annotations

import base64
import functools
import os
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from deployer.build.git import GitRepo
from deployer.errors import ConfigError
from tests.world.apprepo import make_app_repo

USER, TOKEN = "deploy", "s3cr3t-t0ken"


class _AskingHost(SimpleHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        expected = "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def host(tmp_path: Path):
    make_app_repo(tmp_path / "app")
    bare = tmp_path / "www" / "app.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(tmp_path / "app"), str(bare)], check=True)
    subprocess.run(["git", "--git-dir", str(bare), "update-server-info"], check=True)
    sha = subprocess.run(["git", "--git-dir", str(bare), "rev-parse", "feature-x"], check=True,
                         capture_output=True, text=True).stdout.strip()
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(_AskingHost, directory=str(tmp_path / "www")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}/app.git", sha
    server.shutdown()


@pytest.fixture
def seen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each git run's command line and environment, as /proc shows them to anyone on the machine."""
    shim, record = tmp_path / "shim", tmp_path / "seen.txt"
    shim.mkdir()
    real = shutil.which("git")
    (shim / "git").write_text(f'#!/bin/sh\n{{ echo "argv: $*"; env | sed "s/^/env: /"; }} >> {record}\n'
                              f'exec {real} "$@"\n')
    (shim / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}:{os.environ['PATH']}")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-not-for-git")
    monkeypatch.setenv("DEPLOYBOT_STATE", "postgresql+psycopg://bot:db-password@db/deploybot")
    return record


def test_the_token_reaches_git_by_askpass_and_is_on_no_command_line(host, seen, tmp_path):
    where, sha = host
    repo = GitRepo(f"http://{USER}:{TOKEN}@{where}", tmp_path / "work" / "git")
    assert repo.reachability_problem() is None
    assert repo.resolve("feature-x").sha == sha
    lines = seen.read_text().splitlines()
    argv = [line for line in lines if line.startswith("argv: ")]
    assert any(f"http://{where}" in line for line in argv)  # the URL, without who asks
    assert not [line for line in argv if TOKEN in line or f"{USER}@" in line]
    env = [line for line in lines if line.startswith("env: ")]
    assert not [line for line in env if "xoxb-not-for-git" in line or "db-password" in line]


def test_a_wrong_token_is_a_clear_error_that_shows_no_token(host, seen, tmp_path):
    where, _ = host
    repo = GitRepo(f"http://{USER}:wrong-{TOKEN}@{where}", tmp_path / "work" / "git")
    with pytest.raises(ConfigError) as refused:
        repo.resolve("feature-x")
    assert f"http://{where}" in str(refused.value) and TOKEN not in str(refused.value)
    assert TOKEN not in (repo.reachability_problem() or "")
