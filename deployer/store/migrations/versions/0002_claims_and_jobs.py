"""One writer per environment: claims, and deploys recorded as jobs from the moment they are accepted.

Revision ID: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "claims",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("job_id", sa.Integer),
        sa.Column("since", sa.DateTime, nullable=False),
        sa.Column("until", sa.DateTime, nullable=False),
    )
    op.add_column("deploys", sa.Column("state", sa.String(16)))
    op.add_column("deploys", sa.Column("holder", sa.String(128)))
    op.add_column("deploys", sa.Column("ttl_seconds", sa.Integer))
    op.add_column("deploys", sa.Column("instance_type", sa.String(64)))
    op.add_column("deploys", sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
    # A deploy the old release left unfinished has no holder: the new one reports it (it
    # can't resume it, the request's lifetime and instance type were not recorded).
    op.execute("UPDATE deploys SET state = CASE WHEN finished_at IS NULL THEN 'running' ELSE 'done' END")
