"""The named-query loader: file errors with file:line, the PostgreSQL scanner, result shapes,
tags, prepared statements and the schema check — all run against a real server."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row, tuple_row

from aura_db import (
    MultipleRows,
    NoRows,
    QueryArgumentError,
    QueryFileError,
    QueryShapeError,
    Shape,
    default_catalog,
    load_queries,
)
from aura_db.ops.check import check_queries
from aura_db.queries import QueryCatalog, parse_file


def parse(text: str, file: str = "t.sql") -> dict[str, Any]:
    return {q.name: q for q in parse_file(textwrap.dedent(text).lstrip("\n"), file)}


# -- loader errors: each names file and line ----------------------------------------------------

BAD_FILES = [
    ("SELECT 1;\n-- name: a\nSELECT 2;\n", 1, "SQL before the first '-- name:' line"),
    ("-- only a comment\n", 1, "no '-- name:' line"),
    ("-- name: a\nSELECT 1;\n\n-- name: a\nSELECT 2;\n", 4, "duplicate query name 'a' (first defined at line 1)"),
    ("-- name: a^^\nSELECT 1;\n", 1, "unknown result shape '^^' for query 'a'"),
    ("-- name: a\n-- doc only\n\n-- name: b\nSELECT 1;\n", 1, "empty body for query 'a'"),
    ("-- name: a\n  -- just a comment\n/* and another */\n", 1, "empty body for query 'a'"),
    ("-- name: get-story\nSELECT 1;\n", 1, "query name 'get-story' is not an identifier"),
    ("-- name: 1story\nSELECT 1;\n", 1, "query name '1story' is not an identifier"),
    ("-- name:\nSELECT 1;\n", 1, "'-- name:' without a query name"),
    ("-- name: a\nSELECT 1;\nSELECT 2;\n", 3, "query 'a' has more than one statement"),
    ("-- name: a#\nSELECT %(x)s;\n", 1, "script query 'a' cannot take parameters"),
    ("-- name: a<\nCOPY t (n) FROM STDIN WHERE n > %(x)s;\n", 1, "copy-in query 'a' cannot take parameters"),
    ("-- name: a<\nSELECT 1;\n", 2, "copy-in query 'a' must be one COPY ... FROM STDIN statement"),
    ("-- name: a<\nCOPY t TO STDOUT;\n", 2, "copy-in query 'a' must be one COPY ... FROM STDIN statement"),
    ("-- name: a\nSELECT 1,\n  'open;\n", 3, "unterminated string literal"),
    ("-- name: a\nSELECT\n $f$ never closed;\n", 3, "unterminated dollar-quoted string $f$"),
    ("-- name: a\nSELECT 1 /* open /* nested */\n", 2, "unterminated /* comment"),
    ('-- name: a\nSELECT "open\n', 2, "unterminated quoted identifier"),
    ("-- name: a\nSELECT 1\nWHERE x = $1\n", 3, "positional $n parameters are not allowed"),
    ("-- name: a\nSELECT %(x)d\n", 2, "malformed parameter"),
    ("-- name: a\nSELECT %(x-y)s\n", 2, "parameter name 'x-y' is not an identifier"),
]


@pytest.mark.parametrize(("text", "line", "message"), BAD_FILES)
def test_malformed_file_names_file_and_line(text: str, line: int, message: str) -> None:
    with pytest.raises(QueryFileError) as err:
        parse_file(text, "bad.sql")
    assert err.value.file == "bad.sql"
    assert err.value.line == line
    assert str(err.value).startswith(f"bad.sql:{line}: ")
    assert message in str(err.value)


def test_duplicate_name_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text("-- name: same\nSELECT 1;\n")
    (tmp_path / "b.sql").write_text("\n\n-- name: same\nSELECT 2;\n")
    with pytest.raises(QueryFileError, match=r"^b\.sql:3: duplicate query name 'same' \(first defined at a\.sql:1\)"):
        load_queries(tmp_path)


def test_record_fields_doc_params_and_tag() -> None:
    q = parse(
        """
        -- header comment
        -- name: find_story?
        -- Find a story.
        -- Second doc line.
        SELECT * FROM stories
        WHERE id = %(id)s AND (%(title)s IS NULL OR title = %(title)s);
        """,
        "stories.sql",
    )["find_story"]
    assert q.shape is Shape.OPTIONAL
    assert q.doc == "Find a story.\nSecond doc line."
    assert q.params == ("id", "title")
    assert (q.file, q.line, q.location) == ("stories.sql", 2, "stories.sql:2")
    assert q.sql == (
        "/* aura-db:find_story stories.sql:2 */ SELECT * FROM stories\n"
        "WHERE id = $1 AND ($2 IS NULL OR title = $2)"
    )


# -- the scanner: PostgreSQL text survives intact ------------------------------------------------

SCANNER = """
-- name: tricky
-- Every construct that naive placeholder rewriting gets wrong.
SELECT %(n)s::int AS cast_param,
       '2024-01-01'::date::text AS double_cast,
       'it''s %(not_a_param)s' AS quoted,
       E'tab\\there \\'%(nope)s\\'' AS escaped,
       "quoted %(ident)s" AS "col""x",
       $body$ %(dollar)s ; ' " $body$ AS dollar_quoted,
       $$plain$$ AS anon_dollar,
       (ARRAY[10, 20, 30, 40])[2:3] AS slice,
       'abc' LIKE 'a%%' AS like_double,
       'abc' LIKE 'a%' AS like_percent,
       7 % 3 AS modulo -- trailing %(in_comment)s
       /* block %(in_block)s /* nested */ still comment */
FROM (SELECT 1 AS "quoted %(ident)s") AS t;
"""


def test_scanner_keeps_postgres_text_and_finds_only_real_params(conn: psycopg.Connection[Any]) -> None:
    q = parse(SCANNER)["tricky"]
    assert q.params == ("n",)
    row = q.many(conn, dict_row, n="41")[0]
    assert row == {
        "cast_param": 41,
        "double_cast": "2024-01-01",
        "quoted": "it's %(not_a_param)s",
        "escaped": "tab\there '%(nope)s'",
        'col"x': 1,
        "dollar_quoted": " %(dollar)s ; ' \" ",
        "anon_dollar": "plain",
        "slice": [20, 30],
        "like_double": True,
        "like_percent": True,
        "modulo": 1,
    }


def test_same_parameter_twice_binds_once(conn: psycopg.Connection[Any]) -> None:
    q = parse("-- name: twice$\nSELECT %(x)s::int + %(x)s::int;\n")["twice"]
    assert q.params == ("x",)
    assert q.scalar(conn, x=20) == 40


# -- result shapes ----------------------------------------------------------------------------

SHAPES = """
-- name: rows
SELECT g AS n FROM generate_series(1, %(count)s::int) g ORDER BY g;

-- name: exactly_one^
SELECT g AS n FROM generate_series(1, %(count)s::int) g;

-- name: maybe_one?
SELECT g AS n FROM generate_series(1, %(count)s::int) g;

-- name: the_count$
SELECT count(*) FROM generate_series(1, %(count)s::int);

-- name: make_table#
CREATE TEMP TABLE t (n int PRIMARY KEY, note text);
INSERT INTO t VALUES (1, 'one'), (2, 'two');

-- name: add_row*!
INSERT INTO t (n, note) VALUES (%(n)s, %(note)s);

-- name: touch!
UPDATE t SET note = note || '!' WHERE n >= %(min)s;
"""


@pytest.fixture
def shapes() -> dict[str, Any]:
    return parse(SHAPES, "shapes.sql")


def test_many_returns_every_row_as_a_list(conn: psycopg.Connection[Any], shapes: dict[str, Any]) -> None:
    assert shapes["rows"].many(conn, dict_row, count=3) == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert shapes["rows"].many(conn, dict_row, count=0) == []


def test_one_requires_exactly_one_row(conn: psycopg.Connection[Any], shapes: dict[str, Any]) -> None:
    q = shapes["exactly_one"]
    assert q.one(conn, dict_row, count=1) == {"n": 1}
    with pytest.raises(NoRows, match=r"query 'exactly_one' \(shapes\.sql:4\) returned no row for count=0"):
        q.one(conn, dict_row, count=0)
    with pytest.raises(MultipleRows, match=r"query 'exactly_one' \(shapes\.sql:4\) returned more than one row"):
        q.one(conn, dict_row, count=2)


def test_a_connection_keeps_a_bounded_number_of_spare_cursors(conn: psycopg.Connection[Any],
                                                               shapes: dict[str, Any]) -> None:
    """One spare cursor per row factory, for the next call with it; a caller making a factory
    per call must not pile them up on the connection."""
    from aura_db._query_run_sync import SPARES

    q = shapes["exactly_one"]
    for _ in range(3):
        assert q.one(conn, dict_row, count=1) == {"n": 1}
    assert list(vars(conn)[SPARES]) == [dict_row]  # reused, not one per call
    for i in range(100):
        assert q.one(conn, lambda cur: lambda values: values, count=1) == (1,), i
    assert len(vars(conn)[SPARES]) == 64


def test_optional_returns_row_or_none(conn: psycopg.Connection[Any], shapes: dict[str, Any]) -> None:
    q = shapes["maybe_one"]
    assert q.optional(conn, dict_row, count=0) is None
    assert q.optional(conn, dict_row, count=1) == {"n": 1}
    with pytest.raises(MultipleRows):
        q.optional(conn, dict_row, count=5)


def test_scalar_affected_script_and_execute_many(conn: psycopg.Connection[Any], shapes: dict[str, Any]) -> None:
    assert shapes["the_count"].scalar(conn, count=7) == 7
    assert shapes["make_table"].script(conn) == 2  # the rows its last statement (INSERT) wrote
    assert shapes["add_row"].execute_many(conn, [{"n": i, "note": f"n{i}"} for i in range(3, 8)]) == 5
    assert shapes["add_row"].execute_many(conn, []) == 0
    assert shapes["touch"].affected(conn, min=6) == 2
    rows = conn.execute("SELECT n, note FROM t ORDER BY n").fetchall()
    assert rows == [(1, "one"), (2, "two"), (3, "n3"), (4, "n4"), (5, "n5"), (6, "n6!"), (7, "n7!")]


def test_copy_in_streams_typed_rows_in_one_copy(conn: psycopg.Connection[Any]) -> None:
    q = parse("-- name: load<\nCOPY pg_temp.c (n, note) FROM STDIN (FORMAT BINARY);\n")["load"]
    assert q.shape is Shape.COPY_IN
    conn.execute("CREATE TEMP TABLE c (n int4, note text)")
    assert q.copy_in(conn, ["int4", "text"], iter([(1, "a"), (2, None), (3, "c;'\\")])) == 3
    assert q.copy_in(conn, ["int4", "text"], []) == 0
    assert conn.execute("SELECT n, note FROM c ORDER BY n").fetchall() == [(1, "a"), (2, None), (3, "c;'\\")]
    with pytest.raises(QueryShapeError, match=r"takes copy_in\(conn, types, rows\)"):
        q(conn)
    with pytest.raises(QueryShapeError, match="not '<'"):
        parse("-- name: n\nSELECT 1;\n")["n"].copy_in(conn, ["int4"], [(1,)])


def test_call_dispatches_on_declared_shape(conn: psycopg.Connection[Any], shapes: dict[str, Any]) -> None:
    assert shapes["the_count"](conn, count=4) == 4
    assert shapes["exactly_one"](conn, dict_row, count=1) == {"n": 1}
    assert shapes["maybe_one"](conn, count=0) is None
    with pytest.raises(QueryShapeError, match="takes execute_many"):
        shapes["add_row"](conn)


def test_wrong_result_method_is_refused(conn: psycopg.Connection[Any], shapes: dict[str, Any]) -> None:
    with pytest.raises(QueryShapeError, match=r"query 'rows' \(shapes\.sql:1\) is declared with shape '\(none\)' \(many\), not '\^'"):
        shapes["rows"].one(conn, dict_row, count=1)


def test_arguments_are_checked_before_the_round_trip(conn: psycopg.Connection[Any], shapes: dict[str, Any]) -> None:
    with pytest.raises(QueryArgumentError, match=r"query 'rows' \(shapes\.sql:1\) called with missing count; unexpected cnt"):
        shapes["rows"].many(conn, dict_row, cnt=1)
    with pytest.raises(QueryArgumentError, match="missing note"):
        shapes["add_row"].execute_many(conn, [{"n": 1, "note": "x"}, {"n": 2}])


def test_values_are_bound_never_interpolated(conn: psycopg.Connection[Any]) -> None:
    q = parse("-- name: echo$\nSELECT %(v)s::text;\n")["echo"]
    hostile = "'; DROP TABLE workspaces; --"
    assert q.scalar(conn, v=hostile) == hostile
    assert conn.execute("SELECT to_regclass('workspaces') IS NOT NULL").fetchone() == (True,)


# -- what the server sees: tags and prepared statements ------------------------------------------


def test_statement_carries_its_tag_and_gets_prepared(db_url: str) -> None:
    q = parse("-- name: whoami$\nSELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid();\n",
              "meta.sql")["whoami"]
    with psycopg.connect(db_url, autocommit=True) as c:
        seen = [q.scalar(c) for _ in range(7)]
        prepared = c.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '/* aura-db:whoami %'"
        ).fetchone()
    assert all(s.startswith("/* aura-db:whoami meta.sql:1 */ SELECT query") for s in seen)
    assert prepared == (1,)



def test_many_planned_is_never_prepared_and_returns_what_many_does(db_url: str) -> None:
    """many_planned: the server plans the statement for its arguments on every run (no
    prepared statement, so no generic plan), rows as many's, typed rows included."""
    q = parse("-- name: upto\nSELECT n FROM generate_series(1, %(count)s::int) AS n;\n", "meta.sql")["upto"]
    with psycopg.connect(db_url, autocommit=True) as c:
        for count in range(8):
            assert q.many_planned(c, dict_row, count=count) == q.many(c, dict_row, count=count)
        prepared = c.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()
        assert prepared == (1,)  # many's, after five runs; many_planned's none
        for _ in range(8):
            assert q.many_planned(c, tuple_row, count=3) == [(1,), (2,), (3,)]
        assert c.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() == (1,)
        with pytest.raises(QueryShapeError):
            parse("-- name: one^\nSELECT 1;\n", "meta.sql")["one"].many_planned(c, tuple_row)

# -- the shipped catalog and the schema check ----------------------------------------------------


def test_shipped_catalog_loads_once_and_passes_check(conn: psycopg.Connection[Any]) -> None:
    catalog = default_catalog()
    assert catalog is default_catalog()
    assert len(catalog) > 0
    assert check_queries(conn, catalog) == []


def test_check_maps_server_errors_to_file_and_line(conn: psycopg.Connection[Any]) -> None:
    text = textwrap.dedent(
        """\
        -- name: fine
        SELECT id FROM workspaces WHERE id = %(id)s;

        -- name: bad_column
        -- Doc line.
        SELECT id,
               name,
               nosuchcol
        FROM workspaces
        WHERE path = %(path)s;

        -- name: bad_table?
        SELECT * FROM no_such_table;

        -- name: no_rows^
        UPDATE workspaces SET name = name WHERE id = %(id)s;

        -- name: wide_scalar$
        SELECT id, name FROM workspaces;
        """
    )
    problems = check_queries(conn, QueryCatalog(parse_file(text, "bad.sql")))
    assert [str(p) for p in problems] == [
        'bad.sql:8: bad_column: column "nosuchcol" does not exist [42703]',
        'bad.sql:13: bad_table: relation "no_such_table" does not exist [42P01]',
        "bad.sql:15: no_rows: declared shape '^' returns rows, but the statement returns none "
        "(add RETURNING, or use '!')",
        "bad.sql:18: wide_scalar: a scalar query must return one column, this one returns 2",
    ]


def test_check_reports_hint(conn: psycopg.Connection[Any]) -> None:
    text = "-- name: typo\nSELECT nam FROM workspaces;\n"
    (problem,) = check_queries(conn, QueryCatalog(parse_file(text, "h.sql")))
    assert problem.line == 2
    assert 'column "nam" does not exist' in problem.message
    assert 'hint: Perhaps you meant to reference the column "workspaces.name"' in problem.message
