"""The Home tab's view: yours first, then the team's, within Slack's 100 blocks, valid Block Kit. Pure."""
from datetime import datetime, timedelta, timezone

from slack_sdk.models.blocks import Block

from bot.home_views import MAX_BLOCKS, home_view
from deployer.environment import Environment, environment_tags

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)


def _env(feature: str, owner: str) -> Environment:
    tags = environment_tags(feature, owner, NOW - timedelta(hours=2), NOW + timedelta(days=1))
    return Environment(f"e-{feature}"[:40], f"app-{feature}"[:40], "Ready", "Green", f"http://{feature[:30]}.example",
                       tags=tags)


def _cards(view: dict) -> list[str]:
    return [b["block_id"].split(":")[1] for b in view["blocks"] if b.get("block_id", "").endswith(":info")]


def _valid(view: dict) -> None:
    assert len(view["blocks"]) <= MAX_BLOCKS
    for block in view["blocks"]:
        Block.parse(block).validate_json()


def test_yours_come_first_then_the_teams():
    view = home_view("U0ANA", [_env("b-theirs", "U0CAT"), _env("a-mine", "U0ANA"), _env("c-mine", "U0ANA")], NOW)
    assert _cards(view) == ["e-a-mine", "e-c-mine", "e-b-theirs"]
    _valid(view)


def test_nothing_live_says_so_for_both_parts():
    view = home_view("U0ANA", [], NOW)
    text = str(view)
    assert "You have no live environments." in text and "Nobody else has a live environment." in text
    _valid(view)


def test_fifty_environments_with_long_names_fit_and_say_how_many_more_there_are():
    envs = [_env(f"feature/{'x' * 230}-{i:02d}", "U0ANA" if i % 5 == 0 else "U0CAT") for i in range(50)]
    view = home_view("U0ANA", envs, NOW, note="Extended `feature/x` to tomorrow.")
    _valid(view)
    shown = len(_cards(view))
    assert 0 < shown < 50 and f"{50 - shown} more are live" in str(view)
    assert view["blocks"][1]["block_id"] == "home:note"
