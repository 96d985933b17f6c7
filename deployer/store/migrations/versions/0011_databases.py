"""Each environment's own PostgreSQL database (issue 20): which database and role deploybot made for it, so
that it drops only those, and the role's password, so a redeploy gives the app the same URL.

Revision ID: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    op.create_table(
        "databases",
        sa.Column("env_name", sa.Text, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("password", sa.Text, nullable=False),
        sa.Column("template", sa.String(64)),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
