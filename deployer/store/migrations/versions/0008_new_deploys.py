"""A /deploy is recorded before Slack's ack, as a new job with where to answer privately, and its
thread is opened afterwards by whichever deploy worker takes it.

Revision ID: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.add_column("deploys", sa.Column("respond_to", sa.Text()))
    op.add_column("deploys", sa.Column("queued_at", sa.DateTime()))
