"""Per-environment overrides from Slack (issue 20): `/deploy X --set KEY=VALUE --unset KEY`, parsed, carried by the
job, remembered by the store for the feature's later deploys, refused for a secret's name, and listed on the card."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from unittest.mock import Mock

import pytest

from bot import env_views, views
from bot.parsing import DeployCommand, UsageError, parse_deploy
from deployer import overrides
from deployer.build.git import Commit
from deployer.build.images import ImageBuilder
from deployer.environment import Environment, environment_tags
from deployer.errors import EnvironmentFailed, InvalidRequest
from deployer.lifecycle.manager import EnvironmentManager
from deployer.lifecycle.manager import Limits as ManagerLimits
from deployer.store.claims import Claims
from deployer.overrides import EnvSettings
from deployer.pipeline import Deployer
from deployer.providers import Release
from deployer.request import Limits, make_request
from deployer.resources import AppResources
from deployer.store.state import Store, engine_for

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)
LIMITS = Limits(timedelta(days=1), timedelta(days=7), "t3.small", ("t3.small",))
CONFIG = ('env:\n  GREETING: "hello {feature}"\n  MODE: plain\nsecrets:\n  API_KEY: /deploybot/{feature}/API_KEY\n'
          'database:\n  env: SHOP_DB\n')


# -- parsing -----------------------------------------------------------------------------------
def test_set_and_unset_are_repeatable_and_kept_in_order():
    parsed = parse_deploy("feature-x --set GREETING=hi --unset MODE --set=DEBUG=1 --ttl 2h")
    assert parsed == DeployCommand("feature-x", timedelta(hours=2), None,
                                   (("GREETING", "hi"), ("MODE", None), ("DEBUG", "1")))


@pytest.mark.parametrize("text,value", [
    ('x --set GREETING="hello there"', "hello there"),       # quoted as typed
    ("x --set GREETING='a=b c'", "a=b c"),                   # an `=` in the value
    ("x --set GREETING=\u201chello there\u201d", "hello there"),  # a client's typographic quotes
    ("x --set URL=http://a/?b=1&amp;c=&lt;2&gt;", "http://a/?b=1&c=<2>"),  # Slack's escaping undone
    ("x --set EMPTY=", ""),
    ('x --set GREETING="x --ttl 3d"', "x --ttl 3d"),
])
def test_a_set_value_arrives_as_typed(text, value):
    (change,) = parse_deploy(text).overrides
    assert change[1] == value


@pytest.mark.parametrize("text,problem", [
    ("x --set GREETING", "`--set` takes `KEY=VALUE`"),
    ("x --set", "`--set` needs a value (`--set KEY=VALUE`)"),
    ("x --unset A=1", "`--unset` takes a name only"),
    ("x --set 9LIVES=1", "not a variable name"),
    ("x --set =1", "not a variable name"),
    ("x --set DEPLOYBOT_COMMIT=abc", "set by deploybot itself"),
    ('x --set GREETING="hi', "A quote is not closed"),
    ("x --sett A=1", "Did you mean `--set`"),
    ("x --set A=" + "v" * 5000, "longer than 4,096 bytes"),
])
def test_set_and_unset_usage_errors(text, problem):
    with pytest.raises(UsageError) as caught:
        parse_deploy(text)
    assert problem in caught.value.problem
    assert "--set KEY=VALUE" in caught.value.usage and "--unset KEY" in caught.value.usage


def test_the_request_carries_the_changes_and_checks_them_for_the_command_line_too():
    request = make_request("feature-x", "U0ANA", LIMITS, overrides=(("A", "1"), ("B", None)))
    assert request.overrides == (("A", "1"), ("B", None))
    with pytest.raises(InvalidRequest, match="not a variable name"):
        make_request("feature-x", "U0ANA", LIMITS, overrides=(("a-b", "1"),))


# -- pure rules ---------------------------------------------------------------------------------
def test_changes_apply_in_order_over_what_is_remembered():
    remembered = {"A": "1", "B": "2"}
    assert overrides.applied(remembered, (("B", None), ("C", "3"), ("A", "x"), ("C", None))) == {"A": "x"}
    assert remembered == {"A": "1", "B": "2"}
    assert overrides.decode(overrides.encode((("A", "a=b"), ("B", None)))) == (("A", "a=b"), ("B", None))
    assert overrides.encode(()) is None and overrides.decode(None) == ()


# -- the store ------------------------------------------------------------------------------------
def test_the_store_keeps_a_jobs_changes_and_each_features_overrides(store_url):
    store = Store(engine_for(store_url))
    job = store.enqueue_deploy("feature-x", "U0ANA", None, None, NOW, timedelta(days=1), "t3.small",
                               respond_to="{}", overrides=(("GREETING", "hi there"), ("MODE", None)))
    assert store.deploy(job).overrides == (("GREETING", "hi there"), ("MODE", None))  # a restart loses nothing
    plain = store.enqueue_deploy("feature-x", "U0ANA", "C1", "1.2", NOW, timedelta(days=1), "t3.small")
    assert store.deploy(plain).overrides == ()

    assert store.overrides_of("feature-x") == {}
    store.replace_overrides("feature-x", {"GREETING": "hi", "EMPTY": ""})
    store.replace_overrides("feature-y", {"GREETING": "other"})
    assert store.overrides_of("feature-x") == {"EMPTY": "", "GREETING": "hi"}
    store.replace_overrides("feature-x", {"DEBUG": "1"})
    assert store.overrides_of("feature-x") == {"DEBUG": "1"}
    store.replace_overrides("feature-x", {})
    assert store.overrides_of("feature-x") == {} and store.overrides_of("feature-y") == {"GREETING": "other"}


def test_a_cards_settings_come_from_the_features_overrides_and_the_environments_secret_names(store_url):
    store = Store(engine_for(store_url))
    store.remember("e-1", "feature-x", "feature-x", "U0ANA")
    store.remember("e-2", "feature-y", "feature-y", "U0ANA")
    store.replace_overrides("feature-x", {"GREETING": "hi"})
    store.record_secret_names("e-1", ["SHOP_DB", "API_KEY"])
    settings = store.settings_of([("e-1", "feature-x"), ("e-2", "feature-y"), ("e-3", None)])
    assert settings == {"e-1": EnvSettings({"GREETING": "hi"}, ("API_KEY", "SHOP_DB"))}
    store.record_secret_names("e-1", [])
    assert store.settings_of([("e-1", "feature-x")]) == {"e-1": EnvSettings({"GREETING": "hi"}, ())}
    assert store.recall("e-1").secret_names is None


# -- the pipeline --------------------------------------------------------------------------------------
class FakeGit:
    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def resolve(self, feature: str) -> Commit:
        return Commit("c" * 40, feature, "the same commit")

    def read_file(self, sha: str, path: str) -> str | None:
        return self.files.get(path)


class FakeRegistry:
    repository, pushes = "reg/app", False

    def prepare(self) -> None: ...

    def auth_config(self) -> None:
        return None


class RecordingProvider:
    """Our Provider's calls, recorded; its environment is always there already."""

    expiry_in_tags = False

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[str] = []
        self.releases: list[Release] = []
        self.fail = fail
        tags = environment_tags("feature-x", "U0ANA", NOW, NOW + timedelta(days=1))
        self.env = Environment("e-1", "feature-x", "Ready", "Green", "http://x.example.com", tags=tags)

    def live_count(self) -> int:
        return 1

    def name_for(self, feature: str) -> str:
        return feature

    def prepare(self, release: Release) -> Release:
        self.releases.append(release)
        return release

    def ensure(self, request: Any, now: datetime) -> tuple[Environment, bool]:
        self.calls.append("ensure")
        return self.env, False

    def wait_ready(self, env: Environment, report: Any, *, created: bool) -> Environment:
        return env

    def deploy(self, env: Environment, prepared: Release, now: datetime, report: Any) -> Environment:
        self.calls.append("deploy")
        if self.fail:
            raise EnvironmentFailed("the app did not start")
        return env


class Resources(AppResources):
    """deploybot.yml's secrets and database, as resolved: fixed values, and a record of whether it was asked."""

    def __init__(self) -> None:
        self.asked = 0

    def provide(self, config, feature, env_name):  # type: ignore[no-untyped-def]
        from deployer.resources import Provided
        self.asked += 1
        return Provided({"API_KEY": "planted-secret", "SHOP_DB": "postgresql://db"})


def real_manager(provider: Any, store: Store) -> EnvironmentManager:
    """The manager a deploy works with, over the test's store (its claims too)."""
    claims = Claims(store, "test", lambda: NOW, timedelta(minutes=1))
    return EnvironmentManager(provider, store, lambda: NOW, ManagerLimits(timedelta(days=1), timedelta(days=7), 20),
                              claims)


@pytest.fixture()
def world(tmp_path):
    store = Store(engine_for(f"sqlite:///{tmp_path}/state.db"))
    store.remember("e-1", "feature-x", "feature-x", "U0ANA")  # as the manager does when a deploy takes it
    provider, resources = RecordingProvider(), Resources()
    manager = real_manager(provider, store)
    builder = Mock(spec=ImageBuilder)
    builder.exists_locally.return_value = True  # the commit's image exists: a change of settings builds nothing
    deployer = Deployer(FakeGit({"deploybot.yml": CONFIG}), builder, FakeRegistry(), provider,  # type: ignore[arg-type]
                        dockerfile="Dockerfile", dockerrun_template="Dockerrun.aws.json", clock=lambda: NOW,
                        manager=manager, dockerrun=None, resources=resources)
    return deployer, provider, store, builder, resources


def _deploy(deployer: Deployer, *changes: tuple[str, str | None]) -> None:
    deployer.deploy(make_request("feature-x", "U0ANA", LIMITS, overrides=changes), lambda event: None)


def test_overrides_win_over_the_file_are_remembered_and_reach_every_later_deploy(world):
    deployer, provider, store, builder, _ = world
    _deploy(deployer, ("GREETING", "hi"), ("EXTRA", "a=b c"))
    release = provider.releases[-1]
    assert release.variables(provider.env) == {"GREETING": "hi", "MODE": "plain", "EXTRA": "a=b c",
                                               "API_KEY": "planted-secret", "SHOP_DB": "postgresql://db"}
    assert store.overrides_of("feature-x") == {"EXTRA": "a=b c", "GREETING": "hi"}
    assert store.settings_of([("e-1", "feature-x")])["e-1"].secrets == ("API_KEY", "SHOP_DB")
    builder.build.assert_not_called()  # same commit, its image reused

    _deploy(deployer)  # a push's redeploy carries no changes: it gets those remembered
    assert provider.releases[-1].variables(provider.env)["GREETING"] == "hi"

    _deploy(deployer, ("GREETING", None))
    assert provider.releases[-1].variables(provider.env)["GREETING"] == "hello feature-x"  # the file's again
    assert store.overrides_of("feature-x") == {"EXTRA": "a=b c"}


@pytest.mark.parametrize("name,said", [
    ("API_KEY", "`API_KEY` is a secret of deploybot.yml: its value comes from SSM, not from Slack"),
    ("SHOP_DB", "`SHOP_DB` is the URL of the environment's own database"),
])
def test_a_secrets_name_is_refused_before_anything_is_made(world, name, said):
    deployer, provider, store, builder, resources = world
    _deploy(deployer, ("GREETING", "hi"))
    calls = list(provider.calls)
    with pytest.raises(InvalidRequest) as caught:
        _deploy(deployer, ("GREETING", "changed"), (name, "x"))
    assert said in caught.value.message and "nothing was changed" in caught.value.message
    assert provider.calls == calls and resources.asked == 1  # no secret read, no environment touched
    assert store.overrides_of("feature-x") == {"GREETING": "hi"}


def test_a_deploy_that_fails_remembers_nothing_of_its_changes(world):
    deployer, provider, store, _, _ = world
    provider.fail = True
    with pytest.raises(EnvironmentFailed):
        _deploy(deployer, ("GREETING", "hi"))
    assert store.overrides_of("feature-x") == {}


def test_one_set_before_the_file_made_it_a_secret_gives_way_to_the_secret(world):
    deployer, provider, store, _, _ = world
    store.replace_overrides("feature-x", {"API_KEY": "from slack", "GREETING": "hi"})
    _deploy(deployer)
    assert provider.releases[-1].variables(provider.env)["API_KEY"] == "planted-secret"
    assert store.overrides_of("feature-x") == {"GREETING": "hi"}


# -- the card ------------------------------------------------------------------------------------------
def test_the_card_lists_the_overrides_with_their_values_and_the_secrets_by_name():
    env = RecordingProvider().env
    settings = EnvSettings({"GREETING": "hi <there>", "EMPTY": ""}, ("API_KEY", "SHOP_DB"))
    (info, *_) = env_views.card(env, NOW, settings=settings)
    text = info["text"]["text"]
    assert "`EMPTY`=(empty) · `GREETING`=`hi &lt;there&gt;`" in text
    assert ":lock: Secrets (values never shown): `API_KEY` · `SHOP_DB`" in text
    message = env_views.with_controls(views.Message("ok", []), env, NOW, settings)
    assert message.blocks[0]["block_id"] == "env:e-1:settings"
    assert env_views.with_controls(views.Message("ok", []), env, NOW).blocks[0]["block_id"] == "env:e-1:expiry"
    crowded = env_views.settings_text(EnvSettings({f"V{i:03d}": "v" * 80 for i in range(100)}))
    assert crowded.endswith("more") and len(crowded) < 700


def test_the_command_line_takes_the_same_options_in_order():
    from bot.cli import parser

    args = parser().parse_args(["deploy", "feature-x", "--set", "GREETING=hi there", "--unset", "MODE",
                                "--set", "URL=a=b"])
    assert args.overrides == [("GREETING", "hi there"), ("MODE", None), ("URL", "a=b")]
    assert parser().parse_args(["deploy", "feature-x"]).overrides == []
    with pytest.raises(SystemExit):
        parser().parse_args(["deploy", "feature-x", "--set", "GREETING"])
