"""The operator subcommands of ``aura-db``: schema, lint, backup, restore, init-db, reset-db."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .. import migrations
from ..config import Config, describe_server
from ..errors import AuraError
from ..migrations.lint import lint
from ..ops import backup as backups
from ..ops import pgtools
from ..ops import restore as restores
from ..ops import schema as schema_dump
from .common import Out, adder, database_url, owner_url, progress_arg, progress_of
from .migrations import print_status

__all__ = ["register"]


def _pg_bin(args: argparse.Namespace) -> Path | None:
    return Path(args.pg_bin) if args.pg_bin else None


def _directory(args: argparse.Namespace) -> Path | None:
    return Path(args.migrations_dir) if args.migrations_dir else None


def cmd_schema(args: argparse.Namespace, out: Out) -> int:
    _, url, _ = owner_url(args)
    path = Path(args.output) if args.output else schema_dump.schema_path()
    if args.check:
        return _checked(schema_dump.check_schema(url, path, pg_bin=_pg_bin(args)), path, "schema", out)
    schema_dump.write_schema(url, path, pg_bin=_pg_bin(args))
    out(f"wrote {path}")
    return 0


def cmd_docs(args: argparse.Namespace, out: Out) -> int:
    from ..ops import docs

    _, url, _ = owner_url(args)
    path, diff = docs.write_docs(url, Path(args.output) if args.output else None, check=args.check,
                                 directory=_directory(args))
    if args.check:
        return _checked(diff, path, "docs", out)
    out(f"wrote {path}")
    return 0


def _checked(diff: list[str], path: Path, command: str, out: Out) -> int:
    """``--check`` of a generated file: the first 40 diff lines, then the verdict."""
    for line in diff[:40]:
        out(line)
    if diff:
        raise AuraError(f"{path} is stale: regenerate it with 'aura-db {command}' and commit it")
    out(f"{path} matches the migrated {'schema' if command == 'schema' else 'catalog'}")
    return 0


def cmd_lint(args: argparse.Namespace, out: Out) -> int:
    url = database_url(args)[1] if args.url or args.url_file else None
    findings, squawked = lint(_directory(args), url=url, use_squawk=not args.no_squawk)
    for f in findings:
        out(str(f))
    bad = [f for f in findings if not f.allowed]
    note = "" if squawked else " (squawk did not run: only aura-db's own checks)"
    out(f"{len(findings)} finding(s), {len(findings) - len(bad)} justified, {len(bad)} unjustified{note}")
    return 1 if bad else 0


def _backup_dir(args: argparse.Namespace, config: Config) -> Path:
    return Path(args.dir) if args.dir else config.data_dir / "backups"


def cmd_backup(args: argparse.Namespace, out: Out) -> int:
    config, url, _ = owner_url(args)
    archive, removed = backups.backup(url, _backup_dir(args, config), keep=args.keep, pg_bin=_pg_bin(args),
                                      progress=progress_of(args))
    out(f"backed up {pgtools.dbname_of(url)} to {archive} ({archive.stat().st_size} bytes)")
    for path in removed:
        out(f"removed old backup {path}")
    return _verify(url, archive, args, out) if args.verify else 0


def _verify(url: str, archive: Path, args: argparse.Namespace, out: Out) -> int:
    checks = restores.verify_archive(url, archive, pg_bin=_pg_bin(args), progress=progress_of(args))
    for check in checks:
        out(check.line())
    bad = [c.table for c in checks if not c.ok]
    if bad:
        raise AuraError(f"the archive {str(archive)!r} differs from the database in {len(bad)} table(s): "
                        f"{', '.join(bad[:5])}")
    out(f"verified {len(checks)} table(s): row counts and checksums match")
    return 0


def cmd_restore(args: argparse.Namespace, out: Out) -> int:
    config, url, _ = owner_url(args)
    if args.archive is None:
        return _list_backups(url, _backup_dir(args, config), args, out)
    archive = Path(args.archive)
    if args.verify and not args.yes:
        return _verify(url, archive, args, out)
    report = restores.restore(url, archive, backup_dir=_backup_dir(args, config), yes=args.yes,
                             force=args.force, pg_bin=_pg_bin(args), directory=_directory(args),
                             progress=progress_of(args))
    for name in report.leftovers:
        out(f"dropped database {name}, left by a restore or verification that did not finish")
    for session in report.disconnected:
        out(f"disconnected {session.describe()} (--force)")
    for note in report.notes:
        out(f"warning: {note}")
    out(f"safety backup of the previous database: {report.safety or 'none (it did not exist)'}")
    out(f"restored {pgtools.dbname_of(url)} from {archive}")
    return 0


def _list_backups(url: str, directory: Path, args: argparse.Namespace, out: Out) -> int:
    dbname = pgtools.dbname_of(url)
    pg_restore = pgtools.find_tool("pg_restore", pgtools.server_major(url), pg_bin=_pg_bin(args))
    found = backups.list_backups(directory, dbname, pg_restore=pg_restore)
    if not found:
        out(f"no backups of {dbname} in {directory}: take one with 'aura-db backup'")
        return 1
    out(f"backups of {dbname} in {directory} (oldest first); restore one with "
        f"'aura-db restore ARCHIVE --yes':")
    for item in found:
        out(f"  {item.line()}")
    return 0


def cmd_init_db(args: argparse.Namespace, out: Out) -> int:
    _, url, where = owner_url(args)
    name = pgtools.dbname_of(url)
    if not pgtools.database_exists(url, name):
        pgtools.create_database(url, name)
        out(f"created database {name}")
    applied = migrations.migrate(url, directory=_directory(args))
    out(f"{len(applied)} migration(s) applied on {where}")
    print_status(url, _directory(args), out)
    return 0


def cmd_reset_db(args: argparse.Namespace, out: Out) -> int:
    _, url, where = owner_url(args)
    name = pgtools.dbname_of(url)
    if not args.yes:
        raise AuraError(f"reset-db drops the database {name!r} and all its data: pass --yes to confirm")
    if not pgtools.is_local(url) and not args.force:
        raise AuraError(f"{describe_server(url)} is not on this machine: pass --force as well "
                        f"to reset a remote database")
    pgtools.drop_database(url, name)
    pgtools.create_database(url, name)
    out(f"dropped and re-created database {name}")
    applied = migrations.migrate(url, directory=_directory(args))
    out(f"{len(applied)} migration(s) applied on {where}")
    return _seed(url, args, out) if args.seed else 0


def cmd_seed(args: argparse.Namespace, out: Out) -> int:
    _, url, _ = owner_url(args)
    return _seed(url, args, out)


def _seed(url: str, args: argparse.Namespace, out: Out) -> int:
    """The development dataset, written as the owner (row-level security does not apply)."""
    from ..database import Database
    from ..ops.seed import seed

    with Database(Config.from_env(url=url, workspace_id=None)) as db:
        report = seed(db, force=getattr(args, "force_seed", False))
    for line in report.lines():
        out(line)
    return 0


def _pg_bin_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pg-bin", metavar="DIR",
                   help="directory of pg_dump/pg_restore matching the server")


def register(sub: Any) -> None:
    """Add the operator subcommands to the ``aura-db`` subparsers."""
    add = adder(sub)
    p = add("schema", "write sql/schema.sql from the migrated database (pg_dump)")
    p.add_argument("--check", action="store_true", help="exit 1 when the file is stale (CI)")
    p.add_argument("--output", metavar="PATH", help="file to write or check (default sql/schema.sql)")
    _pg_bin_arg(p)
    p.set_defaults(func=cmd_schema)

    p = add("docs", "write docs/schema.md (ER diagrams, every table's columns, keys, indexes with "
                    "the queries whose plans use them, triggers, policies and comments) from the "
                    "migrated catalog")
    p.add_argument("--check", action="store_true", help="exit 1 when the file is stale (CI)")
    p.add_argument("--output", metavar="PATH", help="file to write or check (default docs/schema.md)")
    p.set_defaults(func=cmd_docs)

    p = add("lint", "squawk and yoyo-aware checks over the migrations")
    p.add_argument("--no-squawk", action="store_true", help="only aura-db's own checks")
    p.set_defaults(func=cmd_lint)

    for name, helptext in (("backup", "pg_dump -Fc into a directory, keeping the newest N"),
                           ("restore", "restore an archive in place of the database (safety backup first, "
                            "kill-safe swap); without an archive, list the backups")):
        p = add(name, helptext)
        p.add_argument("--dir", metavar="DIR", help="backup directory (default <data_dir>/backups)")
        p.add_argument("--verify", action="store_true",
                       help="restore into a scratch database and compare row counts and checksums")
        _pg_bin_arg(p)
        progress_arg(p)
        p.set_defaults(func=cmd_backup if name == "backup" else cmd_restore)
        if name == "backup":
            p.add_argument("--keep", type=int, default=7, metavar="N", help="archives to keep (default 7)")
        else:
            p.add_argument("archive", nargs="?",
                           help="the .dump file to restore (without it: list the backups)")
            p.add_argument("--yes", action="store_true", help="really replace the database")
            p.add_argument("--force", action="store_true",
                           help="disconnect sessions on the database, and restore an archive "
                                "recording migrations this tree does not have")

    p = add("init-db", "create the database if missing, then migrate")
    p.set_defaults(func=cmd_init_db)

    p = add("reset-db", "drop and re-create the database, then migrate")
    p.add_argument("--yes", action="store_true", help="really drop the database")
    p.add_argument("--force", action="store_true", help="allow a database on another host")
    p.add_argument("--seed", action="store_true", help="then load the development dataset (aura-db seed)")
    p.set_defaults(func=cmd_reset_db)

    p = add("seed", "load the deterministic development dataset (workspaces, stories in every status, "
                    "conversations, agent and tool runs, RAG chunks, a code graph) once")
    p.add_argument("--force", dest="force_seed", action="store_true",
                   help="seed although the database holds other data")
    p.set_defaults(func=cmd_seed)
