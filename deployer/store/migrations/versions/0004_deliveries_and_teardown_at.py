"""Webhooks: deliveries recorded so a redelivery does nothing twice, and tear downs that wait until a time.

Revision ID: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False, index=True),
    )
    op.add_column("environments", sa.Column("teardown_at", sa.DateTime))
