"""Versioned schema migrations, as plain SQL files: ``NNNN_<name>.sql``, applied in version order.

:mod:`forcegate.stores.migrate` runs them and records each in ``schema_migrations``. The same files
are meant to run on PostgreSQL too, so they keep to SQL both dialects accept:

* ``TEXT``, ``BIGINT``, ``INTEGER`` (flags are 0/1 integers, not ``BOOLEAN``: the literals differ),
  ``DOUBLE PRECISION`` for epoch seconds (PostgreSQL's ``REAL`` is 4 bytes: 2-minute resolution);
* two spellings without a common form, rewritten per dialect by
  :func:`forcegate.stores.migrate.render`: ``INTEGER PRIMARY KEY`` (an auto-assigned key) and
  ``BLOB`` (``BYTEA`` on PostgreSQL);
* one statement per ``;``, no triggers or procedural blocks (statements are split on ``;``).

A released file never changes; a schema change is a new file.
"""
