"""Slack's standard variables (no DEPLOYBOT_ prefix: they keep their standard names)."""
from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from deployer.errors import ConfigError
from deployer.settings import WHERE_SETTINGS_GO, Settings, load_settings


class SlackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True, env_parse_none_str="")

    bot_token: SecretStr = Field(validation_alias=AliasChoices("SLACK_BOT_TOKEN"), description="Bot token, xoxb-…")
    signing_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET"), description="Verifies HTTP requests from Slack."
    )
    app_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SLACK_APP_TOKEN"), description="App-level token (xapp-…): Socket Mode."
    )
    api_url: str = Field(
        "https://slack.com/api/", validation_alias=AliasChoices("SLACK_API_URL"), description="Slack Web API base URL."
    )
    port: int = Field(
        3000, validation_alias=AliasChoices("PORT"),
        description="The port `deploybot serve` listens on, on every interface (0.0.0.0), in both modes: "
        "`GET /healthz`, `GET /metrics` and the webhooks (`POST /hooks/github`, `POST /hooks/gitlab`); "
        "over HTTP also Slack's requests (`POST /slack/events`)."
    )

    @property
    def socket_mode(self) -> bool:
        return self.app_token is not None


def load_slack_settings() -> SlackSettings:
    try:
        settings = SlackSettings()
    except ValidationError as exc:
        names = ", ".join(str(e["loc"][0]) for e in exc.errors())
        raise ConfigError(f"Slack settings are missing or wrong: {names} {WHERE_SETTINGS_GO}",
                          details=[f"{e['loc'][0]}: {e['msg']}" for e in exc.errors()]) from None
    # A token pasted into the wrong variable is the usual first mistake; Slack's prefixes tell.
    if not settings.bot_token.get_secret_value().startswith("xoxb-"):
        raise ConfigError("SLACK_BOT_TOKEN must be the app's bot token, which starts with xoxb-.")
    if settings.app_token is not None and not settings.app_token.get_secret_value().startswith("xapp-"):
        raise ConfigError("SLACK_APP_TOKEN must be an app-level token, which starts with xapp- (or leave it unset "
                          "to serve HTTP).")
    if not settings.socket_mode and settings.signing_secret is None:
        raise ConfigError("SLACK_SIGNING_SECRET is required to serve HTTP (or set SLACK_APP_TOKEN for Socket Mode).")
    return settings


def load_serve_settings() -> tuple[Settings, SlackSettings]:
    """Both kinds of settings, with every problem of either named at once (not one per try)."""
    loaded, problems = [], []
    for load in (load_settings, load_slack_settings):
        try:
            loaded.append(load())
        except ConfigError as error:
            problems += error.details or [error.message]
    if problems:
        raise ConfigError(f"Settings are missing or wrong {WHERE_SETTINGS_GO}", details=problems)
    return loaded[0], loaded[1]
