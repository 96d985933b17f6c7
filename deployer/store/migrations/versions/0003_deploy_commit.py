"""The commit a deploy job deploys, recorded once resolved: its image must not be swept while it runs.

Revision ID: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.add_column("deploys", sa.Column("commit_sha", sa.String(40)))
