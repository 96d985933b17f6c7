"""What may be shown of an app's log: redaction, the last lines, the size cap (pure)."""
from pydantic import SecretStr

from deployer.app_logs import REDACTED, AppLogs, capped, last_lines, redact, secret_values
from deployer.settings import Settings


def test_every_occurrence_of_every_secret_is_redacted_longest_first():
    text = "token xoxb-1-abc and xoxb-1-abcdef; again xoxb-1-abc"
    assert redact(text, ["xoxb-1-abc", "xoxb-1-abcdef"]) == f"token {REDACTED} and {REDACTED}; again {REDACTED}"


def test_short_values_are_not_secrets_worth_redacting_ordinary_words_for():
    assert redact("port 8080 is true", ["8080", "true", ""]) == "port 8080 is true"


def test_last_lines_drop_blank_lines_and_carriage_returns():
    assert last_lines("one\r\n\ntwo  \nthree\n", 2) == ("two", "three")
    assert last_lines("one\n", 0) == ()


def test_the_cap_keeps_the_newest_whole_lines_and_counts_what_it_cut():
    text = "\n".join(f"line {i}" for i in range(100))
    kept, cut = capped(text, 30)
    assert len(kept) <= 30 and kept.endswith("line 99") and kept.startswith("line ")
    assert cut == 100 - kept.count("\n") - 1
    assert capped("short", 30) == ("short", 0)


def test_the_bots_secrets_are_its_secret_settings_url_passwords_and_cloud_credentials(tmp_path):
    settings = Settings(git_url="https://github.com/acme/shop.git", state="postgresql://bot:s3cret-pass@db/deploybot",
                        github_webhook_secret=SecretStr("hook-secret-1"), _env_file=None,
                        database_url=SecretStr("postgresql://admin:adm1n-pass@db:5432/postgres"))
    found = secret_values(settings, environ={"AWS_SECRET_ACCESS_KEY": "aws-secret-9", "HOME": "/root"})
    assert {"s3cret-pass", "hook-secret-1", "aws-secret-9", "adm1n-pass"} <= found
    assert "/root" not in found and "deploybot" not in found


def test_redacted_logs_keep_their_source():
    logs = AppLogs(("key=hook-secret-1",), "the container c")
    assert logs.redacted({"hook-secret-1"}) == AppLogs((f"key={REDACTED}",), "the container c")
