"""DEPLOYBOT_ACCESS=basic in the pipeline (issue 21): a password per feature, kept for its redeploys, forgotten at its
tear down, handed to the provider and the deploy's result, and redacted from a failed deploy's message."""
from __future__ import annotations

from unittest.mock import Mock

import pytest

from deployer.errors import EnvironmentFailed
from deployer.build.images import ImageBuilder
from deployer.lifecycle.manager import EnvironmentManager
from deployer.pipeline import Deployer
from deployer.request import make_request
from deployer.store.state import Store, engine_for
from tests.test_overrides import CONFIG, LIMITS, NOW, FakeGit, FakeRegistry, RecordingProvider, Resources


class Leaking(RecordingProvider):
    """A provider whose failure repeats what it was given, as a careless error message might."""

    def deploy(self, env, prepared, now, report):  # type: ignore[no-untyped-def]
        if self.fail:
            raise EnvironmentFailed(f"the proxy refused {prepared.credentials.password}",
                                    details=[f"password={prepared.credentials.password}"])
        return super().deploy(env, prepared, now, report)


@pytest.fixture()
def gated(tmp_path):
    store = Store(engine_for(f"sqlite:///{tmp_path}/state.db"))
    store.remember("e-1", "feature-x", "feature-x", "U0ANA")
    manager = Mock(spec=EnvironmentManager)
    manager.store = store
    builder = Mock(spec=ImageBuilder)
    builder.exists_locally.return_value = True
    provider = Leaking()
    deployer = Deployer(FakeGit({"deploybot.yml": CONFIG}), builder, FakeRegistry(), provider,  # type: ignore[arg-type]
                        dockerfile="Dockerfile", dockerrun_template="Dockerrun.aws.json", clock=lambda: NOW,
                        manager=manager, dockerrun=None, resources=Resources(), passwords=True)
    return deployer, provider, store


def _deploy(deployer: Deployer):  # type: ignore[no-untyped-def]
    return deployer.deploy(make_request("feature-x", "U0ANA", LIMITS), lambda event: None)


def test_a_feature_keeps_its_password_across_redeploys_until_it_is_forgotten(gated):
    deployer, provider, store = gated
    first = _deploy(deployer)
    assert first.credentials is not None and provider.releases[-1].credentials == first.credentials
    assert _deploy(deployer).credentials == first.credentials
    store.forget_credentials("feature-x")  # the reaper's clean-up after a tear down
    assert _deploy(deployer).credentials.password != first.credentials.password


def test_a_failed_deploy_never_says_the_password(gated):
    deployer, provider, store = gated
    provider.fail = True
    with pytest.raises(EnvironmentFailed) as caught:
        _deploy(deployer)
    password = store.credentials_for("feature-x").password
    assert password not in caught.value.message and password not in "".join(caught.value.details)
    assert "[redacted]" in caught.value.message

