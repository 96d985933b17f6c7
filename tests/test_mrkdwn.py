"""Slack's escaping both ways: outside text can never become a mention or a link."""
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from bot.mrkdwn import Mrkdwn, escape, slack_date, unescape

# Arbitrary text, with Slack's markup and ready-made entities much more likely than chance gives.
pieces = st.one_of(st.text(), st.sampled_from(["<", ">", "&", "&amp;", "&lt;", "&gt;", "<!channel>", "|"]))
slackish = st.lists(pieces).map("".join)


@given(slackish)
def test_escaped_text_has_no_markup_and_decodes_to_itself(text):
    escaped = escape(text)
    assert "<" not in escaped and ">" not in escaped
    assert unescape(escaped) == text


@given(slackish)
def test_every_ampersand_left_starts_an_entity(text):
    escaped = escape(text)
    assert escaped.count("&") == escaped.count("&amp;") + escaped.count("&lt;") + escaped.count("&gt;")


def test_the_examples_slack_documents():
    assert escape("<!channel> fix <https://evil|docs> & more") == (
        "&lt;!channel&gt; fix &lt;https://evil|docs&gt; &amp; more")


def test_unescape_decodes_only_what_slack_escapes_and_ampersand_last():
    assert unescape("feature&amp;x &lt;b&gt;") == "feature&x <b>"
    assert unescape("&amp;lt;") == "&lt;"
    assert unescape("&quot;&#39;&nbsp;") == "&quot;&#39;&nbsp;"


def test_text_deploybot_formatted_is_left_alone():
    own = Mrkdwn("Only its owner (<@U0ANA>) may")
    assert escape(own) is own
    assert escape(str(own)) == "Only its owner (&lt;@U0ANA&gt;) may"


def test_a_date_is_slacks_token_with_a_utc_fallback_whatever_the_zone_given():
    paris = timezone(timedelta(hours=1))
    moment = datetime(2026, 12, 8, 15, 0, 30, tzinfo=paris)
    assert slack_date(moment) == "<!date^1796738430^{date_short_pretty} at {time}|2026-12-08 14:00 UTC>"
    assert slack_date(moment) == slack_date(moment.astimezone(timezone.utc))
    assert escape(slack_date(moment)) == slack_date(moment)  # deploybot's own markup: sent as it is
    with pytest.raises(ValueError, match="aware"):
        slack_date(datetime(2026, 12, 8, 14, 0))
