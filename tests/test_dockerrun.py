"""A branch's Dockerrun template may ask only for what can't reach past its container."""
import json

import pytest

from deployer.build.bundle import render_dockerrun
from deployer.build.dockerrun import DockerrunPolicy, check_dockerrun
from deployer.errors import BundleInvalid, DockerrunRefused

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop:deploybot-abc"
SOURCE = "`Dockerrun.template.json` on `feature-x`"


def v2(**container) -> dict:
    app = {"name": "app", "image": IMAGE, "essential": True, "memory": 512,
           "portMappings": [{"hostPort": 80, "containerPort": 8080}]}
    return {"AWSEBDockerrunVersion": 2, "containerDefinitions": [{**app, **container}]}


def v1(**keys) -> dict:
    return {"AWSEBDockerrunVersion": "1", "Image": {"Name": IMAGE, "Update": "false"},
            "Ports": [{"ContainerPort": 8080, "HostPort": 80}], **keys}


def refused(document: dict, allow=()) -> DockerrunRefused:
    with pytest.raises(DockerrunRefused) as caught:
        check_dockerrun(document, IMAGE, allow, source=SOURCE)
    return caught.value


# allowed by default -----------------------------------------------------------------------

def test_the_builtin_template_passes():
    values = {"IMAGE": IMAGE, "APP_PORT": 8080, "FEATURE": "feature-x", "COMMIT": "abc", "ENVIRONMENT": "feature-x"}
    check_dockerrun(json.loads(render_dockerrun(None, values)), IMAGE, (), source=SOURCE)


def test_the_harmless_v2_keys_pass():
    check_dockerrun(v2(memoryReservation=256, cpu=128, command=["serve", "--fast"], entryPoint=["/app/run"],
                       workingDirectory="/app", environment=[{"name": "MODE", "value": "feature"}],
                       portMappings=[{"hostPort": 80, "containerPort": 8080, "protocol": "tcp"}]),
                    IMAGE, (), source=SOURCE)


def test_the_harmless_v1_keys_pass():
    check_dockerrun(v1(Logging="/var/log/app", Entrypoint="/app/run", Command="serve --fast"),
                    IMAGE, (), source=SOURCE)


# refused by default -------------------------------------------------------------------------

@pytest.mark.parametrize("document,path,allow_as", [
    (v2(privileged=True), "containerDefinitions[0].privileged", "privileged"),
    (v2(mountPoints=[{"sourceVolume": "root", "containerPath": "/host"}]), "containerDefinitions[0].mountPoints",
     "mountPoints"),
    (v2(links=["db"]), "containerDefinitions[0].links", "links"),
    (v2(volumesFrom=[{"sourceContainer": "other"}]), "containerDefinitions[0].volumesFrom", "volumesFrom"),
    (v2(linuxParameters={"capabilities": {"add": ["SYS_ADMIN"]}}), "containerDefinitions[0].linuxParameters",
     "linuxParameters"),
    ({**v2(), "volumes": [{"name": "root", "host": {"sourcePath": "/"}}]}, "volumes", "volumes"),
    (v1(Volumes=[{"HostDirectory": "/", "ContainerDirectory": "/host"}]), "Volumes", "Volumes"),
    (v1(Authentication={"Bucket": "elsewhere", "Key": "dockercfg"}), "Authentication", "Authentication"),
    (v1(Surprise=1), "Surprise", "Surprise"),
    (v2(portMappings=[{"hostPort": 80, "containerPort": 8080, "hostIp": "0.0.0.0"}]),
     "containerDefinitions[0].portMappings[0].hostIp", "hostIp"),
])
def test_what_reaches_past_the_container_is_refused_naming_the_key_the_file_and_the_setting(document, path, allow_as):
    error = refused(document)
    assert f"`{path}`" in error.message and SOURCE in error.message
    assert f"DEPLOYBOT_DOCKERRUN_ALLOW={allow_as}" in error.message
    assert error.title == "Dockerrun template refused" and isinstance(error, BundleInvalid)


def test_a_second_container_is_refused():
    document = v2()
    document["containerDefinitions"].append({**document["containerDefinitions"][0], "name": "sidecar"})
    error = refused(document)
    assert "2 containers" in error.message and "DEPLOYBOT_DOCKERRUN_ALLOW=containers" in error.message


@pytest.mark.parametrize("document,where", [
    (v2(image="docker.io/library/nginx:latest"), "containerDefinitions[0].image"),
    (v1(Image={"Name": "attacker/miner"}), "Image.Name"),
    (v2(image=IMAGE + "-debug"), "containerDefinitions[0].image"),
])
def test_an_image_deploybot_did_not_build_is_refused_and_no_setting_allows_it(document, where):
    for allow in ((), ("image", "Image", "Name")):
        error = refused(document, allow)
        assert f"`{where}`" in error.message and "${IMAGE}" in error.message
        assert "DEPLOYBOT_DOCKERRUN_ALLOW" not in error.message


@pytest.mark.parametrize("document,problem", [
    ({"AWSEBDockerrunVersion": 2, "containerDefinitions": []}, "no container"),
    ({"AWSEBDockerrunVersion": 2, "containerDefinitions": [{"name": "app", "memory": 128}]}, "no image"),
    ({"AWSEBDockerrunVersion": "1", "Ports": [{"ContainerPort": 8080}]}, "no image"),
    ({"AWSEBDockerrunVersion": 3, "containerDefinitions": []}, "version 3"),
    (v2(environment={"name": "x"}), "a list"),
    (v2(command={"privileged": True}), "containerDefinitions[0].command"),
])
def test_what_deploybot_cannot_read_as_a_v1_or_v2_file_is_refused(document, problem):
    assert problem in refused(document).message


def test_every_refused_key_is_named_at_once():
    error = refused({**v2(privileged=True, user="root"), "volumes": []})
    assert "DEPLOYBOT_DOCKERRUN_ALLOW=privileged,user,volumes" in error.message
    assert ("asks for `containerDefinitions[0].privileged`, `containerDefinitions[0].user` and `volumes`, "
            "which deploybot does not allow") in error.message


# widened by the operator --------------------------------------------------------------------------

def test_the_operator_allows_keys_by_name_in_any_case():
    host = {**v2(privileged=True, mountPoints=[{"sourceVolume": "data", "containerPath": "/data"}]),
            "volumes": [{"name": "data", "host": {"sourcePath": "/srv/data"}}]}
    check_dockerrun(host, IMAGE, ["Privileged", "mountpoints", "volumes"], source=SOURCE)
    check_dockerrun(v1(Volumes=[{"HostDirectory": "/srv", "ContainerDirectory": "/srv"}]), IMAGE, ["volumes"],
                    source=SOURCE)
    assert "privileged" in refused(v2(privileged=True), ["volumes"]).message


def test_allowing_more_containers_still_runs_only_deploybots_image():
    document = v2()
    document["containerDefinitions"].append({"name": "worker", "image": IMAGE, "command": ["work"]})
    check_dockerrun(document, IMAGE, ["containers"], source=SOURCE)
    document["containerDefinitions"][1]["image"] = "redis:7"
    assert "containerDefinitions[1].image" in refused(document, ["containers"]).message


# the template as it comes from the branch --------------------------------------------------------

def test_a_template_is_checked_with_its_image_placeholder_filled_in():
    policy = DockerrunPolicy()
    policy.check('{"AWSEBDockerrunVersion": 2, "containerDefinitions": [{"name": "app", "image": "${IMAGE}", '
                 '"memory": 256, "portMappings": [{"hostPort": 80, "containerPort": ${APP_PORT}}], '
                 '"environment": [{"name": "FEATURE", "value": "$FEATURE"}]}]}', IMAGE, source=SOURCE)
    with pytest.raises(DockerrunRefused, match="privileged"):
        policy.check('{"AWSEBDockerrunVersion": 2, "containerDefinitions": [{"name": "app", "image": "${IMAGE}", '
                     '"privileged": true}]}', IMAGE, source=SOURCE)
    DockerrunPolicy(frozenset({"privileged"})).check(
        '{"AWSEBDockerrunVersion": 2, "containerDefinitions": [{"name": "app", "image": "${IMAGE}", '
        '"privileged": true}]}', IMAGE, source=SOURCE)


def test_a_placeholder_cannot_name_a_key():
    """A branch named `privileged` must not be able to write that key through ${FEATURE}."""
    with pytest.raises(DockerrunRefused):
        DockerrunPolicy().check('{"AWSEBDockerrunVersion": 2, "containerDefinitions": [{"name": "app", '
                                '"image": "${IMAGE}", "${FEATURE}": true}]}', IMAGE, source=SOURCE)


def test_a_template_that_is_no_dockerrun_file_is_explained_before_anything_is_built():
    with pytest.raises(BundleInvalid, match="not valid JSON"):
        DockerrunPolicy().check('{"AWSEBDockerrunVersion": 2,', IMAGE, source=SOURCE)


def test_the_setting_is_a_comma_separated_list(monkeypatch, tmp_path):
    from deployer.settings import load_settings

    monkeypatch.chdir(tmp_path)  # no stray .env
    for key in [k for k in __import__("os").environ if k.startswith("DEPLOYBOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DEPLOYBOT_GIT_URL", "file:///repo")
    monkeypatch.setenv("DEPLOYBOT_DOCKERRUN_ALLOW", "Volumes, privileged")
    assert load_settings().dockerrun_allow == ["Volumes", "privileged"]
    monkeypatch.setenv("DEPLOYBOT_DOCKERRUN_ALLOW", "")
    assert load_settings().dockerrun_allow == []
