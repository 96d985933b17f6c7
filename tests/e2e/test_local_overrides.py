"""Per-environment overrides from Slack on the local Docker provider, end to end (issue 20).

`/deploy X --set GREETING=hi` gives X's container the variable over deploybot.yml's `env`; a later deploy
that asks nothing (as a push's) keeps it; `--unset` gives the file's value back; `--set` of a secret's name
is refused with nothing changed. The card lists the overrides with their values and the secrets by name only.
Against a `deploybot serve` process of its own, driven with signed Slack requests, its secrets in moto's SSM.
"""
from __future__ import annotations

import uuid

import pytest

from tests.e2e.conftest import local_bot_env, start_bot
from tests.e2e.helpers import CHANNEL, finished, remove_local_environments, root_of
from tests.world.apprepo import make_app_repo, page_for
from tests.world.dockerenv import docker_client
from tests.world.slack_api import SlackApiStandIn

pytestmark = pytest.mark.e2e

PREFIX = "ov-"
CONTAINERS = f"deploybot-{PREFIX}"
BRANCH = "ov-settings"  # a branch of its own: the Slack stand-in is shared with other modules' threads
PLANTED = f"planted-{uuid.uuid4().hex}"  # the secret's value: never on a card
CONFIG = ('env:\n  GREETING: "hello {feature}"\n'
          'secrets:\n  API_KEY: /deploybot/{feature}/API_KEY\n')


@pytest.fixture(scope="module")
def world(slack, moto, docker_world, logs, tmp_path_factory):
    root = tmp_path_factory.mktemp("overrides-repo")
    url = make_app_repo(root, {BRANCH: {"index.html": page_for(BRANCH), "deploybot.yml": CONFIG}})
    moto.client("ssm").put_parameter(Name=f"/deploybot/{BRANCH}/API_KEY", Value=PLANTED, Type="SecureString")
    work = tmp_path_factory.mktemp("overrides-work")
    repository = f"overrides-{uuid.uuid4().hex[:8]}"
    env = local_bot_env(slack, url, work, ports="26500-26599", prefix=PREFIX, repository=repository,
                        **moto.environment_variables(), DEPLOYBOT_CHANNEL=CHANNEL,
                        DEPLOYBOT_SECRETS_PREFIX="/deploybot/")
    client = docker_client()
    bot = start_bot(env, slack, logs / "overrides-bot.log")
    try:
        yield bot, client
    finally:
        bot.stop()
        remove_local_environments(client, PREFIX, repository)


def _deploy(bot, slack: SlackApiStandIn, text: str, after: int) -> tuple[str, list[str]]:
    assert bot.driver.slash(text=text, user_id="U0ANA").status_code == 200
    ts = root_of(slack, BRANCH, after=after)
    return ts, finished(slack, ts, timeout=120)


def _variables(client, env_id: str) -> dict[str, str]:
    container = client.containers.get(env_id)
    return dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])


def _card(slack: SlackApiStandIn, ts: str) -> str:
    blocks = slack.messages(CHANNEL)[ts].get("blocks", [])
    return "\n".join(e["text"] for b in blocks if b["type"] == "context" for e in b["elements"])


def test_set_reaches_the_app_is_kept_by_later_deploys_and_unset_takes_it_back(world, slack):
    bot, client = world
    env_id = CONTAINERS + BRANCH

    ts, thread = _deploy(bot, slack, f'{BRANCH} --set GREETING="hi there" --set EXTRA=a=b', after=0)
    assert thread[-1].startswith(":rocket:"), thread
    seen = _variables(client, env_id)
    assert seen["GREETING"] == "hi there" and seen["EXTRA"] == "a=b" and seen["API_KEY"] == PLANTED
    card = _card(slack, ts)
    assert "`GREETING`=`hi there`" in card and "`EXTRA`=`a=b`" in card, card
    assert "`API_KEY`" in card and PLANTED not in str(slack.messages(CHANNEL)[ts]), card

    ts, thread = _deploy(bot, slack, BRANCH, after=1)  # as a push's redeploy: no changes asked
    assert thread[-1].startswith(":rocket:"), thread
    assert any("no build needed" in line for line in thread), thread  # a change of settings alone builds nothing
    assert not any(line.startswith("Building image") for line in thread), thread
    assert _variables(client, env_id)["GREETING"] == "hi there"
    kept = client.containers.get(env_id).id

    ts, thread = _deploy(bot, slack, f"{BRANCH} --set API_KEY=x --set GREETING=never", after=2)
    assert any("`API_KEY` is a secret of deploybot.yml: its value comes from SSM, not from Slack" in line
               for line in thread), thread
    assert client.containers.get(env_id).id == kept  # nothing changed: the container is the one it was
    assert _variables(client, env_id)["GREETING"] == "hi there"

    ts, thread = _deploy(bot, slack, f"{BRANCH} --unset GREETING", after=3)
    assert thread[-1].startswith(":rocket:"), thread
    seen = _variables(client, env_id)
    assert seen["GREETING"] == f"hello {BRANCH}" and seen["EXTRA"] == "a=b"
    card = _card(slack, ts)
    assert "GREETING" not in card and "`EXTRA`=`a=b`" in card, card
