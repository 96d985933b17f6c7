"""Per-environment overrides from Slack (issue 20, `/deploy X --set KEY=VALUE --unset KEY`): what a deploy job
was asked to change (so a restart loses nothing), each feature's overrides once a deploy carrying them
succeeded (every later deploy of the feature gets them, a push's too), and the names of the secrets an
environment's last deploy gave it (its card lists them; their values are never stored).

Revision ID: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    op.add_column("deploys", sa.Column("overrides", sa.Text()))
    op.add_column("environments", sa.Column("secret_names", sa.Text()))
    op.create_table(
        "overrides",
        sa.Column("feature", sa.Text, primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
