"""Warnings, reaping and permissions with a hand-written provider, a real store and a clock we move."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from unittest.mock import Mock

import docker
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot import env_views
from bot.buttons import EnvButton
from bot.env_actions import Click, EnvActions
from bot.errors import answer_for
from bot.jobs import LifecycleJobs
from bot.notices import Notices
from bot.permissions import Admins, may_tear_down
from deployer.store.claims import Claims
from deployer.environment import EXPIRES, READY, TERMINATING, Environment, environment_tags, iso
from deployer.errors import CloudError, EnvironmentGone, InvalidRequest, NotAllowed
from deployer.lifecycle.manager import EnvironmentManager, Limits
from deployer.lifecycle.reaper import Reaper
from deployer.store.state import Store, engine_for

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
CHANNEL = "C0DEPLOY"


class FakeProvider:
    """The life-cycle half of a provider, in memory."""

    expiry_in_tags = True

    def __init__(self) -> None:
        self.envs: dict[str, Environment] = {}
        self.busy: set[str] = set()
        self.refuse: set[str] = set()  # AWS says no to terminating these

    def add(self, name: str, expires: datetime, owner: str = "U0ANA", **tags: str) -> Environment:
        env = Environment(f"e-{name}", name, READY, "Green", f"http://{name}.example.com",
                          tags={**environment_tags(name, owner, T0 - DAY, expires), **tags})
        self.envs[env.id] = env
        return env

    def environments(self) -> list[Environment]:
        return list(self.envs.values())

    def get(self, env_id: str) -> Environment | None:
        return self.envs.get(env_id)

    def terminate(self, env: Environment) -> None:
        if env.id in self.refuse:
            raise CloudError("AWS could not terminate the environment: Access denied for ec2:X (AccessDenied).")
        self.envs[env.id] = replace(self.envs[env.id], status=TERMINATING)

    def set_expiry(self, env: Environment, expires: datetime) -> bool:
        if env.id in self.busy:
            return False
        current = self.envs[env.id]
        self.envs[env.id] = replace(current, tags={**current.tags, EXPIRES: iso(expires)})
        return True

    def sweep_versions(self, keep) -> tuple[list[str], list[str]]:  # noqa: ANN001
        return [], []


class World:
    def __init__(self) -> None:
        self.now = T0
        self.provider = FakeProvider()
        self.store = Store(engine_for("sqlite:///:memory:"))
        self.manager = EnvironmentManager(self.provider, self.store, lambda: self.now, Limits(DAY, 7 * DAY, 20),
                                          self.claims("bot-1"))
        self.client = Mock(spec=WebClient)
        self.client.chat_postMessage.side_effect = self._posted
        self.posts: list[dict] = []

    def _posted(self, **params) -> dict:
        self.posts.append(params)
        return {"ok": True, "channel": params["channel"], "ts": f"1700000000.{len(self.posts):06d}"}

    def claims(self, holder: str) -> Claims:
        return Claims(self.store, holder, lambda: self.now, timedelta(seconds=30))

    def jobs(self, holder: str = "bot-1", channel: str | None = CHANNEL) -> LifecycleJobs:
        """A bot process: a new one after a restart shares only the store."""
        reaper = Reaper(self.provider, self.store, lambda: self.now, self.claims(holder))
        return LifecycleJobs(self.manager, reaper, self.store,
                             Notices(self.client, self.store, channel), warn_before=2 * HOUR,
                             lease_for=timedelta(minutes=15), holder=holder, clock=lambda: self.now)

    def texts(self) -> list[str]:
        return [p["text"] for p in self.posts]


@pytest.fixture
def world() -> World:
    return World()


def test_one_warning_per_expiry_none_after_an_extension_none_twice_across_a_restart(world):
    env = world.provider.add("feature-x", T0 + HOUR)
    jobs = world.jobs()
    assert jobs.warn() == 1
    assert "<@U0ANA>" in world.posts[0]["text"] and world.posts[0]["channel"] == CHANNEL
    assert world.store.cards_of(env.id) == [(CHANNEL, "1700000000.000001")]
    assert jobs.warn() == 0
    assert world.jobs().warn() == 0  # a restarted process remembers

    world.manager.extend(env.id, "U0BEA")  # one step: 1d later, past the window
    world.now += 30 * timedelta(minutes=1)
    assert jobs.warn() == 0
    world.now = T0 + DAY  # the new expiry's window
    assert jobs.warn() == 1
    assert len(world.posts) == 2


def test_a_warning_goes_to_the_thread_and_the_channel(world):
    env = world.provider.add("feature-x", T0 + HOUR)
    world.manager.remember(env, "C0OTHER", "1690000000.000100")
    world.jobs().warn()
    assert [(p["channel"], p.get("thread_ts")) for p in world.posts] == [
        ("C0OTHER", "1690000000.000100"), (CHANNEL, None)]
    assert len(world.store.cards_of(env.id)) == 2


def test_a_warning_slack_refused_is_tried_again(world):
    world.provider.add("feature-x", T0 + HOUR)
    answer = {"ok": False, "error": "fatal_error"}
    refused = SlackApiError("no", SlackResponse(client=None, http_verb="POST", api_url="", req_args={}, data=answer,
                                                 headers={}, status_code=200))
    world.client.chat_postMessage.side_effect = refused
    assert world.jobs().warn() == 0
    world.client.chat_postMessage.side_effect = world._posted
    assert world.jobs().warn() == 1


def test_only_the_lease_holder_warns_and_reaps(world):
    world.provider.add("feature-x", T0 + HOUR)
    world.provider.add("old", T0 - HOUR)
    first, second = world.jobs("bot-1"), world.jobs("bot-2")
    assert first.reap() is not None
    assert second.reap() is None and second.warn() == 0
    first.release()
    assert second.warn() == 1


def test_the_reaper_terminates_what_expired_says_so_and_replaces_the_cards(world):
    old = world.provider.add("old", T0 - HOUR)
    world.manager.remember(old, CHANNEL, "1690000000.000100")
    world.store.add_card(old.id, CHANNEL, "1690000000.000100")
    keep = world.provider.add("keep", T0 + 3 * DAY)
    decoy = Environment("e-decoy", "decoy", READY, "Green", tags={EXPIRES: iso(T0 - DAY)})
    world.provider.envs[decoy.id] = decoy

    report = world.jobs().reap()
    assert [d.env.name for d in report.terminated] == ["old"]
    assert world.provider.envs[old.id].status == TERMINATING
    assert world.provider.envs[keep.id].status == world.provider.envs[decoy.id].status == READY
    (notice,) = world.posts
    expired = f"<!date^{int((T0 - HOUR).timestamp())}^{{date_short_pretty}} at {{time}}|"
    assert notice["thread_ts"] == "1690000000.000100"
    assert notice["text"].startswith(f":wastebasket: `old` was torn down because it expired {expired}")
    assert " ago" not in notice["text"]  # it stays in the thread: no time that goes stale
    update = world.client.chat_update.call_args.kwargs
    assert update["ts"] == "1690000000.000100" and not [b for b in update["blocks"] if b["type"] == "actions"]
    assert world.store.cards_of(old.id) == []


def test_a_malformed_expiry_is_reported_once_and_never_reaped(world):
    world.provider.add("garbage", T0 - DAY, **{EXPIRES: "next tuesday"})
    for holder in ("bot-1", "bot-1", "bot-1"):
        world.jobs(holder).reap()
        world.now += HOUR
    (report,) = world.posts
    assert "`garbage`" in report["text"] and "can't be read" in report["text"]
    assert "tag" not in report["text"] and "Tear it down" in report["text"]  # a container's labels can't change
    assert world.provider.envs["e-garbage"].status == READY


def test_without_a_channel_reports_go_to_the_owner_not_nowhere(world):
    world.provider.add("garbage", T0 - DAY, owner="U0BEA", **{EXPIRES: "next tuesday"})
    world.provider.add("soon", T0 + HOUR, owner="U0CAT")
    world.provider.add("from-jenkins", T0 + HOUR, owner="jenkins")  # a CLI owner: no Slack user to tell
    jobs = world.jobs(channel=None)
    assert jobs.warn() == 2
    jobs.reap()
    assert sorted((p["channel"], p["text"].split()[1]) for p in world.posts) == [
        ("U0BEA", "`garbage`"), ("U0CAT", "<@U0CAT>,")]


def test_tear_down_is_for_the_owner_and_the_admins():
    env = Environment("e-1", "feature-x", READY, "Green", tags=environment_tags("f", "U0ANA", T0, T0 + DAY))
    nobody = Mock(side_effect=AssertionError("the owner needs no lookup"))
    assert may_tear_down("U0ANA", env, nobody)
    assert may_tear_down("U0ADMIN", env, lambda: {"U0ADMIN"})
    assert not may_tear_down("U0CAT", env, lambda: {"U0ADMIN"})


def test_admin_groups_are_resolved_cached_and_fail_closed():
    client = Mock(spec=WebClient)
    client.usergroups_users_list.return_value = {"ok": True, "users": ["U0GRP"]}
    seconds = [0.0]
    admins = Admins(client, ["U0BOSS", "S0ADMINS"], ttl=60, clock=lambda: seconds[0])
    assert admins.user_ids() == {"U0BOSS", "U0GRP"}
    assert admins.user_ids() == {"U0BOSS", "U0GRP"}
    assert client.usergroups_users_list.call_count == 1
    seconds[0] = 61
    client.usergroups_users_list.side_effect = SlackApiError("no", {"ok": False, "error": "missing_scope"})
    assert admins.user_ids() == {"U0BOSS", "U0GRP"}  # the last answer stands while Slack fails
    assert Admins(client, ["S0ADMINS"]).user_ids() == set()  # never known: nobody


def test_errors_become_answers_without_aws_words():
    assert "Only its owner" in answer_for(NotAllowed("Only its owner may."))
    aws_words = "AWS could not terminate: Rate exceeded for arn:aws:x (Throttling)."
    reply = answer_for(CloudError(aws_words, code="Throttling"))
    assert "arn:aws" not in reply and "Rate exceeded" not in reply and "incident `" in reply and "`Throttling`" in reply
    assert reply.startswith(":x: AWS did not accept a request")
    assert "incident `" in answer_for(KeyError("boom"))


def test_a_cloud_error_is_said_in_the_words_of_whoever_refused():
    try:  # as the local provider's gateway raises it: from the Docker SDK's error
        try:
            raise docker.errors.APIError("409 Conflict: port is already allocated")
        except docker.errors.APIError as err:
            raise CloudError("Docker could not start e-x: port is already allocated") from err
    except CloudError as error:
        docker_said = answer_for(error)
    assert docker_said.startswith(":x: Docker did not accept a request from deploybot; incident `")
    assert "AWS" not in docker_said and "port" not in docker_said
    assert answer_for(CloudError("something")).startswith(":x: A request deploybot made failed; incident `")


def _actions(world: World, admins: set[str] = frozenset(), extend_by: str = "anyone") -> EnvActions:
    directory = Mock(spec=Admins)
    directory.user_ids.return_value = set(admins)
    return EnvActions(world.manager, Notices(world.client, world.store, CHANNEL), directory, lambda: world.now,
                      extend_by=extend_by)


def _click(user: str, message: dict | None = None) -> Click:
    body = {"user": {"id": user}, "channel": {"id": CHANNEL},
            "container": {"type": "message", "is_ephemeral": message is None}, "message": message or {}}
    return Click.of(body, Mock())


def test_tear_down_refuses_others_and_clears_the_clicked_card(world):
    env = world.provider.add("feature-x", T0 + DAY)
    actions = _actions(world, admins={"U0BOSS"})
    with pytest.raises(NotAllowed, match="Only its owner"):
        actions.tear_down(_click("U0CAT"), EnvButton(env_id=env.id))
    world.provider.envs[env.id] = replace(env, status="Terminating")
    with pytest.raises(InvalidRequest, match="already being torn down"):
        actions.tear_down(_click("U0ANA"), EnvButton(env_id=env.id))
    world.provider.envs[env.id] = env

    said = env_views.section(":white_check_mark: `feature-x` is live")
    card = {"ts": "1690000000.000200", "text": "live", "blocks": [said, *env_views.controls(env, T0)]}
    actions.tear_down(_click("U0BOSS", card), EnvButton(env_id=env.id))
    assert world.provider.envs[env.id].status == TERMINATING
    update = world.client.chat_update.call_args.kwargs
    assert update["ts"] == card["ts"] and "is gone" in update["text"]
    # The message keeps what it said; its expiry line and buttons became the line of what was done.
    assert update["blocks"][0] == said and len(update["blocks"]) == 2
    assert update["blocks"][1]["elements"][0]["text"].startswith(":wastebasket: Torn down <!date^")
    assert "by <@U0BOSS>" in update["blocks"][1]["elements"][0]["text"]
    assert [e["actor"] for e in world.store.audit_trail(env.id)] == ["U0BOSS"]
    with pytest.raises(EnvironmentGone):
        actions.extend(_click("U0ANA"), EnvButton(env_id="e-nope"))


def test_extend_on_a_card_patches_that_card(world):
    env = world.provider.add("feature-x", T0 + HOUR)
    world.provider.busy.add(env.id)  # Beanstalk busy: the extension waits in the store
    card = {"ts": "1690000000.000300", "text": "warning", "blocks": env_views.controls(env, T0)}
    _actions(world).extend(_click("U0BEA", card), EnvButton(env_id=env.id))
    line = world.client.chat_update.call_args.kwargs["blocks"][0]["elements"][0]["text"]
    assert f"extended by <@U0BEA> <!date^{int(T0.timestamp())}^" in line and "not busy" in line
    assert world.store.recall(env.id).pending_expiry == T0 + HOUR + DAY


def test_extending_can_be_limited_to_the_owner_and_the_admins(world):
    env = world.provider.add("feature-x", T0 + HOUR)
    strict = _actions(world, admins={"U0BOSS"}, extend_by="owner")
    with pytest.raises(NotAllowed, match="may extend"):
        strict.extend(_click("U0CAT"), EnvButton(env_id=env.id))
    assert world.store.audit_trail(env.id) == []
    strict.extend(_click("U0BOSS"), EnvButton(env_id=env.id))
    strict.extend(_click("U0ANA"), EnvButton(env_id=env.id))
    assert [e["actor"] for e in world.store.audit_trail(env.id)] == ["U0BOSS", "U0ANA"]


def test_a_tear_down_while_beanstalk_is_busy_is_queued_for_the_reaper_and_said_so(world):
    env = world.provider.add("feature-x", T0 + DAY)
    world.provider.envs[env.id] = replace(env, status="Updating")
    _actions(world).tear_down(_click("U0ANA"), EnvButton(env_id=env.id))
    assert world.provider.envs[env.id].status == "Updating"  # nothing terminated yet
    assert world.texts()[-1].endswith("asked to tear down `feature-x`; it is torn down as soon as its update ends.")
    assert world.store.recall(env.id).teardown_by == "U0ANA"

    world.provider.envs[env.id] = env  # Beanstalk is done
    world.jobs().reap()
    assert world.provider.envs[env.id].status == TERMINATING
    assert any("torn down by <@U0ANA>" in text for text in world.texts())


def test_a_termination_aws_refuses_is_reported_once_without_aws_words_and_retried(world):
    env = world.provider.add("stuck", T0 - HOUR)
    world.provider.refuse.add(env.id)
    jobs = world.jobs()
    for _ in range(3):
        assert [d.env.id for d, _ in jobs.reap().failed] == [env.id]
        world.now += HOUR
    (notice,) = [t for t in world.texts() if "refused" in t]
    assert "`stuck`" in notice and "AccessDenied" not in notice and "ec2:X" not in notice
    assert "Docker refused to remove its container" in notice  # the fake's environments have no ARN: local

    world.provider.refuse.clear()
    assert [d.env.id for d in jobs.reap().terminated] == [env.id]
