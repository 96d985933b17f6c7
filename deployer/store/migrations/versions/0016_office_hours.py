"""Office hours (issue 22): which of their boundaries were acted on (`marks`: one row per evening's sleep, morning's
wake and notice, so a restart or a second bot repeats none), and each environment kept awake until when.

Revision ID: 0016
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"


def upgrade() -> None:
    op.create_table(
        "marks",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False),
    )
    op.add_column("environments", sa.Column("awake_until", sa.DateTime))
