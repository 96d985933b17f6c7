"""Action ids of deploybot's buttons and the small models their `value` carries. Pure."""
from __future__ import annotations

import re
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deployer.errors import InvalidRequest

EXTEND = "deploybot.extend"
REDEPLOY = "deploybot.redeploy"
TEAR_DOWN = "deploybot.tear_down"
LOGS = "deploybot.logs"  # the app's last lines; its value is an EnvButton, as Extend's and Tear down's
SLEEP = "deploybot.sleep"  # stops an environment, keeping it (issue 22); its value is an EnvButton
WAKE = "deploybot.wake"  # starts a sleeping one again
KEEP_AWAKE = "deploybot.keep_awake"  # office hours' closing leaves it be, tonight
KEEP_AWAKE_FOR = "deploybot.keep_awake_for"  # a card's choice of how many nights; its options are KeepAwakeFor
KEEP = "deploybot.keep"  # calls off a tear down a webhook asked for later
RESTORE = "deploybot.restore"  # brings a gone environment back (its EnvButton names the one that went)
ENVS_PAGE = re.compile(r"^deploybot\.envs_(more|back)$")
ENVS_MORE = "deploybot.envs_more"
ENVS_BACK = "deploybot.envs_back"


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def encode(self) -> str:
        return self.model_dump_json(exclude_defaults=True)

    @classmethod
    def decode(cls, raw: str | None) -> Self:
        try:
            return cls.model_validate_json(raw or "")
        except ValidationError:
            raise InvalidRequest("That button is from an older deploybot; run `/envs` for fresh ones.") from None


class ListPage(_Value):
    """Which page of `/envs` (and whose environments) a message shows."""

    page: int = 0
    mine: bool = False


class EnvButton(_Value):
    """What an Extend / Redeploy / Logs / Tear down button is about.

    `listing` is set on `/envs` cards: those are ephemeral, so Slack sends no copy of
    the message with a click and the page is rendered again instead.
    """

    env_id: str
    listing: ListPage | None = None


class KeepAwakeFor(EnvButton):
    """An option of a card's "Keep awake…" menu: through the next `nights` closings of office hours,
    or, with `nights` 0, until the environment expires."""

    nights: int = Field(1, ge=0, le=14)
