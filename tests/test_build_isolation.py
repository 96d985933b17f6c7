"""A branch's Dockerfile runs as deploybot's build step: where it can reach the bot's credentials.

Against the real engine, with a fake instance metadata service at 169.254.169.254 placed as EC2's
is (see MetadataStandIn): a `RUN` step on the default bridge reads its role; with
DEPLOYBOT_BUILD_NETWORK=none, or on a network made as docs/security.md says, it can't. Builds can also
go to another engine (DEPLOYBOT_BUILD_DOCKER_HOST), here the same engine behind TLS with client
certificates. Needs root (network namespaces, iptables) besides the usual test world.
"""
from __future__ import annotations

import io
import tarfile
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import docker.errors
import pytest
from docker.types import IPAMConfig, IPAMPool

from deployer.errors import ConfigError
from deployer.factory import LazyDocker, image_builder
from deployer.factory import docker_client as bots_own_engine
from deployer.build.git import GitRepo
from deployer.build.images import ImageBuilder, ImageRef
from deployer.preflight import run_checks
from deployer.settings import Settings
from tests.world.apprepo import BASE_IMAGE, make_app_repo
from tests.world.dockerenv import (
    FAKE_ROLE, MetadataStandIn, TlsEngine, docker_client, forward_rule, make_tls_certificates, registry_url,
    require_base_image, unavailable,
)

REACHED, UNREACHABLE = "METADATA-REACHED", "METADATA-UNREACHABLE"
OTHER_REACHED = "OTHER-HOST-REACHED"
# The nonce defeats the build cache: every build must run the step. busybox's `wget -T` crashes
# (and would read as "unreachable"), so `timeout` bounds it.
PROBE = f"""\
FROM {BASE_IMAGE}
RUN echo probe {{nonce}}; \\
    timeout 5 wget -q -O- {MetadataStandIn.url} && echo {REACHED} || echo {UNREACHABLE}; \\
    timeout 5 wget -q -O- {MetadataStandIn.other_url} >/dev/null && echo {OTHER_REACHED} || true
"""


@pytest.fixture(scope="module")
def client() -> Any:
    client = docker_client()
    require_base_image(client)
    return client


@pytest.fixture(scope="module")
def metadata(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetadataStandIn]:
    with MetadataStandIn(tmp_path_factory.mktemp("metadata")) as stand_in:
        yield stand_in


@pytest.fixture(scope="module")
def branch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GitRepo, str]]:
    """A repository whose branch `probe` has the probing Dockerfile; (its cache, the branch's sha)."""
    root = tmp_path_factory.mktemp("isolation")
    url = make_app_repo(root / "app", {"probe": {"Dockerfile": PROBE}})
    git = GitRepo(url, root / "cache")
    yield git, git.resolve("probe").sha


@pytest.fixture
def image(client: Any) -> Iterator[ImageRef]:
    ref = ImageRef("deploybot-test/isolation", uuid.uuid4().hex[:12])
    yield ref
    try:
        client.images.remove(ref.uri)
    except docker.errors.ImageNotFound:
        pass


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, git_url="file:///repo", **values)


BEANSTALK = dict(provider="beanstalk", eb_application="shop", eb_template="feature", s3_bucket="bundles")


def beanstalk(**values: Any) -> Settings:
    return settings(**BEANSTALK, **values)


def _probe(builder: ImageBuilder, branch: tuple[GitRepo, str], image: ImageRef) -> list[str]:
    """Build the probing branch with `builder`; the build's log lines."""
    git, sha = branch
    lines: list[str] = []
    builder.build(_with_nonce(git.archive(sha)), image, on_line=lines.append)
    return lines


def _with_nonce(context: bytes) -> bytes:
    """The branch's archive with a fresh nonce in its Dockerfile."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(context)) as source, tarfile.open(fileobj=out, mode="w") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isfile() else None
            if data is not None and member.name.endswith("Dockerfile"):
                data = data.replace(b"{nonce}", uuid.uuid4().hex.encode())
                member.size = len(data)
            target.addfile(member, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def _no_bot_engine() -> Any:
    raise AssertionError("the bot's own engine was used, not the build engine")


# -- where a build step's network goes ---------------------------------------------------------

def test_on_the_default_network_a_build_step_reads_the_instance_role(client, metadata, branch, image):
    # The hazard itself, and proof that the stand-in and the probe work: the tests below can fail.
    lines = _probe(image_builder(settings(), client), branch, image)
    assert FAKE_ROLE in lines and REACHED in lines


def test_with_build_network_none_a_build_step_cannot_reach_the_metadata_service(client, metadata, branch, image):
    lines = _probe(image_builder(settings(build_network="none"), client), branch, image)
    assert UNREACHABLE in lines and FAKE_ROLE not in lines
    assert OTHER_REACHED not in lines


@pytest.fixture
def recipe_network(client: Any) -> Iterator[tuple[str, str]]:
    """docs/security.md's build network: a bridge of its own subnet (172.30.0.0/24, or the next /24 free)."""
    name = f"deploybot-build-test-{uuid.uuid4().hex[:8]}"
    for third in range(256):
        subnet = f"172.30.{third}.0/24"
        try:
            network = client.networks.create(
                name, driver="bridge", ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=subnet)]))
            break
        except docker.errors.APIError as err:
            if "overlap" not in str(err).lower():
                raise
    else:
        unavailable("no /24 of 172.30.0.0/16 is free for a build network")
    yield name, subnet
    network.remove()


def test_the_readmes_build_network_reaches_other_hosts_but_not_the_metadata_address(
        client, metadata, branch, image, recipe_network):
    # DOCKER-USER filters forwarded traffic: the path to the stand-in, as to EC2's metadata service.
    # Were the network not used, the build would run on 172.17.0.0/16 and the rule would not match.
    name, subnet = recipe_network
    with forward_rule(["-s", subnet, "-d", "169.254.169.254", "-j", "DROP"]):
        lines = _probe(image_builder(settings(build_network=name), client), branch, image)
    assert UNREACHABLE in lines and FAKE_ROLE not in lines
    assert OTHER_REACHED in lines  # a network, unlike `none`: downloads still work


def test_a_build_network_the_engine_lacks_is_named_at_start_up():
    from deployer.factory import startup_checks

    missing = f"deploybot-build-{uuid.uuid4().hex[:8]}"
    docker_client()  # skip without an engine
    with pytest.raises(ConfigError) as caught:
        run_checks(startup_checks(settings(build_network=missing), session=None))
    named = [line for line in caught.value.details if "DEPLOYBOT_BUILD_NETWORK" in line]
    assert named == [f"The build network {missing} does not exist on the build engine (DEPLOYBOT_BUILD_NETWORK): "
                     "create it as docs/security.md, *Builds and the bot's credentials*, shows, or set `none`."]


# -- a build engine of its own -----------------------------------------------------------------

@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_tls_certificates(tmp_path_factory.mktemp("tls"))


def test_builds_and_pushes_go_to_the_build_engine_over_tls(client, certificates, branch, monkeypatch):
    server, client_certs = certificates
    # Often set for other tools; requests would check the engine against it instead of ca.pem.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    image = ImageRef(f"{registry_url()}/deploybot-test/isolation-{uuid.uuid4().hex[:10]}", "probe")
    with TlsEngine(server) as engine:
        config = beanstalk(build_docker_host=engine.url, build_docker_cert_path=client_certs, build_network="none")
        builder = image_builder(config, LazyDocker(_no_bot_engine))
        try:
            lines = _probe(builder, branch, image)
            builder.push(image, None)
            assert builder.exists_in_registry(image, None)
        finally:
            builder.prune(image.repository, keep=set())
    assert engine.connections >= 1
    assert UNREACHABLE in lines  # the build network applies on the build engine too


def test_the_bots_own_engine_over_tls_is_checked_against_its_ca_pem_not_the_ca_bundle(certificates, monkeypatch):
    server, client_certs = certificates
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    with TlsEngine(server) as engine:
        for name, value in {"DOCKER_HOST": engine.url, "DOCKER_TLS_VERIFY": "1",
                            "DOCKER_CERT_PATH": str(client_certs)}.items():
            monkeypatch.setenv(name, value)
        with closing(bots_own_engine()) as client:
            assert client.ping()
    assert engine.connections >= 2  # the version probe, then the client


def test_a_build_engine_the_bots_ca_did_not_sign_is_named_at_start_up(certificates, tmp_path):
    import boto3
    from moto import mock_aws

    from deployer.factory import startup_checks

    server, _ = certificates
    _, strangers = make_tls_certificates(tmp_path)  # another CA's certificates
    with TlsEngine(server) as engine, mock_aws():
        config = beanstalk(build_docker_host=engine.url, build_docker_cert_path=strangers)
        session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="testing",
                                        aws_secret_access_key="testing")
        with pytest.raises(ConfigError) as caught:
            run_checks(startup_checks(config, session))
    named = [line for line in caught.value.details if "DEPLOYBOT_BUILD_DOCKER_HOST" in line]
    assert len(named) == 1 and named[0].startswith(f"The build engine {engine.url} (DEPLOYBOT_BUILD_DOCKER_HOST) "
                                                   "did not answer: ")
    assert "CERTIFICATE_VERIFY_FAILED" in named[0]  # and why
    assert engine.connections == 0


# -- settings that would build next to the credentials, or not at all --------------------------

@pytest.mark.parametrize("values,says", [
    ({"build_network": "host"},
     "DEPLOYBOT_BUILD_NETWORK: `host` would give a branch's build steps the host's own network"),
    ({"build_network": "container:deploybot"}, "DEPLOYBOT_BUILD_NETWORK: must be `default`, `none` or"),
    ({"provider": "local", "build_docker_host": "ssh://builder"},
     "DEPLOYBOT_BUILD_DOCKER_HOST is for the beanstalk provider"),
    ({"build_docker_host": "tcp://builder:2376"},
     "DEPLOYBOT_BUILD_DOCKER_HOST=tcp://builder:2376 needs DEPLOYBOT_BUILD_DOCKER_CERT_PATH"),
    ({"build_docker_host": "https://builder:2376"},
     "DEPLOYBOT_BUILD_DOCKER_HOST: must start with ssh://, tcp:// or unix://"),
    ({"build_docker_host": "tcp://builder:2376", "build_docker_cert_path": "/nonexistent"},
     "DEPLOYBOT_BUILD_DOCKER_CERT_PATH (/nonexistent) lacks ca.pem, cert.pem, key.pem"),
    ({"build_docker_host": "ssh://builder", "build_docker_cert_path": "/etc"},
     "DEPLOYBOT_BUILD_DOCKER_CERT_PATH is only for a tcp:// DEPLOYBOT_BUILD_DOCKER_HOST"),
])
def test_build_settings_that_would_not_work_or_not_isolate_are_refused_at_start_up(values, says):
    from pydantic import ValidationError

    from deployer.settings import describe_errors

    with pytest.raises(ValidationError) as caught:
        settings(**{**BEANSTALK, **values})
    assert any(line.startswith(says) for line in describe_errors(caught.value)), describe_errors(caught.value)
