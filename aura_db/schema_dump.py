"""``sql/schema.sql``: the schema the migrations build, as pg_dump prints it, normalized so that
it is stable across runs and across server versions 16-18 and can be reviewed and diffed in CI."""

from __future__ import annotations

import difflib
import logging
import re
from pathlib import Path

from . import resources
from .errors import MigrationError
from .migration_plan import BOOKKEEPING_TABLES
from .pgtools import find_tool, server_major

__all__ = ["check_schema", "dump_schema", "normalize", "same_schema", "schema_path", "write_schema"]

logger = logging.getLogger(__name__)

# Lines that vary with the server, the pg_dump version or the session, never with the schema.
_NOISE = re.compile(
    r"^(SET |SELECT pg_catalog\.set_config\(|\\restrict|\\unrestrict|-- Dumped (from|by) |"
    r"-- Name: EXTENSION \S+; Type: COMMENT;|COMMENT ON EXTENSION |-- Started on |-- Completed on )"
)
_DUMP_OPTIONS = ["--schema-only", "--no-owner", "--no-privileges", "--no-tablespaces",
                 "--no-security-labels", "--no-publications", "--no-subscriptions"]


def schema_path() -> Path:
    """Where the reviewed schema lives: ``sql/schema.sql``."""
    return resources.sql_dir() / "schema.sql"


def normalize(text: str) -> str:
    """Drop pg_dump's version- and session-specific lines; squeeze blank lines and empty
    comment-banner remnants so the result depends on the schema only."""
    kept = [line.rstrip() for line in text.splitlines() if not _NOISE.match(line)]
    out: list[str] = []
    for line in kept:
        if line == "" and (not out or out[-1] == ""):
            continue
        if line == "--" and out and out[-1] == "--":
            continue
        out.append(line)
    text = "\n".join(out).strip() + "\n"
    return re.sub(r"\n--\n\n--\n", "\n--\n", text)


def _pending(url: str) -> int:
    from .migrations import pending_count

    return pending_count(url)


def dump_schema(url: str, *, pg_bin: Path | None = None, require_migrated: bool = True) -> str:
    """The normalized ``pg_dump --schema-only`` of the database at ``url``.

    Refuses a database with pending migrations (the dump would not be the migrated schema).
    """
    if require_migrated and (pending := _pending(url)):
        raise MigrationError(f"the database has {pending} pending migration(s): run 'aura-db migrate' first")
    tool = find_tool("pg_dump", server_major(url), pg_bin=pg_bin)
    excluded = [f"--exclude-table=public.{name}" for name in BOOKKEEPING_TABLES]
    return normalize(tool.run(url, [*_DUMP_OPTIONS, *excluded]))


def write_schema(url: str, path: Path | None = None, *, pg_bin: Path | None = None) -> Path:
    """Write the normalized schema to ``path`` (default ``sql/schema.sql``); return the path."""
    path = schema_path() if path is None else path
    path.write_text(dump_schema(url, pg_bin=pg_bin))
    logger.info("wrote %s", path)
    return path


def check_schema(url: str, path: Path | None = None, *, pg_bin: Path | None = None) -> list[str]:
    """The differences between ``path`` and the database's schema as a unified diff (empty:
    up to date)."""
    path = schema_path() if path is None else path
    current = dump_schema(url, pg_bin=pg_bin)
    recorded = path.read_text() if path.exists() else ""
    return list(difflib.unified_diff(recorded.splitlines(), current.splitlines(),
                                     str(path), "migrated database", lineterm=""))


def same_schema(url_a: str, url_b: str, *, pg_bin: Path | None = None) -> bool:
    """True when two databases dump to the same normalized schema (bookkeeping excluded)."""
    return dump_schema(url_a, pg_bin=pg_bin, require_migrated=False) == \
        dump_schema(url_b, pg_bin=pg_bin, require_migrated=False)

