"""Tests of the local Slack world itself: the Web API stand-in and the driver.

If these fail, every end-to-end test built on them is suspect, so they check
the stand-in against the real slack_sdk / slack_bolt clients rather than
against our own expectations of what those clients send.
"""
from __future__ import annotations

import json
import threading

import pytest
import requests
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient
from werkzeug.serving import make_server

from tests.world.slack_api import BOT_USER_ID, METHOD_SCOPES, SlackApiStandIn, manifest_bot_scopes
from tests.world.slack_driver import SlackDriver

SECRET = "test-signing-secret"


@pytest.fixture(scope="module")
def standin_server():
    with SlackApiStandIn() as standin:
        yield standin


@pytest.fixture
def slack(standin_server):
    standin_server.reset()
    return standin_server


@pytest.fixture
def client(slack):
    return WebClient(base_url=slack.url, token="xoxb-test")


@pytest.fixture
def wide_client(slack):
    """A token with every scope the stand-in knows, for methods deploybot's manifest does not grant."""
    slack.grant("xoxb-every-scope", {scope for scopes in METHOD_SCOPES.values() for scope in scopes})
    return WebClient(base_url=slack.url, token="xoxb-every-scope")


def api_error(call) -> str:
    with pytest.raises(SlackApiError) as info:
        call()
    return info.value.response["error"]


# ---------------------------------------------------------------- Web API


def test_auth_test_answers_like_slack(client):
    answer = client.auth_test()
    assert answer["ok"] and answer["user_id"] == BOT_USER_ID
    assert {"bot_id", "team_id", "url"} <= set(answer.data)


def test_posting_to_a_user_id_lands_in_their_dm_with_the_app(client, slack):
    posted = client.chat_postMessage(channel="U0ANA", text="for ana's eyes")
    assert posted["channel"] == "D0ANA" and slack.messages("D0ANA")[posted["ts"]]["text"] == "for ana's eyes"
    assert api_error(lambda: client.chat_postMessage(channel="U0NOBODY", text="x")) == "channel_not_found"


def test_rate_limit_is_recovered_by_slack_sdk_retry_handler(slack):
    # retry_after=0 keeps the test fast; the handler still sleeps < 1 s of jitter.
    slack.fail_next("chat.postMessage", status=429, retry_after=0)
    client = WebClient(base_url=slack.url, token="xoxb-test",
                       retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])

    answer = client.chat_postMessage(channel="C0DEPLOY", text="after the storm")

    assert answer["ok"]
    assert [c.status for c in slack.calls("chat.postMessage")] == [429, 200]
    assert [m["text"] for m in slack.messages().values()] == ["after the storm"]


def test_rate_limit_sends_retry_after_header(slack):
    slack.fail_next("auth.test", status=429, retry_after=7)
    answer = requests.post(slack.url + "auth.test", headers={"Authorization": "Bearer xoxb-test"})
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "7"
    assert answer.json() == {"ok": False, "error": "ratelimited"}


def test_injected_error_fails_only_the_next_calls(wide_client, slack):
    slack.fail_next("conversations.info", error="channel_not_found", times=2)
    assert api_error(lambda: wide_client.conversations_info(channel="C0DEPLOY")) == "channel_not_found"
    assert api_error(lambda: wide_client.conversations_info(channel="C0DEPLOY")) == "channel_not_found"
    assert wide_client.conversations_info(channel="C0DEPLOY")["channel"]["name"] == "deploys"


def test_post_update_and_thread_are_recorded(client, slack):
    parent = client.chat_postMessage(channel="C0DEPLOY", text="Deploying api",
                                     blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}])
    first = client.chat_postMessage(channel="C0DEPLOY", text="step 1", thread_ts=parent["ts"])
    second = client.chat_postMessage(channel="C0DEPLOY", text="step 2", thread_ts=parent["ts"])
    client.chat_update(channel="C0DEPLOY", ts=parent["ts"], text="Deployed api")

    assert float(parent["ts"]) < float(first["ts"]) < float(second["ts"])
    assert first["message"]["thread_ts"] == parent["ts"]
    now = slack.messages("C0DEPLOY")[parent["ts"]]
    assert now["text"] == "Deployed api"
    assert now["blocks"][0]["type"] == "section"  # omitted blocks are kept, as in Slack
    assert now["reply_count"] == 2
    assert [m["text"] for m in slack.thread(parent["ts"])] == ["step 1", "step 2"]
    assert [c.thread_ts for c in slack.calls("chat.postMessage")] == [None, parent["ts"], parent["ts"]]


def test_update_of_unknown_message_fails(client):
    assert api_error(lambda: client.chat_update(channel="C0DEPLOY", ts="1.000001", text="x")) \
        == "message_not_found"


def test_invalid_or_missing_token_is_rejected_and_recorded(slack):
    wrong = WebClient(base_url=slack.url, token="xoxb-wrong")
    assert api_error(lambda: wrong.chat_postMessage(channel="C0DEPLOY", text="x")) == "invalid_auth"
    anonymous = WebClient(base_url=slack.url)
    assert api_error(lambda: anonymous.auth_test()) == "not_authed"
    assert [c.token_valid for c in slack.calls()] == [False, False]
    assert slack.messages() == {}


def test_form_encoded_call_with_token_param(slack):
    blocks = json.dumps([{"type": "divider"}])
    answer = requests.post(slack.url + "chat.postMessage",
                           data={"token": "xoxb-test", "channel": "#deploys", "text": "hi", "blocks": blocks})
    assert answer.json()["ok"] and answer.json()["channel"] == "C0DEPLOY"
    assert slack.calls()[0].params["blocks"] == blocks  # recorded as sent, without the token
    assert "token" not in slack.calls()[0].params


@pytest.mark.parametrize("blocks", [
    {"type": "section"},                      # not a list
    [{"text": "no type"}],                    # block without type
    ["divider"],                              # not an object
    [{"type": "divider"}] * 51,               # more than 50 blocks
])
def test_invalid_blocks_are_rejected(client, blocks):
    assert api_error(lambda: client.chat_postMessage(channel="C0DEPLOY", text="x", blocks=blocks)) \
        == "invalid_blocks"


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_message_needs_text_or_blocks_and_a_channel(client):
    assert api_error(lambda: client.chat_postMessage(channel="C0DEPLOY")) == "no_text"
    assert api_error(lambda: client.chat_postMessage(channel="nowhere", text="x")) == "channel_not_found"


def test_the_bot_posts_only_where_it_was_invited(client, slack):
    assert api_error(lambda: client.chat_postMessage(channel="C0RANDOM", text="x")) == "not_in_channel"
    assert api_error(lambda: client.chat_postMessage(channel="#random", text="x")) == "not_in_channel"
    assert slack.messages("C0RANDOM") == {}
    slack.memberships.add("C0RANDOM")
    try:
        assert client.chat_postMessage(channel="C0RANDOM", text="x")["ok"]
    finally:
        slack.memberships.discard("C0RANDOM")


def test_other_methods(wide_client, slack):
    posted = wide_client.chat_postMessage(channel="C0DEPLOY", text="x")
    assert wide_client.chat_postEphemeral(channel="C0DEPLOY", user="U0ANA", text="psst")["message_ts"]
    link = wide_client.chat_getPermalink(channel="C0DEPLOY", message_ts=posted["ts"])["permalink"]
    assert link.endswith("/archives/C0DEPLOY/p" + posted["ts"].replace(".", ""))
    assert wide_client.users_info(user="U0ANA")["user"]["name"] == "ana"
    wide_client.reactions_add(channel="C0DEPLOY", timestamp=posted["ts"], name="rocket")
    assert api_error(lambda: wide_client.reactions_add(channel="C0DEPLOY", timestamp=posted["ts"],
                                                       name="rocket")) == "already_reacted"
    assert slack.messages()[posted["ts"]]["reactions"][0]["name"] == "rocket"
    assert api_error(lambda: wide_client.api_call("chat.nonsense")) == "unknown_method"


def test_usergroup_members_are_listed_and_unknown_groups_refused(client, slack):
    slack.add_usergroup("S0ADMINS", ["U0ANA", "U0BEA"])
    assert client.usergroups_users_list(usergroup="S0ADMINS")["users"] == ["U0ANA", "U0BEA"]
    assert api_error(lambda: client.usergroups_users_list(usergroup="S0NOPE")) == "no_such_subteam"


def test_wait_for_returns_value_or_explains_timeout(client, slack):
    threading.Timer(0.05, lambda: client.chat_postMessage(channel="C0DEPLOY", text="late")).start()
    assert slack.wait_for(lambda s: s.calls("chat.postMessage"), timeout=2)[0].params["text"] == "late"

    with pytest.raises(AssertionError, match="(?s)no_reactions.*chat.postMessage -> ok"):
        slack.wait_for(lambda s: s.calls("reactions.add"), timeout=0.05, what="no_reactions")


# ------------------------------------------------------------ OAuth scopes


@pytest.fixture(scope="module")
def scoped_server():
    """A workspace where one more token is installed with only the `commands` scope."""
    with SlackApiStandIn(tokens={"xoxb-test": manifest_bot_scopes(), "xoxb-commands-only": {"commands"}}) as standin:
        yield standin


@pytest.fixture
def scoped(scoped_server):
    scoped_server.reset()
    return scoped_server


def test_the_bot_token_is_granted_exactly_the_manifest_scopes(client, slack):
    assert SlackApiStandIn().tokens == {"xoxb-test": manifest_bot_scopes()}
    assert "chat:write" in manifest_bot_scopes()
    assert client.chat_postMessage(channel="C0DEPLOY", text="allowed")["ok"]
    assert [m["text"] for m in slack.messages().values()] == ["allowed"]


def test_a_method_without_its_scope_is_refused_and_nothing_happens(scoped):
    client = WebClient(base_url=scoped.url, token="xoxb-commands-only")
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="C0DEPLOY", text="not allowed")

    answer = info.value.response
    assert (answer.status_code, answer["error"]) == (200, "missing_scope")
    assert (answer["needed"], answer["provided"]) == ("chat:write", "commands")
    assert scoped.messages() == {}
    refused = scoped.calls("chat.postMessage")[0]
    assert refused.token_valid and not refused.ok and refused.params["text"] == "not allowed"
    assert "missing_scope (needed chat:write, provided commands)" in scoped.dump()


def test_usergroup_members_need_usergroups_read(scoped):
    scoped.add_usergroup("S0ADMINS", ["U0ANA"])
    limited = WebClient(base_url=scoped.url, token="xoxb-commands-only")
    assert api_error(lambda: limited.usergroups_users_list(usergroup="S0ADMINS")) == "missing_scope"
    assert scoped.calls()[-1].response["needed"] == "usergroups:read"
    bot = WebClient(base_url=scoped.url, token="xoxb-test")
    assert bot.usergroups_users_list(usergroup="S0ADMINS")["users"] == ["U0ANA"]


def test_any_one_of_several_accepted_scopes_is_enough(scoped):
    scoped.grant("xoxb-private-only", {"groups:read"})
    assert WebClient(base_url=scoped.url, token="xoxb-private-only").conversations_info(channel="C0DEPLOY")["ok"]
    limited = WebClient(base_url=scoped.url, token="xoxb-commands-only")
    with pytest.raises(SlackApiError) as info:
        limited.conversations_info(channel="C0DEPLOY")
    assert info.value.response["needed"] == "channels:read,groups:read,im:read,mpim:read"


def test_auth_checks_come_before_scope_checks_and_unknown_methods_first(scoped):
    wrong = WebClient(base_url=scoped.url, token="xoxb-wrong")
    assert api_error(lambda: wrong.chat_postMessage(channel="C0DEPLOY", text="x")) == "invalid_auth"
    limited = WebClient(base_url=scoped.url, token="xoxb-commands-only")
    assert api_error(lambda: limited.api_call("chat.nonsense")) == "unknown_method"
    assert limited.auth_test()["ok"]  # needs a valid token, no scope
    scoped.fail_next("chat.postMessage", error="channel_not_found")
    assert api_error(lambda: limited.chat_postMessage(channel="C0DEPLOY", text="x")) == "missing_scope"
    assert api_error(lambda: WebClient(base_url=scoped.url, token="xoxb-test")
                     .chat_postMessage(channel="C0DEPLOY", text="x")) == "channel_not_found"


def test_answers_carry_the_oauth_scope_headers(client, slack):
    posted = client.chat_postMessage(channel="C0DEPLOY", text="x")
    granted = ",".join(sorted(manifest_bot_scopes()))
    assert posted.headers["X-OAuth-Scopes"] == granted
    assert posted.headers["X-Accepted-OAuth-Scopes"] == "chat:write"

    checked = client.auth_test()
    assert checked.headers["X-OAuth-Scopes"] == granted
    assert "X-Accepted-OAuth-Scopes" not in checked.headers  # auth.test needs no scope

    with pytest.raises(SlackApiError) as info:  # errors from the method carry them too
        client.chat_update(channel="C0DEPLOY", ts="1.000001", text="x")
    assert info.value.response.headers["X-Accepted-OAuth-Scopes"] == "chat:write"

    anonymous = requests.post(slack.url + "auth.test", headers={"Authorization": "Bearer xoxb-wrong"})
    assert "X-OAuth-Scopes" not in anonymous.headers


def test_every_served_method_has_a_scope_entry(slack):
    assert set(slack._methods) <= set(METHOD_SCOPES)  # noqa: SLF001 - the stand-in's method table


def test_scopes_must_be_a_collection_not_one_string():
    with pytest.raises(TypeError):
        SlackApiStandIn(tokens={"xoxb-test": "chat:write"})


# ------------------------------------------------------------ response_url


def test_response_url_allows_five_posts(slack):
    url = slack.new_response_url()
    hook = WebhookClient(url)
    statuses = [hook.send(text=f"update {i}").status_code for i in range(6)]

    assert statuses == [200] * 5 + [404]
    assert json.loads(hook.send(text="again").body)["error"] == "used_url"
    calls = slack.calls("response_url")
    assert calls[0].params["text"] == "update 0" and calls[0].response_url == url
    assert [c.ok for c in calls] == [True] * 5 + [False] * 2


def test_response_url_replace_and_delete_original(client, slack):
    posted = client.chat_postMessage(channel="C0DEPLOY", text="Approve?")
    hook = WebhookClient(slack.new_response_url(channel="C0DEPLOY", message_ts=posted["ts"]))

    hook.send(text="Approved by ana", replace_original=True)
    assert slack.messages()[posted["ts"]]["text"] == "Approved by ana"
    hook.send(delete_original=True)
    assert posted["ts"] not in slack.messages()


def test_unknown_response_url_is_expired(slack):
    answer = requests.post(slack.base_url + "/response/nope", json={"text": "x"})
    assert (answer.status_code, answer.json()["error"]) == (404, "expired_url")


# ------------------------------------------------------------------ driver


@pytest.fixture(scope="module")
def bolt_app(standin_server):
    """A minimal Bolt app on a real port: the driver must satisfy real Bolt."""
    app = App(signing_secret=SECRET, client=WebClient(base_url=standin_server.url, token="xoxb-test"))
    seen: list[dict] = []

    @app.command("/deploy")
    def deploy(ack, command, respond, client):
        seen.append(command)
        ack("On it")
        respond(text=f"deploying {command['text']}")
        client.chat_postMessage(channel=command["channel_id"], text=f"Deploying {command['text']}")

    @app.action("approve")
    def approve(ack, body, respond):
        seen.append(body)
        ack()
        respond(text="approved", replace_original=True)

    server = make_server("127.0.0.1", 0, SlackRequestHandler(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def driver(bolt_app, slack):
    bolt_app[1].clear()
    return SlackDriver(bolt_app[0], SECRET, response_urls=slack.new_response_url)


def test_signature_validates_only_with_the_right_secret_and_time():
    driver = SlackDriver("http://unused", SECRET)
    body = "command=%2Fdeploy&text=api"
    verify = SignatureVerifier(SECRET)

    def valid(headers):
        return verify.is_valid(body=body, timestamp=headers["X-Slack-Request-Timestamp"],
                               signature=headers["X-Slack-Signature"])

    assert valid(driver.signature_headers(body))
    assert not valid(driver.signature_headers(body, secret="forged"))
    assert not valid(driver.signature_headers(body, timestamp=driver.stale_timestamp()))


def test_slash_command_reaches_bolt_with_all_fields(driver, bolt_app, slack):
    answer = driver.slash("/deploy", "api main")

    assert answer.status_code == 200 and answer.text == "On it"
    command = bolt_app[1][0]
    assert {"token", "team_id", "team_domain", "channel_id", "channel_name", "user_id", "user_name",
            "command", "text", "api_app_id", "is_enterprise_install", "response_url",
            "trigger_id"} <= set(command)
    responded = slack.wait_for(lambda s: s.calls("response_url"))
    assert responded[0].params["text"] == "deploying api main"
    posted = slack.wait_for(lambda s: list(s.messages("C0DEPLOY").values()))
    assert posted[0]["text"] == "Deploying api main"


def test_block_action_payload_reaches_bolt(driver, bolt_app, slack):
    posted = WebClient(base_url=slack.url, token="xoxb-test").chat_postMessage(
        channel="C0DEPLOY", text="Approve?", blocks=[{"type": "actions", "elements": []}])
    response_url = slack.new_response_url(channel="C0DEPLOY", message_ts=posted["ts"])

    answer = driver.block_action("approve", "deploy-42", message=slack.messages()[posted["ts"]],
                                 response_url=response_url)

    assert answer.status_code == 200
    body = bolt_app[1][0]
    assert body["actions"][0] | {"action_ts": None} == {
        "action_id": "approve", "block_id": "b", "value": "deploy-42", "type": "button",
        "text": {"type": "plain_text", "text": "deploy-42", "emoji": True}, "action_ts": None}
    assert body["container"]["message_ts"] == posted["ts"] == body["message"]["ts"]
    assert body["message"]["blocks"] == [{"type": "actions", "elements": []}]
    slack.wait_for(lambda s: s.messages()[posted["ts"]]["text"] == "approved")


def test_a_click_on_an_ephemeral_message_carries_no_copy_of_it(driver, bolt_app, slack):
    answer = driver.block_action("approve", "deploy-43", ephemeral=True)
    assert answer.status_code == 200
    body = bolt_app[1][0]
    assert "message" not in body and body["container"]["is_ephemeral"] is True
    assert body["container"]["channel_id"] == body["channel"]["id"] == "C0DEPLOY"


@pytest.mark.parametrize("how", [
    {"sign": False},
    {"secret": "forged"},
    {"timestamp": SlackDriver.stale_timestamp()},
])
def test_bolt_refuses_unsigned_forged_and_stale_requests(driver, bolt_app, how):
    assert driver.slash("/deploy", "api", **how).status_code == 401
    assert driver.block_action("approve", "x", **how).status_code == 401
    assert bolt_app[1] == []


def test_get_reaches_the_app(driver):
    # The toy Bolt app has no /healthz; a 404 from it proves the GET arrived.
    assert driver.get("/healthz").status_code == 404


def test_non_ascii_text_survives_signing(driver, bolt_app):
    # The signature covers exact bytes; nothing may re-encode the body after signing.
    assert driver.slash("/deploy", "héllo wörld 🚀").status_code == 200
    assert bolt_app[1][0]["text"] == "héllo wörld 🚀"


def test_a_file_uploaded_with_slack_sdks_v2_flow_is_shared_in_the_thread(client, slack):
    root = client.chat_postMessage(channel="C0DEPLOY", text="deploying")["ts"]
    done = client.files_upload_v2(channel="C0DEPLOY", thread_ts=root, content="line one\nline two\n",
                                  filename="app.log", title="app.log", initial_comment="the logs")
    (reply,) = slack.thread(root)
    assert reply["text"] == "the logs" and reply["files"][0]["id"] == done["file"]["id"]
    assert slack.file_text(done["file"]["id"]) == "line one\nline two\n"


def test_uploading_a_file_needs_files_write(slack):
    client = WebClient(token="xoxb-narrow", base_url=slack.url)
    slack.grant("xoxb-narrow", ["chat:write"])
    with pytest.raises(SlackApiError) as raised:
        client.files_upload_v2(channel="C0DEPLOY", content="x", filename="x.log")
    assert raised.value.response["error"] == "missing_scope"


def test_a_home_tab_is_published_per_user_and_validated(client, slack):
    client.views_publish(user_id="U0ANA", view={"type": "home", "blocks": [{"type": "divider"}]})
    assert slack.home_tabs["U0ANA"]["blocks"] == [{"type": "divider"}]
    with pytest.raises(SlackApiError) as raised:
        client.views_publish(user_id="U0ANA", view={"type": "home", "blocks": [{"type": "divider"}] * 101})
    assert raised.value.response["error"] == "invalid_arguments"
    with pytest.raises(SlackApiError):
        client.views_publish(user_id="U0ANA", view={"type": "modal", "blocks": []})
