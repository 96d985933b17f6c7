"""DEPLOYBOT_ACCESS=basic in the pipeline (issue 21): a password per feature, kept for its redeploys, forgotten at its
tear down, handed to the provider and the deploy's result, and redacted from a failed deploy's message; a deploy
asked for a new one (--new-password) replaces it, carried by its job."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from unittest.mock import Mock

import pytest

from bot.errors import answer_for
from deployer.errors import DeployError, EnvironmentFailed
from deployer.build.images import ImageBuilder
from deployer.pipeline import Deployer
from deployer.request import make_request
from deployer.store.state import Store, engine_for
from tests.test_overrides import real_manager, CONFIG, LIMITS, NOW, FakeGit, FakeRegistry, RecordingProvider, Resources

GATED = replace(LIMITS, passwords=True)


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
    provider = Leaking()
    manager = real_manager(provider, store)
    builder = Mock(spec=ImageBuilder)
    builder.exists_locally.return_value = True
    deployer = Deployer(FakeGit({"deploybot.yml": CONFIG}), builder, FakeRegistry(), provider,  # type: ignore[arg-type]
                        dockerfile="Dockerfile", dockerrun_template="Dockerrun.aws.json", clock=lambda: NOW,
                        manager=manager, dockerrun=None, resources=Resources(), passwords=True)
    return deployer, provider, store, builder


def _deploy(deployer: Deployer, new_password: bool = False):  # type: ignore[no-untyped-def]
    return deployer.deploy(make_request("feature-x", "U0ANA", GATED, new_password=new_password), lambda event: None)


def test_a_feature_keeps_its_password_across_redeploys_until_it_is_forgotten(gated):
    deployer, provider, store, _ = gated
    first = _deploy(deployer)
    assert first.credentials is not None and provider.releases[-1].credentials == first.credentials
    assert _deploy(deployer).credentials == first.credentials
    store.forget_credentials("feature-x")  # the reaper's clean-up after a tear down
    assert _deploy(deployer).credentials.password != first.credentials.password


def test_a_failed_deploy_never_says_the_password(gated):
    deployer, provider, store, _ = gated
    provider.fail = True
    with pytest.raises(EnvironmentFailed) as caught:
        _deploy(deployer)
    password = store.credentials_for("feature-x").password
    assert password not in caught.value.message and password not in "".join(caught.value.details)
    assert "[redacted]" in caught.value.message



def test_a_new_password_replaces_the_one_kept_and_later_redeploys_keep_the_new_one(gated):
    deployer, provider, store, _ = gated
    old = _deploy(deployer).credentials
    rotated = _deploy(deployer, new_password=True)
    assert rotated.new_password and rotated.credentials.password != old.password
    assert rotated.credentials.user == old.user
    assert provider.releases[-1].credentials == rotated.credentials  # what the proxy's label is made from
    assert store.credentials_for("feature-x") == rotated.credentials
    again = _deploy(deployer)
    assert again.credentials == rotated.credentials and not again.new_password


def test_a_deploy_that_fails_before_the_container_is_remade_keeps_the_old_password(gated):
    deployer, provider, store, builder = gated
    old = _deploy(deployer).credentials
    builder.exists_locally.return_value = False  # a build, and the branch has no Dockerfile: it fails
    with pytest.raises(DeployError, match="Dockerfile") as raised:
        _deploy(deployer, new_password=True)
    assert store.credentials_for("feature-x") == old  # the container still checks the old one
    assert raised.value.new_credentials is None  # nothing to say: the old one still works
    provider.fail = True  # once the container is remade, the store has what it checks, even if it then fails
    builder.exists_locally.return_value = True
    with pytest.raises(EnvironmentFailed) as failed:
        _deploy(deployer, new_password=True)
    new = store.credentials_for("feature-x")
    assert new.password != old.password
    # ... and the thread says it, or nobody could open the environment; the message (logged, kept) never does.
    assert failed.value.new_credentials == new
    assert new.password not in failed.value.message and not any(new.password in d for d in failed.value.details)
    reply = answer_for(failed.value)
    assert f"user `{new.user}`, password `{new.password}` (the old one no longer works)" in reply


def test_a_jobs_new_password_survives_a_restart(store_url):
    store = Store(engine_for(store_url))
    asked = store.enqueue_deploy("feature-x", "U0ANA", None, None, NOW, timedelta(days=1), "t3.small",
                                 respond_to="{}", new_password=True)
    plain = store.enqueue_deploy("feature-x", "U0ANA", "C1", "1.2", NOW, timedelta(days=1), "t3.small")
    assert store.deploy(asked).new_password and not store.deploy(plain).new_password
