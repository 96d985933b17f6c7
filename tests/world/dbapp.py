"""An app for the e2e tests of deploybot.yml's `database:` and `release:`: on `/` it answers, as JSON, the
variables deploybot gave it and what its own database holds; its release command creates a table.

It runs on `deploybot-test/python:3.11` (scripts/python-image.sh) with pg8000, a pure-Python PostgreSQL
driver copied from this machine's .venv into the branch (nothing is downloaded while the tests run).
"""
from __future__ import annotations

import importlib
import importlib.metadata
from pathlib import Path

PYTHON_IMAGE = "deploybot-test/python:3.11"
VENDORED = ("pg8000", "scramp", "asn1crypto", "dateutil", "six")
DISTRIBUTIONS = ("pg8000", "scramp", "asn1crypto", "python-dateutil", "six")  # some ask their own version

APP = '''\
import json, os, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import pg8000.native


def connect():
    url = urllib.parse.urlsplit(os.environ["DATABASE_URL"])
    return pg8000.native.Connection(url.username, host=url.hostname, port=url.port, database=url.path[1:],
                                    password=urllib.parse.unquote(url.password))


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        conn = connect()
        try:
            products = [row[0] for row in conn.run("SELECT name FROM products ORDER BY id")]
            migrated = conn.run("SELECT to_regclass('public.release_marks') IS NOT NULL")[0][0]
        finally:
            conn.close()
        shown = {k: v for k, v in os.environ.items() if k in ("GREETING", "DATABASE_URL", "DEPLOYBOT_FEATURE")}
        body = json.dumps({"env": shown, "products": products, "migrated": migrated}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
'''

MIGRATE = '''\
import app_db
conn = app_db.connect()
conn.run("CREATE TABLE IF NOT EXISTS release_marks (at timestamptz DEFAULT now())")
conn.run("INSERT INTO release_marks DEFAULT VALUES")
print("migrated: release_marks")
'''

DOCKERFILE = f"""\
FROM {PYTHON_IMAGE}
COPY . /app
WORKDIR /app
ENV PYTHONPATH=/app/vendor
CMD ["python3", "/app/app.py"]
"""


def files(deploybot_yml: str) -> dict[str, str]:
    """The branch's files: the app, its migration, the vendored driver and `deploybot_yml`."""
    vendored = {}
    for name in VENDORED:
        module = importlib.import_module(name)
        origin = Path(module.__file__)
        if origin.name == "__init__.py":
            for path in origin.parent.rglob("*.py"):
                vendored[f"vendor/{name}/{path.relative_to(origin.parent)}"] = path.read_text()
        else:
            vendored[f"vendor/{origin.name}"] = origin.read_text()
    for name in DISTRIBUTIONS:
        dist = importlib.metadata.distribution(name)
        vendored[f"vendor/{dist.metadata['Name']}-{dist.version}.dist-info/METADATA"] = dist.read_text("METADATA") or ""
    return {"Dockerfile": DOCKERFILE, "app.py": APP, "app_db.py": APP.split("\n\nclass Handler")[0] + "\n",
            "migrate.py": MIGRATE, "deploybot.yml": deploybot_yml, **vendored}
