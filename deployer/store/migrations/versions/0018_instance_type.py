"""The instance type each environment runs (what its estimate prices), written by its deploys, the command
line's included: the latest deploy of its branch that asked for one was read before, which priced a branch's new
environment at an old one's type and missed `deploybot deploy --instance`. Live environments start from that.

Revision ID: 0018
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"


def upgrade() -> None:
    op.add_column("environments", sa.Column("instance_type", sa.String(32)))
    op.execute("UPDATE environments SET instance_type = (SELECT d.instance_type FROM deploys d "
               "WHERE d.feature = environments.feature AND d.instance_type IS NOT NULL ORDER BY d.id DESC LIMIT 1) "
               "WHERE terminated_at IS NULL")
