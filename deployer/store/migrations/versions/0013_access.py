"""Each feature's user and password for DEPLOYBOT_ACCESS=basic (issue 21): made with its environment, kept
for its redeploys, forgotten when it is torn down (deployer/access.py).

Revision ID: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    op.create_table(
        "access",
        sa.Column("feature", sa.Text, primary_key=True),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("password", sa.Text, nullable=False),
    )
