"""The environment messages: pure functions of environments and a `now`."""
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from slack_sdk.models.blocks import Block

from bot import buttons, env_views, views
from bot.buttons import EnvButton, KeepAwakeFor, ListPage
from bot.env_views import Extension, Gone
from bot.errors import answer_for
from bot.parsing import ENVS_USAGE, EnvsCommand, HelpCommand, UsageError, parse_envs
from deployer.environment import OFFICE_HOURS, Environment, Sleep, environment_tags
from deployer.errors import InvalidRequest, NotAllowed

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
MAX_BLOCKS = 50


def env(name: str = "feature-x", owner: str = "U0ANA", left: timedelta = 5 * HOUR, **overrides) -> Environment:
    tags = environment_tags(name, owner, NOW - 2 * HOUR, NOW + left)
    fields = dict(id=f"e-{name}", name=name, status="Ready", health="Green",
                  url=f"http://{name}.us-east-1.elasticbeanstalk.com", tags=tags)
    return Environment(**{**fields, **overrides})


def valid(message: env_views.Message) -> None:
    assert message.text
    assert len(message.blocks) <= MAX_BLOCKS
    for block in message.blocks:
        Block.parse(block).validate_json()
        assert Block.parse(block).to_dict() == block  # to_dict validates the elements (buttons, dialogs) too


def buttons_of(blocks: list[dict]) -> dict[str, dict]:
    return {e["action_id"]: e for b in blocks if b["type"] == "actions" for e in b["elements"]}


def test_a_card_shows_everything_and_carries_its_buttons():
    message = env_views.envs_page([env()], NOW, ListPage())
    valid(message)
    info = message.blocks[1]["text"]["text"]
    assert "`feature-x`" in info and "<@U0ANA>" in info and "Healthy" in info and "up 2h" in info
    assert "environment `" not in info  # its environment's name is its branch's: said once
    assert "<http://feature-x.us-east-1.elasticbeanstalk.com|" in info
    expiry = message.blocks[2]["elements"][0]["text"]
    stamp = int((NOW + 5 * HOUR).timestamp())
    assert f"<!date^{stamp}^{{date_short_pretty}} at {{time}}|2026-11-23 15:00 UTC>" in expiry
    assert "Expires in 5h" in expiry  # /envs is an answer read at once: relative is fine there
    found = buttons_of(message.blocks)
    assert set(found) == {buttons.EXTEND, buttons.REDEPLOY, buttons.LOGS, buttons.SLEEP, buttons.TEAR_DOWN}
    names = [e["text"]["text"] for e in message.blocks[3]["elements"]]
    assert names == ["Extend lifetime", "Redeploy", "Logs", "Sleep", "Tear down"]
    assert EnvButton.decode(found[buttons.EXTEND]["value"]) == EnvButton(env_id="e-feature-x", listing=ListPage())
    assert found[buttons.LOGS]["value"] == found[buttons.EXTEND]["value"] == found[buttons.TEAR_DOWN]["value"]
    confirm = found[buttons.TEAR_DOWN]["confirm"]
    assert confirm["confirm"]["text"] == "Tear down" and "can't be undone" in confirm["text"]["text"]
    assert confirm["deny"]["text"] == "Cancel"  # not "Keep it", beside a Keep that means something else


def test_a_deploy_card_has_the_logs_button_and_a_date_that_stays_true():
    deployed = env_views.Message("live", [env_views.section(":white_check_mark: `feature-x` is live")])
    card = env_views.with_controls(deployed, env(), NOW)
    valid(card)
    found = buttons_of(card.blocks)
    assert set(found) == {buttons.EXTEND, buttons.REDEPLOY, buttons.LOGS, buttons.SLEEP, buttons.TEAR_DOWN}
    assert EnvButton.decode(found[buttons.LOGS]["value"]) == EnvButton(env_id="e-feature-x")
    assert found[buttons.LOGS]["value"] == found[buttons.TEAR_DOWN]["value"]
    expiry = card.blocks[1]["elements"][0]["text"]
    assert expiry == (f":hourglass: Expires <!date^{int((NOW + 5 * HOUR).timestamp())}^{{date_short_pretty}} at "
                      "{time}|2026-11-23 15:00 UTC>")  # it stays in the channel: no "in 5h" that goes stale


def test_an_environment_whose_name_is_not_its_branchs_says_both_once():
    odd = env(name="feature-x-1a2b", tags=environment_tags("feature/x", "U0ANA", NOW - 2 * HOUR, NOW + HOUR))
    info = env_views.info_text(odd, NOW)
    assert info.startswith("*`feature/x`* · environment `feature-x-1a2b` · owner")
    gone = Gone("feature/x", "feature-x-1a2b", NOW, "U0ANA", env_views.tear_down_reason("U0ANA"))
    assert env_views.gone_card(gone).text == ":wastebasket: `feature/x` (environment `feature-x-1a2b`) is gone."
    same = Gone("feature-x", "feature-x", NOW, "U0ANA", env_views.tear_down_reason("U0ANA"))
    assert env_views.gone_card(same).text == ":wastebasket: `feature-x` is gone."
    assert env_views.gone_notice(same).text == ":wastebasket: `feature-x` was torn down by <@U0ANA>"


def test_an_owner_who_is_not_a_slack_user_is_shown_as_written():
    info = env_views.info_text(env(owner="jenkins"), NOW)
    assert "owner jenkins" in info and "<@" not in info


def test_an_empty_list_says_how_to_deploy():
    for mine in (False, True):
        message = env_views.envs_page([], NOW, ListPage(mine=mine))
        valid(message)
        assert "/deploy BRANCH" in message.text
        assert ("You have no" in message.text) == mine


@pytest.mark.parametrize("count", [1, 10, 11, 49, 200])
def test_long_lists_are_paged_within_block_kit_limits(count):
    environments = [env(f"feature-{i:03d}") for i in range(count)]
    seen, page = [], ListPage()
    while True:
        message = env_views.envs_page(environments, NOW, page)
        valid(message)
        seen += [b["block_id"] for b in message.blocks if b["block_id"].endswith(":info")]
        more = buttons_of(message.blocks).get(buttons.ENVS_MORE)
        if more is None:
            break
        page = ListPage.decode(more["value"])
    assert seen == [f"env:e-feature-{i:03d}:info" for i in range(count)]


def test_a_page_past_the_end_shows_the_last_one():
    message = env_views.envs_page([env(f"f-{i:03d}") for i in range(12)], NOW, ListPage(page=7))
    assert "page 2 of 2" in message.blocks[0]["text"]["text"]
    assert buttons.ENVS_BACK in buttons_of(message.blocks)


def test_an_unreadable_expiry_is_said_plainly():
    broken = env(tags={"deploybot:managed-by": "deploybot", "deploybot:expires": "next tuesday"})
    message = env_views.envs_page([broken], NOW, ListPage())
    valid(message)
    line = message.blocks[2]["elements"][0]["text"]
    assert "can't be read" in line and "tag" not in line and "ask an admin" not in line


def test_extending_patches_only_that_environments_lines():
    original = env_views.with_controls(env_views.Message("live", [env_views.section("live")]), env(), NOW)
    later = env_views.with_expiry(env(), NOW + 29 * HOUR)
    blocks = env_views.patched(original.blocks, later, NOW, Extension("U0BEA", pending=True))
    valid(env_views.Message("live", blocks))
    assert blocks[0] == original.blocks[0] and blocks[2] == original.blocks[2]
    expiry = blocks[1]["elements"][0]["text"]
    stamp = int((NOW + 29 * HOUR).timestamp())
    assert f":hourglass: Expires <!date^{stamp}^" in expiry
    assert "extended by <@U0BEA>" in expiry and "not busy" in expiry
    assert " in 1d" not in expiry and "AWS" not in expiry
    at = Extension("U0BEA", at=NOW)
    line = env_views.patched(original.blocks, later, NOW, at)[1]["elements"][0]["text"]
    assert f"extended by <@U0BEA> <!date^{int(NOW.timestamp())}^" in line  # who, and when


def test_a_warning_keeps_its_own_buttons_when_patched():
    warning = env_views.expiry_warning(env(left=HOUR), NOW)
    valid(warning)
    stamp = int((NOW + HOUR).timestamp())
    assert warning.text == (f":hourglass_flowing_sand: <@U0ANA>, `feature-x` expires <!date^{stamp}^"
                            "{date_short_pretty} at {time}|2026-11-23 11:00 UTC> and is then torn down. "
                            "Extend it if you still need it.")
    names = [e["text"]["text"] for e in warning.blocks[-1]["elements"]]
    assert names == ["Extend lifetime", "Tear down now"]
    patched = env_views.patched(warning.blocks, env(left=DAY), NOW, Extension("U0ANA"))
    assert [e["text"]["text"] for e in patched[-1]["elements"]] == names


def test_a_gone_environment_loses_its_buttons():
    gone = Gone("feature-x", "feature-x", NOW, "U0ANA", env_views.tear_down_reason("U0ANA"))
    card = env_views.gone_card(gone)
    valid(card)
    assert not buttons_of(card.blocks)
    line = card.blocks[1]["elements"][0]["text"]
    assert line == (f":wastebasket: Torn down <!date^{int(NOW.timestamp())}^{{date_short_pretty}} at {{time}}|"
                    "2026-11-23 10:00 UTC> by <@U0ANA>")  # "on request of <@U0ANA>" would say who twice
    listed = env_views.envs_page([env()], NOW, ListPage(), {"e-feature-x": gone})
    assert not buttons_of(listed.blocks)
    reaped = Gone("feature-x", "feature-x", NOW, None, env_views.expired(NOW - HOUR))
    assert env_views.gone_notice(reaped).text == (
        f":wastebasket: `feature-x` was torn down because it expired <!date^{int((NOW - HOUR).timestamp())}^"
        "{date_short_pretty} at {time}|2026-11-23 09:00 UTC>")
    hook = Gone("feature-x", "feature-x", NOW, "github:octocat", "branch deleted by octocat")
    assert env_views.gone_notice(hook).text == ":wastebasket: `feature-x` was torn down: branch deleted by octocat"


def test_a_torn_down_card_keeps_what_it_said_and_loses_only_its_buttons():
    said = env_views.section(":white_check_mark: `feature-x` is live at http://x")
    original = env_views.with_controls(env_views.Message("live", [said, env_views.context("Deployed by <@U0ANA>")]),
                                       env(), NOW)
    gone = Gone("feature-x", "feature-x", NOW, "U0BEA", env_views.tear_down_reason("U0BEA"))
    patched = env_views.gone_patched(original, "e-feature-x", gone)
    valid(patched)
    assert patched.blocks[:2] == original.blocks[:2] and len(patched.blocks) == 3
    assert not buttons_of(patched.blocks)
    assert patched.blocks[2]["elements"][0]["text"] == env_views.gone_line(gone)
    assert patched.text == ":wastebasket: `feature-x` is gone."


def test_terminating_environments_get_no_buttons():
    message = env_views.envs_page([env(status="Terminating", health="Grey")], NOW, ListPage())
    assert not buttons_of(message.blocks)


def test_button_values_are_small_and_checked():
    value = EnvButton(env_id="e-abcdefghij", listing=ListPage(page=3, mine=True)).encode()
    assert len(value) < 100
    with pytest.raises(InvalidRequest, match="older deploybot"):
        EnvButton.decode('{"env": 1}')


def test_slack_markup_in_names_cannot_break_the_message():
    odd = env(name="feat-x", owner="<!channel>")
    info = env_views.info_text(odd, NOW)
    assert "<!channel>" not in info and "owner &lt;!channel&gt;" in info


@pytest.mark.parametrize("text,parsed", [
    ("", EnvsCommand()), ("mine", EnvsCommand(mine=True)), (" MINE ", EnvsCommand(mine=True)),
    ("help", HelpCommand(ENVS_USAGE)),
])
def test_envs_parses(text, parsed):
    assert parse_envs(text) == parsed


def test_envs_usage_errors_suggest():
    with pytest.raises(UsageError, match="Did you mean `mine`"):
        parse_envs("mien")


def test_what_aws_says_about_an_environment_cannot_break_its_card():
    odd = env(status="<!here>", health="<@U0BAD>", url="http://x.example/?a=1&b=<2>")
    info = env_views.info_text(odd, NOW)
    assert ":white_circle: &lt;!here&gt; ·" in info and "<!here>" not in info
    assert "<http://x.example/?a=1&amp;b=&lt;2&gt;|http://x.example/?a=1&amp;b=&lt;2&gt;>" in info
    assert "is &lt;!here&gt; right now" in answer_for(InvalidRequest(env_views.busy(odd)))


def test_a_malformed_expiry_tag_is_quoted_escaped():
    notice = env_views.malformed_notice(env(), "its expiry can't be read (`<!channel>` is not a time)")
    assert "(`&lt;!channel&gt;` is not a time)" in notice and "<!channel>" not in notice


def test_notices_about_an_environment_use_its_platforms_words():
    aws = env(arn="arn:aws:elasticbeanstalk:us-east-1:123456789012:environment/app/feature-x")
    local = env()  # the local provider's containers have no ARN
    reason = "its expiry can't be read (`soon` is not a time); it is left alone"
    assert "`deploybot:expires` tag" in env_views.malformed_notice(aws, reason)
    local_notice = env_views.malformed_notice(local, reason)
    assert "tag" not in local_notice and "AWS" not in local_notice
    assert "AWS refused to terminate it" in env_views.terminate_failed_notice(aws)
    refused = env_views.terminate_failed_notice(local)
    assert "Docker refused to remove its container" in refused and "AWS" not in refused
    for notice in (env_views.terminate_failed_notice(aws), env_views.terminate_failed_notice(local)):
        assert "reaper" not in notice and "pass" not in notice


def test_refusals_keep_their_mention_when_answered_as_errors():
    for refusal in (env_views.not_allowed(env()), env_views.not_allowed_to_extend(env())):
        answer = answer_for(NotAllowed(refusal))
        assert "Only its owner (<@U0ANA>)" in answer, answer


def test_envs_text_is_decoded_and_quoted_escaped():
    with pytest.raises(UsageError) as caught:
        parse_envs("&lt;!channel&gt;")
    assert "(got `<!channel>`)" in caught.value.problem
    assert "(got `&lt;!channel&gt;`)" in views.usage_reply(caught.value.problem, caught.value.usage)


def test_a_sleeping_environment_says_since_when_and_by_whom_and_offers_wake_instead_of_sleep():
    asleep = env(asleep=Sleep(NOW - 2 * HOUR, "U0BOB"))
    message = env_views.envs_page([asleep], NOW, ListPage())
    valid(message)
    info, expiry = message.blocks[1]["text"]["text"], message.blocks[2]["elements"][0]["text"]
    stamp = int((NOW - 2 * HOUR).timestamp())
    assert ":zzz: Asleep ·" in info and "Healthy" not in info
    assert f":zzz: Asleep since <!date^{stamp}^" in expiry
    assert "put to sleep by <@U0BOB> · :hourglass: Expires" in expiry
    found = buttons_of(message.blocks)
    assert buttons.WAKE in found and buttons.SLEEP not in found
    assert found[buttons.WAKE]["text"]["text"] == "Wake"
    for_the_night = env_views.expiry_text(env(asleep=Sleep(NOW, OFFICE_HOURS)), NOW)
    assert "for the night (office hours)" in for_the_night


def test_a_redrawn_card_turns_its_sleep_button_and_keeps_everything_else():
    awake = env()
    blocks = [{"type": "section", "block_id": "head", "text": {"type": "mrkdwn", "text": "Ready"}},
              *env_views.card(awake, NOW)]
    redrawn = env_views.redrawn(blocks, replace(awake, asleep=Sleep(NOW, "U0ANA")), NOW)
    assert redrawn[0] == blocks[0]  # the head stays
    assert ":zzz: Asleep" in redrawn[1]["text"]["text"] and ":zzz: Asleep since" in redrawn[2]["elements"][0]["text"]
    assert [e["action_id"] for e in redrawn[3]["elements"]] == [
        buttons.EXTEND, buttons.REDEPLOY, buttons.LOGS, buttons.WAKE, buttons.TEAR_DOWN]



def test_with_office_hours_an_awake_card_offers_a_keep_awake_menu_and_a_sleeping_one_does_not():
    kinds = env_views.card_buttons(office_hours=True)
    assert env_views.card_buttons(office_hours=False) == env_views.ALL_BUTTONS
    awake = [e["action_id"] for e in env_views.card(env(), NOW, kinds=kinds)[2]["elements"]]
    assert awake == [buttons.EXTEND, buttons.REDEPLOY, buttons.LOGS, buttons.SLEEP, buttons.KEEP_AWAKE_FOR,
                     buttons.TEAR_DOWN]
    asleep = [e["action_id"] for e in env_views.card(env(asleep=Sleep(NOW, "U0ANA")), NOW, kinds=kinds)[2]["elements"]]
    assert buttons.KEEP_AWAKE_FOR not in asleep and buttons.WAKE in asleep
    page = env_views.envs_page([env()], NOW, ListPage(), kinds=kinds)
    valid(page)
    assert buttons.KEEP_AWAKE_FOR in buttons_of(page.blocks)
    # a card drawn asleep (no Keep awake), then woken: it offers Keep awake… again
    sleeping = env_views.card(env(asleep=Sleep(NOW, "U0ANA")), NOW, kinds=kinds)
    woken = env_views.redrawn(sleeping, env(), NOW, office_hours=True)
    assert [e["action_id"] for e in woken[2]["elements"]] == awake
    assert buttons.KEEP_AWAKE_FOR not in buttons_of(env_views.redrawn(sleeping, env(), NOW))  # no office hours, none

    # Each option names its environment, the page of /envs it is on and how many nights, within Slack's 150 characters.
    long = env(name="deploybot-" + "x" * 48)  # a local container id: deploybot-, a prefix and a 40-character name
    menu = buttons_of(env_views.envs_page([long], NOW, ListPage(mine=True), kinds=kinds).blocks)
    options = menu[buttons.KEEP_AWAKE_FOR]["options"]
    chosen = [KeepAwakeFor.decode(o["value"]) for o in options]
    assert [c.nights for c in chosen] == [1, 2, 3, 5, 0]
    assert {(c.env_id, c.listing) for c in chosen} == {(long.id, ListPage(mine=True))}
    assert max(len(o["value"]) for o in options) <= 150
