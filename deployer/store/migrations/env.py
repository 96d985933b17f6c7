"""Alembic's entry point for deploybot's store: run by `deployer.store.schema.migrate` on its own connection."""
from alembic import context

context.configure(connection=context.config.attributes["connection"], target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
