"""Shared ground for database access, below every app: the current engine,
transactions (`atomic`, `reading`), integrity errors, and plain SQL for the
hot paths (`rawsql`) written once for SQLite and PostgreSQL."""
