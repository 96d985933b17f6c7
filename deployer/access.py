"""DEPLOYBOT_ACCESS=basic: a user and a generated password per environment, checked by the local provider's proxy.

The password is made with the environment, kept in deploybot's store (so a redeploy keeps it) and forgotten at
its tear down; it is shown only in the environment's thread (and by `deploybot deploy`), never in a card, a
list or a log. The proxy holds only its bcrypt hash, carried by the container's labels.
"""
from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field

import bcrypt

USER = "preview"


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = field(repr=False)

    @classmethod
    def generate(cls) -> "Credentials":
        return cls(USER, secrets.token_urlsafe(18))

    def caddy_hash(self) -> str:
        """The password as Caddy 2.6's http_basic provider takes it: the base64 of its bcrypt hash."""
        hashed = bcrypt.hashpw(self.password.encode(), bcrypt.gensalt(rounds=10))  # Caddy caches checks
        return base64.b64encode(hashed).decode()
