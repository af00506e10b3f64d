"""Persistence: SQLAlchemy models (``db.models``), sessions (``db.session``), Alembic migrations."""
