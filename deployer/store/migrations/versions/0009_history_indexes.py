"""Indexes for the frequent queries (every dispatcher's look for unfinished deploys each second; an
environment's history) and for the retention's (DEPLOYBOT_HISTORY_DAYS) removal by age.

Revision ID: 0009
"""
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_index("ix_deploys_state", "deploys", ["state"])
    op.create_index("ix_audit_env_id", "audit", ["env_id"])
    op.create_index("ix_audit_at", "audit", ["at"])
