import io
import json
import zipfile

import pytest

from deployer.build.bundle import DOCKERRUN, make_bundle, render_dockerrun
from deployer.errors import BundleInvalid

VALUES = {"IMAGE": "127.0.0.1:5000/app:deploybot-abc", "APP_PORT": 8080, "FEATURE": 'we"ird', "COMMIT": "abc"}


def test_builtin_template_is_dockerrun_v2_with_the_image_and_port():
    doc = json.loads(render_dockerrun(None, VALUES))
    assert doc["AWSEBDockerrunVersion"] == 2
    (container,) = doc["containerDefinitions"]
    assert container["image"] == VALUES["IMAGE"]
    assert container["portMappings"] == [{"hostPort": 80, "containerPort": 8080}]
    assert {"name": "DEPLOYBOT_FEATURE", "value": 'we"ird'} in container["environment"]


def test_repository_template_is_filled_in():
    template = ('{"AWSEBDockerrunVersion": "1", "Image": {"Name": "${IMAGE}"}, '
                '"Ports": [{"ContainerPort": ${APP_PORT}}]}')
    doc = json.loads(render_dockerrun(template, VALUES))
    assert doc["Image"]["Name"] == VALUES["IMAGE"] and doc["Ports"][0]["ContainerPort"] == 8080


@pytest.mark.parametrize("template,problem", [
    ('{"AWSEBDockerrunVersion": 2, "x": "${NOPE}"}', r"unknown placeholders NOPE"),
    ('{"AWSEBDockerrunVersion": 2,', "not valid JSON"),
    ('{"containerDefinitions": []}', "no AWSEBDockerrunVersion"),
])
def test_broken_templates_are_explained(template, problem):
    with pytest.raises(BundleInvalid, match=problem):
        render_dockerrun(template, VALUES, source="deploy/Dockerrun.template.json")


def test_bundles_are_deterministic_zips():
    first = make_bundle({DOCKERRUN: "{}"})
    assert first == make_bundle({DOCKERRUN: "{}"})
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.read(DOCKERRUN) == b"{}"
