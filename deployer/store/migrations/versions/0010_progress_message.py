"""A queued deploy's progress message: posted when it is queued (saying what it waits for), edited
by whichever worker runs it, so a deploy that waited still has one progress reply, not two.

Revision ID: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.add_column("deploys", sa.Column("progress_ts", sa.String(32)))
