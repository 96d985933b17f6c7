"""An index for a branch's unfinished deploys: each accepted /deploy asks whose turn it is.

Revision ID: 0007
"""
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_index("ix_deploys_feature_state", "deploys", ["feature", "state"])
