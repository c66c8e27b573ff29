"""aura-db against its peers — raw psycopg 3, SQLAlchemy 2.0 ORM, aiosql — on one server, in one
run: ``python -m benchmarks --size small``. See benchmarks/RESULTS.md for the latest numbers."""
