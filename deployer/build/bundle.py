"""Source bundles: the Dockerrun file rendered for one deploy, zipped. Pure."""
from __future__ import annotations

import io
import json
import re
import string
import zipfile
from collections.abc import Mapping

from deployer.errors import BundleInvalid

DOCKERRUN = "Dockerrun.aws.json"

# Used when the application's repository has no template: Beanstalk's multicontainer
# Docker platform reads Dockerrun v2.
DEFAULT_TEMPLATE = """{
  "AWSEBDockerrunVersion": 2,
  "containerDefinitions": [
    {
      "name": "app",
      "image": "${IMAGE}",
      "essential": true,
      "memory": 512,
      "portMappings": [{"hostPort": 80, "containerPort": ${APP_PORT}}],
      "environment": [
        {"name": "DEPLOYBOT_FEATURE", "value": "${FEATURE}"},
        {"name": "DEPLOYBOT_COMMIT", "value": "${COMMIT}"}
      ]
    }
  ]
}
"""


def render_dockerrun(template: str | None, values: Mapping[str, str | int], *, source: str = "template") -> str:
    """Fill `${NAME}` placeholders (values JSON-escaped) and check the result is a Dockerrun file.

    Raises BundleInvalid naming the template and the problem: an unknown placeholder,
    invalid JSON, or no `AWSEBDockerrunVersion`.
    """
    text = DEFAULT_TEMPLATE if template is None else template
    unknown = sorted(set(_placeholders(text)) - set(values))
    if unknown:
        known = ", ".join("${%s}" % k for k in sorted(values))
        raise BundleInvalid(f"{source} uses unknown placeholders {', '.join(unknown)}; known: {known}.")
    escaped = {k: json.dumps(v)[1:-1] if isinstance(v, str) else str(v) for k, v in values.items()}
    rendered = string.Template(text).safe_substitute(escaped)
    try:
        document = json.loads(rendered)
    except json.JSONDecodeError as exc:
        raise BundleInvalid(f"{source} is not valid JSON once filled in: {exc.msg} (line {exc.lineno}).") from None
    if not isinstance(document, dict) or "AWSEBDockerrunVersion" not in document:
        raise BundleInvalid(f"{source} has no AWSEBDockerrunVersion: it is not a Dockerrun file.")
    return rendered


def template_shape(template: str, image: str, *, source: str = "template") -> dict:
    """The template as the instance would read it, as far as its keys and its image go: `${IMAGE}`
    filled in, every other placeholder by a stand-in (values only: a placeholder can't make a key
    deploybot allows). BundleInvalid as render_dockerrun, minus unknown placeholders."""
    values: dict[str, str | int] = {name: 0 for name in _placeholders(template)}
    return json.loads(render_dockerrun(template, {**values, "IMAGE": image}, source=source))


def _placeholders(text: str) -> list[str]:
    return [m.group(1) or m.group(2) for m in re.finditer(r"\$(?:\{(\w+)\}|(\w+))", text.replace("$$", ""))]


def make_bundle(files: Mapping[str, str]) -> bytes:
    """A zip with fixed timestamps, so the same files always give the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name])
    return buffer.getvalue()
