"""Whether a deploy job was asked for a new password (issue 21, `/deploy X --new-password` with
DEPLOYBOT_ACCESS=basic), so a restart loses nothing of what was asked.

Revision ID: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    op.add_column("deploys", sa.Column("new_password", sa.Boolean, nullable=False, server_default=sa.false()))
