"""Whether a deploy job's instance type was asked for (--instance) or is the operator's default:
a deploy that names the default by hand takes a resized environment back to it.

Revision ID: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.add_column("deploys", sa.Column("instance_asked", sa.Boolean, nullable=False, server_default=sa.false()))
