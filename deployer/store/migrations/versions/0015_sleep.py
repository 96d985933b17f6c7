"""An environment put to sleep (issue 22): since when, by whom, and what its provider needs to wake it (a
Beanstalk environment's Auto Scaling sizes), kept with the environment's row so a restart loses nothing.

Revision ID: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    op.add_column("environments", sa.Column("asleep_since", sa.DateTime))
    op.add_column("environments", sa.Column("asleep_by", sa.String(128)))
    op.add_column("environments", sa.Column("asleep_kept", sa.Text))
