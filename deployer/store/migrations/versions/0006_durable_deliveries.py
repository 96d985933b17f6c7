"""Webhook deliveries kept until carried out: a process that dies between its 202 and the work
leaves the delivery (its event header and body) for another process to carry out.

Revision ID: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("host", sa.String(16)))
    op.add_column("deliveries", sa.Column("header", sa.String(64)))
    op.add_column("deliveries", sa.Column("body", sa.LargeBinary))
    op.add_column("deliveries", sa.Column("taken_at", sa.DateTime))
    op.add_column("deliveries", sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
    op.add_column("deliveries", sa.Column("done_at", sa.DateTime))
    # What the release before recorded was handed to its worker then: nothing is left to carry out.
    op.execute("UPDATE deliveries SET done_at = received_at, taken_at = received_at")
