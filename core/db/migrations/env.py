"""Alembic environment: runs on the connection core.db.session hands it."""

from __future__ import annotations

from alembic import context

from core.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only via core.db.session.migrate
    raise RuntimeError("run migrations through core.db.session.migrate()")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
