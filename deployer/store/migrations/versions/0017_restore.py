"""Restore after tear down (issue 22): each environment's last deployed commit and, once it is gone, the values set
from Slack it ran with (`kept_settings`, put aside when the branch's are forgotten); a deploy that restores one says
which (`deploys.restore_of`).

Revision ID: 0017
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"


def upgrade() -> None:
    op.add_column("environments", sa.Column("commit_sha", sa.String(40)))
    op.add_column("environments", sa.Column("kept_settings", sa.Text))
    op.add_column("deploys", sa.Column("restore_of", sa.String(64)))
