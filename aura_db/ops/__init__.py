"""Operator tools on top of the migration layer: PostgreSQL client programs (:mod:`.pgtools`),
backup and restore (:mod:`.backup`), the ``sql/schema.sql`` dump (:mod:`.schema`) and the check
of every named query against a live database (:mod:`.check`)."""
