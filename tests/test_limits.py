"""One place per fact: the varchar lengths Python checks are the ones the migrations declare."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from aura_db.errors import InvalidValue
from aura_db.repositories.checks import check_text
from aura_db.repositories.limits import VARCHAR_LIMITS, column_limit


def _catalog_limits(conn: psycopg.Connection[Any]) -> dict[str, dict[str, int]]:
    rows = conn.execute(
        "SELECT c.table_name, c.column_name, c.character_maximum_length "
        "FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name) "
        "WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' "
        "AND c.data_type = 'character varying' AND c.table_name NOT LIKE '%yoyo%' "
        "ORDER BY c.table_name, c.ordinal_position").fetchall()
    found: dict[str, dict[str, int]] = {}
    for table, column, length in rows:
        found.setdefault(table, {})[column] = length
    return found


def test_limits_equal_the_migrated_catalog(conn: psycopg.Connection[Any]) -> None:
    assert _catalog_limits(conn) == VARCHAR_LIMITS


@pytest.mark.parametrize(("table", "column", "limit"),
                         [(t, c, n) for t, cols in VARCHAR_LIMITS.items() for c, n in cols.items()])
def test_check_text_enforces_each_column_limit(table: str, column: str, limit: int) -> None:
    assert check_text(table, column, "x" * limit) == "x" * limit
    with pytest.raises(InvalidValue, match=rf"^{table}\.{column}: {limit + 1} characters is longer than "
                                           rf"the limit of {limit} "):
        check_text(table, column, "x" * (limit + 1))


def test_column_limit_reads_the_column_out_of_a_batch_field_name() -> None:
    assert column_limit("rag_chunks", "title: chunk 3 of 'doc'") == 500
    assert column_limit("code_nodes", "name[7]") == 500
    assert column_limit("rag_chunks", "content") is None  # text: no limit
    assert column_limit("no_such_table", "title") is None
    # a value that is not a column keeps its explicit limit
    with pytest.raises(InvalidValue, match="longer than the limit of 3"):
        check_text("rag_chunks", "maintenance_work_mem", "1GB!", max_len=3)
