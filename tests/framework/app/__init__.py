"""A small SQLAlchemy app, used to check that godwit's data-only copy keeps
a real framework working on PostgreSQL."""
